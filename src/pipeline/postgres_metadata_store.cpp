// PostgreSQL implementation of the metadata store: one database server shared by component jobs
// on many hosts. The tables are the SQLite store's, with the constraints a server can enforce
// across hosts (foreign keys, one event per execution, key and index). Every write is one
// SERIALIZABLE transaction, retried when the server aborts it for a serialization failure or a
// deadlock, so concurrent jobs never record half an execution or the same thing twice.
#include <pqxx/pqxx>

#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <type_traits>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "pipeline/metadata_store.h"

namespace litepipe {
// Named: in unity builds this file shares a translation unit with the SQLite store's local names.
namespace postgres_store {
namespace {

using nlohmann::json;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS context (
  id BIGSERIAL PRIMARY KEY, type TEXT NOT NULL, name TEXT NOT NULL, create_time DOUBLE PRECISION NOT NULL,
  UNIQUE(type, name));
CREATE TABLE IF NOT EXISTS artifact (
  id BIGSERIAL PRIMARY KEY, type TEXT NOT NULL, uri TEXT NOT NULL, properties TEXT NOT NULL,
  state TEXT NOT NULL, create_time DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS execution (
  id BIGSERIAL PRIMARY KEY, component_id TEXT NOT NULL, component_type TEXT NOT NULL, state TEXT NOT NULL,
  cache_key TEXT NOT NULL, exec_properties TEXT NOT NULL, error TEXT NOT NULL DEFAULT '',
  start_time DOUBLE PRECISION NOT NULL, end_time DOUBLE PRECISION NOT NULL DEFAULT 0, host TEXT NOT NULL,
  pid BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS execution_cache ON execution(component_id, cache_key, state);
CREATE INDEX IF NOT EXISTS execution_running ON execution(host) WHERE state = 'RUNNING';
CREATE TABLE IF NOT EXISTS event (
  id BIGSERIAL PRIMARY KEY,
  execution_id BIGINT NOT NULL REFERENCES execution(id), artifact_id BIGINT NOT NULL REFERENCES artifact(id),
  type TEXT NOT NULL, key TEXT NOT NULL, idx INTEGER NOT NULL,
  UNIQUE(execution_id, type, key, idx));
CREATE INDEX IF NOT EXISTS event_artifact ON event(artifact_id);
CREATE TABLE IF NOT EXISTS association (
  context_id BIGINT NOT NULL REFERENCES context(id), execution_id BIGINT NOT NULL REFERENCES execution(id),
  UNIQUE(context_id, execution_id));
CREATE INDEX IF NOT EXISTS association_execution ON association(execution_id);
CREATE TABLE IF NOT EXISTS attribution (
  context_id BIGINT NOT NULL REFERENCES context(id), artifact_id BIGINT NOT NULL REFERENCES artifact(id),
  UNIQUE(context_id, artifact_id));
)sql";

constexpr const char* kExecutionColumns =
    "id, component_id, component_type, state, cache_key, exec_properties, error, start_time, end_time, host, pid";

// Tries of one transaction that concurrent writers keep aborting, before giving up.
constexpr int kMaxAttempts = 12;
// The advisory lock that makes creating the tables one session at a time: CREATE TABLE IF NOT
// EXISTS is not safe against itself in two sessions at once.
constexpr int64_t kSchemaLock = 0x6c69746570697065;  // "litepipe"

// Reads see one snapshot (a cache lookup reads several tables) and never need a retry.
using ReadTransaction = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;
using WriteTransaction = pqxx::transaction<pqxx::serializable>;

// A libpq or server message on one line (they span several: the message, a detail, a hint).
std::string one_line(const char* message) {
  std::string out;
  bool gap = false;
  for (const char* p = message; *p; ++p) {
    if (*p == '\n' || *p == '\t' || *p == '\r') {
      gap = !out.empty();
      continue;
    }
    if (gap) out += out.back() == '.' || out.back() == ':' ? " " : "; ";
    gap = false;
    out += *p;
  }
  return out;
}

ExecutionRecord read_execution(const pqxx::row& r) {
  ExecutionRecord e;
  e.id = r[0].as<int64_t>();
  e.component_id = r[1].as<std::string>();
  e.component_type = r[2].as<std::string>();
  e.state = r[3].as<std::string>();
  e.cache_key = r[4].as<std::string>();
  e.exec_properties = json::parse(r[5].as<std::string>());
  e.error = r[6].as<std::string>();
  e.start_time = r[7].as<double>();
  e.end_time = r[8].as<double>();
  e.host = r[9].as<std::string>();
  e.pid = r[10].as<int64_t>();
  return e;
}

Artifact read_artifact(const pqxx::row& r) {
  Artifact a;
  a.id = r[0].as<int64_t>();
  a.type = r[1].as<std::string>();
  a.uri = r[2].as<std::string>();
  a.properties = json::parse(r[3].as<std::string>());
  return a;
}

std::optional<Artifact> artifact_in(pqxx::transaction_base& tx, int64_t id) {
  auto r = tx.exec_params("SELECT id, type, uri, properties FROM artifact WHERE id = $1", id);
  if (r.empty()) return std::nullopt;
  return read_artifact(r[0]);
}

std::vector<EventRecord> events_in(pqxx::transaction_base& tx, const char* column, int64_t id) {
  auto r = tx.exec_params(std::string("SELECT execution_id, artifact_id, type, key, idx FROM event WHERE ") + column +
                              " = $1 ORDER BY id",
                          id);
  std::vector<EventRecord> result;
  for (const auto& row : r) {
    result.push_back({row[0].as<int64_t>(), row[1].as<int64_t>(), row[2].as<std::string>(), row[3].as<std::string>(),
                      row[4].as<int>()});
  }
  return result;
}

void add_event(pqxx::transaction_base& tx, int64_t execution_id, int64_t artifact_id, const std::string& type,
               const std::string& key, size_t index) {
  tx.exec_params("INSERT INTO event(execution_id, artifact_id, type, key, idx) VALUES ($1, $2, $3, $4, $5)", execution_id,
                 artifact_id, type, key, static_cast<int>(index));
}

class PostgresMetadataStore final : public MetadataStore {
 public:
  PostgresMetadataStore(std::string connection, std::string display)
      : connection_string_(std::move(connection)), display_(std::move(display)) {
    transact<pqxx::work>("creating the tables", [](pqxx::transaction_base& tx) {
      // They are created in one transaction, so the last one stands for all. Opening an existing
      // store must not run CREATE ... IF NOT EXISTS: that locks tables that other jobs write.
      if (!tx.exec("SELECT to_regclass('attribution')")[0][0].is_null()) return true;
      tx.exec("SET LOCAL client_min_messages = warning");  // no notice per table that exists
      tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kSchemaLock) + ")");
      tx.exec(kSchema);
      return true;
    });
  }

