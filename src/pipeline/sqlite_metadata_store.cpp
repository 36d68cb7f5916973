// SQLite implementation of the metadata store (WAL mode, so a reader never blocks the runner and
// several executor processes on one host can publish).
#include <sqlite3.h>

#include <chrono>
#include <functional>
#include <set>

#include "core/error.h"
#include "pipeline/metadata_store.h"

namespace litepipe {
namespace {

using nlohmann::json;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      fail("metadata store: cannot prepare '{}': {}", sql, sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, int64_t v) { check(sqlite3_bind_int64(stmt_, i, v)); return *this; }
  Statement& bind(int i, double v) { check(sqlite3_bind_double(stmt_, i, v)); return *this; }
  Statement& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("metadata store: {}", sqlite3_errmsg(db_));
  }
  int64_t int64(int col) { return sqlite3_column_int64(stmt_, col); }
  double real(int col) { return sqlite3_column_double(stmt_, col); }
  std::string text(int col) {
    auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail("metadata store: bind failed: {}", sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS context (
  id INTEGER PRIMARY KEY, type TEXT NOT NULL, name TEXT NOT NULL, create_time REAL NOT NULL,
  UNIQUE(type, name));
CREATE TABLE IF NOT EXISTS artifact (
  id INTEGER PRIMARY KEY, type TEXT NOT NULL, uri TEXT NOT NULL, properties TEXT NOT NULL,
  state TEXT NOT NULL, create_time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS execution (
  id INTEGER PRIMARY KEY, component_id TEXT NOT NULL, component_type TEXT NOT NULL, state TEXT NOT NULL,
  cache_key TEXT NOT NULL, exec_properties TEXT NOT NULL, error TEXT NOT NULL DEFAULT '',
  start_time REAL NOT NULL, end_time REAL NOT NULL DEFAULT 0, host TEXT NOT NULL, pid INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS execution_cache ON execution(component_id, cache_key, state);
CREATE TABLE IF NOT EXISTS event (
  execution_id INTEGER NOT NULL REFERENCES execution(id), artifact_id INTEGER NOT NULL REFERENCES artifact(id),
  type TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS event_artifact ON event(artifact_id);
CREATE INDEX IF NOT EXISTS event_execution ON event(execution_id);
CREATE TABLE IF NOT EXISTS association (context_id INTEGER NOT NULL, execution_id INTEGER NOT NULL,
  UNIQUE(context_id, execution_id));
CREATE TABLE IF NOT EXISTS attribution (context_id INTEGER NOT NULL, artifact_id INTEGER NOT NULL,
  UNIQUE(context_id, artifact_id));
)sql";

constexpr const char* kExecutionColumns =
    "id, component_id, component_type, state, cache_key, exec_properties, error, start_time, end_time, host, pid";

class SqliteMetadataStore final : public MetadataStore {
 public:
  explicit SqliteMetadataStore(const std::filesystem::path& path) : path_(path.string()) {
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    if (sqlite3_open(path_.c_str(), &db_) != SQLITE_OK) {
      std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      fail("{}: cannot open metadata store: {}", path_, why);
    }
    sqlite3_busy_timeout(db_, 30000);
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
    exec(kSchema);
  }
  ~SqliteMetadataStore() override { sqlite3_close(db_); }

  int64_t put_context(const std::string& type, const std::string& name) override {
    Statement(db_, "INSERT OR IGNORE INTO context(type, name, create_time) VALUES (?, ?, ?)")
        .bind(1, type).bind(2, name).bind(3, now_seconds()).step();
    Statement q(db_, "SELECT id FROM context WHERE type = ? AND name = ?");
    q.bind(1, type).bind(2, name);
    q.step();
    return q.int64(0);
  }

  int64_t start_execution(ExecutionRecord& e, const std::vector<int64_t>& contexts, const ArtifactMap& inputs) override {
    Transaction tx(*this);
    e.state = execution_state::kRunning;
    e.start_time = now_seconds();
    Statement(db_, "INSERT INTO execution(component_id, component_type, state, cache_key, exec_properties, start_time, host, pid)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, e.component_id).bind(2, e.component_type).bind(3, e.state).bind(4, e.cache_key)
        .bind(5, e.exec_properties.dump()).bind(6, e.start_time).bind(7, e.host).bind(8, e.pid).step();
    e.id = sqlite3_last_insert_rowid(db_);
    for (int64_t c : contexts) associate(c, e.id);
    for (const auto& [key, list] : inputs) {
      for (size_t i = 0; i < list.size(); ++i) add_event(e.id, list[i].id, "INPUT", key, static_cast<int>(i));
    }
    tx.commit();
    return e.id;
  }

  void publish_execution(int64_t execution_id, ArtifactMap& outputs, const std::vector<int64_t>& contexts,
                         const std::string& state) override {
    Transaction tx(*this);
    for (auto& [key, list] : outputs) {
      for (size_t i = 0; i < list.size(); ++i) {
        Artifact& a = list[i];
        if (a.id == 0) {
          Statement(db_, "INSERT INTO artifact(type, uri, properties, state, create_time) VALUES (?, ?, ?, 'LIVE', ?)")
              .bind(1, a.type).bind(2, a.uri).bind(3, a.properties.dump()).bind(4, now_seconds()).step();
          a.id = sqlite3_last_insert_rowid(db_);
        }
        add_event(execution_id, a.id, "OUTPUT", key, static_cast<int>(i));
        for (int64_t c : contexts) {
          Statement(db_, "INSERT OR IGNORE INTO attribution(context_id, artifact_id) VALUES (?, ?)").bind(1, c).bind(2, a.id).step();
        }
      }
    }
    Statement(db_, "UPDATE execution SET state = ?, end_time = ? WHERE id = ?")
        .bind(1, state).bind(2, now_seconds()).bind(3, execution_id).step();
    tx.commit();
  }

  bool fail_execution(int64_t execution_id, const std::string& state, const std::string& error) override {
    Statement(db_, "UPDATE execution SET state = ?, error = ?, end_time = ? WHERE id = ? AND state = 'RUNNING'")
        .bind(1, state).bind(2, error).bind(3, now_seconds()).bind(4, execution_id).step();
    return sqlite3_changes(db_) == 1;
  }

  std::optional<ArtifactMap> cached_outputs(const std::string& component_id, const std::string& cache_key) override {
    Statement q(db_, "SELECT id FROM execution WHERE component_id = ? AND cache_key = ? AND state = 'COMPLETE'"
                     " ORDER BY id DESC LIMIT 1");
    q.bind(1, component_id).bind(2, cache_key);
    if (!q.step()) return std::nullopt;
    int64_t id = q.int64(0);
    ArtifactMap outputs;
    for (const auto& ev : events_by_execution(id)) {
      if (ev.type != "OUTPUT") continue;
      auto& list = outputs[ev.key];
      if (list.size() <= static_cast<size_t>(ev.index)) list.resize(static_cast<size_t>(ev.index) + 1);
      list[static_cast<size_t>(ev.index)] = *artifact(ev.artifact_id);
    }
    return outputs;
  }

  std::vector<ExecutionRecord> running_executions(const std::string& host) override {
    Statement q(db_, (std::string("SELECT ") + kExecutionColumns + " FROM execution WHERE state = 'RUNNING' AND host = ?").c_str());
    q.bind(1, host);
    std::vector<ExecutionRecord> result;
    while (q.step()) result.push_back(read_execution(q));
    return result;
  }

  std::vector<ContextRecord> contexts(const std::string& type) override {
    Statement q(db_, "SELECT id, type, name, create_time FROM context WHERE type = ? ORDER BY id");
    q.bind(1, type);
    std::vector<ContextRecord> result;
    while (q.step()) result.push_back({q.int64(0), q.text(1), q.text(2), q.real(3)});
    return result;
  }

  std::vector<ExecutionRecord> executions(std::optional<int64_t> context_id) override {
    std::string sql = std::string("SELECT ") + kExecutionColumns + " FROM execution";
    if (context_id) sql += " WHERE id IN (SELECT execution_id FROM association WHERE context_id = ?)";
    sql += " ORDER BY id";
    Statement q(db_, sql.c_str());
    if (context_id) q.bind(1, *context_id);
    std::vector<ExecutionRecord> result;
    while (q.step()) result.push_back(read_execution(q));
    return result;
  }

  std::optional<ExecutionRecord> execution(int64_t id) override {
    Statement q(db_, (std::string("SELECT ") + kExecutionColumns + " FROM execution WHERE id = ?").c_str());
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    return read_execution(q);
  }

  std::vector<Artifact> artifacts(const std::string& type) override {
    std::string sql = "SELECT id, type, uri, properties FROM artifact";
    if (!type.empty()) sql += " WHERE type = ?";
    sql += " ORDER BY id";
    Statement q(db_, sql.c_str());
    if (!type.empty()) q.bind(1, type);
    std::vector<Artifact> result;
    while (q.step()) result.push_back(read_artifact(q));
    return result;
  }

  std::optional<Artifact> artifact(int64_t id) override {
    Statement q(db_, "SELECT id, type, uri, properties FROM artifact WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    return read_artifact(q);
  }

  std::vector<EventRecord> events_by_artifact(int64_t artifact_id) override {
    return read_events("SELECT execution_id, artifact_id, type, key, idx FROM event WHERE artifact_id = ? ORDER BY rowid", artifact_id);
  }
  std::vector<EventRecord> events_by_execution(int64_t execution_id) override {
    return read_events("SELECT execution_id, artifact_id, type, key, idx FROM event WHERE execution_id = ? ORDER BY rowid", execution_id);
  }

 private:
  class Transaction {
   public:
    explicit Transaction(SqliteMetadataStore& s) : s_(s) { s_.exec("BEGIN IMMEDIATE"); }
    ~Transaction() {
      if (!done_) sqlite3_exec(s_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
      s_.exec("COMMIT");
      done_ = true;
    }

   private:
    SqliteMetadataStore& s_;
    bool done_ = false;
  };

  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string why = err ? err : "unknown error";
      sqlite3_free(err);
      fail("{}: metadata store error: {}", path_, why);
    }
  }

  void associate(int64_t context_id, int64_t execution_id) {
    Statement(db_, "INSERT OR IGNORE INTO association(context_id, execution_id) VALUES (?, ?)")
        .bind(1, context_id).bind(2, execution_id).step();
  }

  void add_event(int64_t execution_id, int64_t artifact_id, const char* type, const std::string& key, int index) {
    Statement(db_, "INSERT INTO event(execution_id, artifact_id, type, key, idx) VALUES (?, ?, ?, ?, ?)")
        .bind(1, execution_id).bind(2, artifact_id).bind(3, std::string(type)).bind(4, key)
        .bind(5, static_cast<int64_t>(index)).step();
  }

  ExecutionRecord read_execution(Statement& q) {
    ExecutionRecord e;
    e.id = q.int64(0);
    e.component_id = q.text(1);
    e.component_type = q.text(2);
    e.state = q.text(3);
    e.cache_key = q.text(4);
    e.exec_properties = json::parse(q.text(5));
    e.error = q.text(6);
    e.start_time = q.real(7);
    e.end_time = q.real(8);
    e.host = q.text(9);
    e.pid = q.int64(10);
    return e;
  }

  Artifact read_artifact(Statement& q) {
    Artifact a;
    a.id = q.int64(0);
    a.type = q.text(1);
    a.uri = q.text(2);
    a.properties = json::parse(q.text(3));
    return a;
  }

  std::vector<EventRecord> read_events(const char* sql, int64_t id) {
    Statement q(db_, sql);
    q.bind(1, id);
    std::vector<EventRecord> result;
    while (q.step()) result.push_back({q.int64(0), q.int64(1), q.text(2), q.text(3), static_cast<int>(q.int64(4))});
    return result;
  }

  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace

std::unique_ptr<MetadataStore> open_sqlite_metadata_store(const std::filesystem::path& path) {
  return std::make_unique<SqliteMetadataStore>(path);
}

std::vector<LineageStep> trace_lineage(MetadataStore& store, int64_t artifact_id) {
  std::vector<LineageStep> steps;
  std::set<int64_t> seen;
  std::function<void(int64_t, int)> visit = [&](int64_t id, int depth) {
    if (!seen.insert(id).second) return;
    auto a = store.artifact(id);
    if (!a) fail("lineage: no artifact with id {}", id);
    LineageStep step{*a, std::nullopt, depth};
    // The producer is the first execution that wrote it (later cache hits only re-link it).
    for (const auto& ev : store.events_by_artifact(id)) {
      if (ev.type == "OUTPUT") {
        step.producer = store.execution(ev.execution_id);
        break;
      }
    }
    steps.push_back(step);
    if (step.producer) {
      for (const auto& ev : store.events_by_execution(step.producer->id)) {
        if (ev.type == "INPUT") visit(ev.artifact_id, depth + 1);
      }
    }
  };
  visit(artifact_id, 0);
  return steps;
}

}  // namespace litepipe