  int64_t put_context(const std::string& type, const std::string& name) override {
    return transact<WriteTransaction>("recording a context", [&](pqxx::transaction_base& tx) {
      tx.exec_params("INSERT INTO context(type, name, create_time) VALUES ($1, $2, $3) ON CONFLICT (type, name) DO NOTHING",
                     type, name, now_seconds());
      return tx.exec_params1("SELECT id FROM context WHERE type = $1 AND name = $2", type, name)[0].as<int64_t>();
    });
  }

  int64_t start_execution(ExecutionRecord& e, const std::vector<int64_t>& contexts, const ArtifactMap& inputs) override {
    double start = now_seconds();
    std::string running = execution_state::kRunning;
    int64_t id = transact<WriteTransaction>("starting an execution", [&](pqxx::transaction_base& tx) {
      int64_t execution_id =
          tx.exec_params1("INSERT INTO execution(component_id, component_type, state, cache_key, exec_properties, start_time,"
                          " host, pid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                          e.component_id, e.component_type, running, e.cache_key, e.exec_properties.dump(), start, e.host, e.pid)[0]
              .as<int64_t>();
      for (int64_t c : contexts) {
        tx.exec_params("INSERT INTO association(context_id, execution_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", c,
                       execution_id);
      }
      for (const auto& [key, list] : inputs) {
        for (size_t i = 0; i < list.size(); ++i) add_event(tx, execution_id, list[i].id, "INPUT", key, i);
      }
      return execution_id;
    });
    // Only once committed: a retried attempt's id was never recorded.
    e.id = id;
    e.state = running;
    e.start_time = start;
    return id;
  }

  void publish_execution(int64_t execution_id, ArtifactMap& outputs, const std::vector<int64_t>& contexts,
                         const std::string& state) override {
    ArtifactMap published;
    transact<WriteTransaction>("publishing an execution", [&](pqxx::transaction_base& tx) {
      published = outputs;  // afresh on every attempt: the ids of a rolled-back one do not exist
      for (auto& [key, list] : published) {
        for (size_t i = 0; i < list.size(); ++i) {
          Artifact& a = list[i];
          if (a.id == 0) {
            a.id = tx.exec_params1("INSERT INTO artifact(type, uri, properties, state, create_time)"
                                   " VALUES ($1, $2, $3, 'LIVE', $4) RETURNING id",
                                   a.type, a.uri, a.properties.dump(), now_seconds())[0]
                       .as<int64_t>();
          }
          add_event(tx, execution_id, a.id, "OUTPUT", key, i);
          for (int64_t c : contexts) {
            tx.exec_params("INSERT INTO attribution(context_id, artifact_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", c, a.id);
          }
        }
      }
      set_state(tx, execution_id, state, "");
      return true;
    });
    outputs = std::move(published);
  }

  bool fail_execution(int64_t execution_id, const std::string& state, const std::string& error) override {
    return transact<WriteTransaction>("recording a failed execution", [&](pqxx::transaction_base& tx) {
      auto r = tx.exec_params("UPDATE execution SET state = $1, error = $2, end_time = $3 WHERE id = $4 AND state = 'RUNNING'", state, error,
                              now_seconds(), execution_id);
      return r.affected_rows() == 1;
    });
  }

  std::optional<ArtifactMap> cached_outputs(const std::string& component_id, const std::string& cache_key) override {
    return transact<ReadTransaction>("looking up the cache", [&](pqxx::transaction_base& tx) -> std::optional<ArtifactMap> {
      auto r = tx.exec_params("SELECT id FROM execution WHERE component_id = $1 AND cache_key = $2 AND state = 'COMPLETE'"
                              " ORDER BY id DESC LIMIT 1",
                              component_id, cache_key);
      if (r.empty()) return std::nullopt;
      int64_t id = r[0][0].as<int64_t>();
      ArtifactMap outputs;
      for (const auto& ev : events_in(tx, "execution_id", id)) {
        if (ev.type != "OUTPUT") continue;
        auto& list = outputs[ev.key];
        if (list.size() <= static_cast<size_t>(ev.index)) list.resize(static_cast<size_t>(ev.index) + 1);
        auto a = artifact_in(tx, ev.artifact_id);
        if (!a) fail("{}: execution {} names missing artifact {}", display_, id, ev.artifact_id);
        list[static_cast<size_t>(ev.index)] = *a;
      }
      return outputs;
    });
  }

  std::vector<ExecutionRecord> running_executions(const std::string& host) override {
    return read_executions(std::string("SELECT ") + kExecutionColumns + " FROM execution WHERE state = 'RUNNING' AND host = $1 ORDER BY id",
                           host);
  }

  std::vector<ContextRecord> contexts(const std::string& type) override {
    return transact<ReadTransaction>("reading contexts", [&](pqxx::transaction_base& tx) {
      std::vector<ContextRecord> result;
      for (const auto& row : tx.exec_params("SELECT id, type, name, create_time FROM context WHERE type = $1 ORDER BY id", type)) {
        result.push_back({row[0].as<int64_t>(), row[1].as<std::string>(), row[2].as<std::string>(), row[3].as<double>()});
      }
      return result;
    });
  }

  std::vector<ExecutionRecord> executions(std::optional<int64_t> context_id) override {
    std::string sql = std::string("SELECT ") + kExecutionColumns + " FROM execution";
    if (!context_id) return read_executions(sql + " ORDER BY id");
    return read_executions(sql + " WHERE id IN (SELECT execution_id FROM association WHERE context_id = $1) ORDER BY id", *context_id);
  }

  std::optional<ExecutionRecord> execution(int64_t id) override {
    auto found = read_executions(std::string("SELECT ") + kExecutionColumns + " FROM execution WHERE id = $1", id);
    if (found.empty()) return std::nullopt;
    return found[0];
  }

  std::vector<Artifact> artifacts(const std::string& type) override {
    return transact<ReadTransaction>("reading artifacts", [&](pqxx::transaction_base& tx) {
      pqxx::result r = type.empty() ? tx.exec("SELECT id, type, uri, properties FROM artifact ORDER BY id")
                                    : tx.exec_params("SELECT id, type, uri, properties FROM artifact WHERE type = $1 ORDER BY id", type);
      std::vector<Artifact> result;
      for (const auto& row : r) result.push_back(read_artifact(row));
      return result;
    });
  }

  std::optional<Artifact> artifact(int64_t id) override {
    return transact<ReadTransaction>("reading an artifact", [&](pqxx::transaction_base& tx) { return artifact_in(tx, id); });
  }

  std::vector<EventRecord> events_by_artifact(int64_t artifact_id) override {
    return transact<ReadTransaction>("reading events", [&](pqxx::transaction_base& tx) { return events_in(tx, "artifact_id", artifact_id); });
  }
  std::vector<EventRecord> events_by_execution(int64_t execution_id) override {
    return transact<ReadTransaction>("reading events", [&](pqxx::transaction_base& tx) { return events_in(tx, "execution_id", execution_id); });
  }

 private:
  // Runs `fn(transaction)` and commits. A transaction the server aborted because of concurrent
  // writers (serialization failure, deadlock) is tried again after a random, growing pause; one
  // cut off by a lost connection, once on a new connection (it was rolled back with it). Every
  // other failure is an Error naming the server and what was being done.
  template <typename Transaction, typename Fn>
  std::invoke_result_t<Fn&, pqxx::transaction_base&> transact(const char* what, Fn&& fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int attempt = 1;; ++attempt) {
      try {
        if (!connection_) connect();
        Transaction tx(*connection_);
        auto result = fn(static_cast<pqxx::transaction_base&>(tx));
        tx.commit();
        return result;
      } catch (const pqxx::serialization_failure& e) {
        pause_before_retry(what, attempt, e);
      } catch (const pqxx::deadlock_detected& e) {
        pause_before_retry(what, attempt, e);
      } catch (const pqxx::in_doubt_error& e) {
        connection_.reset();
        fail("{}: the connection was lost while committing ({}); the server may or may not have recorded it: {}", display_,
             what, one_line(e.what()));
      } catch (const pqxx::broken_connection& e) {
        reconnect_or_fail(what, attempt, e);
      } catch (const pqxx::sql_error& e) {
        // A server shutting down (57P01-57P03) ends the session the way a lost connection does.
        if (e.sqlstate().rfind("57P", 0) == 0) {
          reconnect_or_fail(what, attempt, e);
        } else {
          fail("{}: metadata store error while {}: {}", display_, what, one_line(e.what()));
        }
      } catch (const pqxx::failure& e) {
        fail("{}: metadata store error while {}: {}", display_, what, one_line(e.what()));
      }
    }
  }

  void reconnect_or_fail(const char* what, int attempt, const std::exception& e) {
    connection_.reset();
    if (attempt >= 2) fail("{}: lost the connection to the PostgreSQL server while {}: {}", display_, what, one_line(e.what()));
    spdlog::warn("{}: lost the connection while {} ({}); reconnecting", display_, what, one_line(e.what()));
  }

  void pause_before_retry(const char* what, int attempt, const pqxx::failure& e) {
    if (attempt >= kMaxAttempts) {
      fail("{}: {} was aborted {} times by concurrent writers; giving up: {}", display_, what, attempt, one_line(e.what()));
    }
    // Random and growing, so that the jobs that collided do not collide again in step.
    int cap_ms = std::min(1000, 10 << attempt);
    int pause_ms = std::uniform_int_distribution<int>(cap_ms / 2, cap_ms)(random_);
    spdlog::debug("{}: {} was aborted by the server ({}); retrying in {} ms (attempt {} of {})", display_, what,
                  one_line(e.what()), pause_ms, attempt + 1, kMaxAttempts);
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }

  void connect() {
    try {
      connection_ = std::make_unique<pqxx::connection>(connection_string_);
    } catch (const pqxx::failure& e) {
      fail("{}: cannot connect to the PostgreSQL server: {}", display_, one_line(e.what()));
    }
  }

  void set_state(pqxx::transaction_base& tx, int64_t execution_id, const std::string& state, const std::string& error) {
    auto r = tx.exec_params("UPDATE execution SET state = $1, error = $2, end_time = $3 WHERE id = $4", state, error,
                            now_seconds(), execution_id);
    if (r.affected_rows() != 1) fail("{}: no execution {} to mark {}", display_, execution_id, state);
  }

  template <typename... Args>
  std::vector<ExecutionRecord> read_executions(const std::string& sql, Args&&... args) {
    return transact<ReadTransaction>("reading executions", [&](pqxx::transaction_base& tx) {
      std::vector<ExecutionRecord> result;
      for (const auto& row : tx.exec_params(sql, args...)) result.push_back(read_execution(row));
      return result;
    });
  }

  std::string connection_string_, display_;
  std::mutex mutex_;  // one transaction at a time on the one connection
  std::unique_ptr<pqxx::connection> connection_;
  std::mt19937 random_{std::random_device{}()};
};

}  // namespace
}  // namespace postgres_store

std::unique_ptr<MetadataStore> open_postgres_metadata_store(const std::string& connection, const std::string& display) {
  return std::make_unique<postgres_store::PostgresMetadataStore>(connection, display);
}

}  // namespace litepipe
