// The PostgreSQL metadata store against a real server that the suite starts itself (initdb into a
// temporary folder, pg_ctl on a free loopback port, stopped and removed afterwards): the test
// pipeline records there what it records in SQLite, concurrent runs and component jobs record
// every execution once, and an unreachable server is named with nothing recorded.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "components/builtin.h"
#include "core/files.h"
#include "jobs_pipeline.h"
#include "pipeline/metadata_store.h"
#include "pipeline/runner.h"
#include "pipeline/yaml_pipeline.h"
#include "postgres_server.h"
#include "test_helpers.h"

namespace litepipe {
namespace postgres_test {  // named: unity builds put several test files in one translation unit
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

using testing::file_text;
using testing::free_port;
using testing::kPostgresInstallHint;
using testing::postgres_bindir;
using testing::PostgresServer;
using testing::shell_quoted;

// Log lines of every level from debug up, for as long as it lives.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(text_)), level_(spdlog::default_logger()->level()) {
    spdlog::default_logger()->sinks().push_back(sink_);
    spdlog::default_logger()->set_level(spdlog::level::debug);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    spdlog::default_logger()->set_level(level_);
  }
  std::string text() {
    sink_->flush();
    return text_.str();
  }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  spdlog::level::level_enum level_;
};

class PostgresMetadataTest : public testing::TempDirTest {
 protected:
  static void SetUpTestSuite() {
    auto bindir = postgres_bindir();
    if (!bindir) return;
    try {
      server_ = std::make_unique<PostgresServer>(*bindir);
    } catch (const std::exception& e) {
      startup_error_ = e.what();
    }
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    TempDirTest::SetUp();
    if (!server_ && startup_error_.empty()) GTEST_SKIP() << kPostgresInstallHint;
    ASSERT_TRUE(server_) << "could not start a PostgreSQL server: " << startup_error_;
    // A database per test, so that tests see only their own records.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    server_->create_database(name);
    url_ = server_->url(name);
    file_ = testing::write_jobs_pipeline(dir_);
  }

  // `litepipe ARGS`, its output kept in `log`; returns the exit status.
  int litepipe(const std::string& args, const std::string& log) {
    return std::system(fmt::format("{} {} > {} 2>&1", LITEPIPE_BINARY, args, shell_quoted((dir_ / log).string())).c_str());
  }
  // Several `litepipe` commands at once (args, log each); their exit statuses.
  std::vector<int> litepipe_at_once(const std::vector<std::pair<std::string, std::string>>& commands) {
    std::string script;
    for (const auto& command : commands) {
      script += fmt::format("({} {} > {} 2>&1; echo $? > {}) & ", LITEPIPE_BINARY, command.first, shell_quoted((dir_ / command.second).string()),
                            shell_quoted((dir_ / (command.second + ".status")).string()));
    }
    EXPECT_EQ(std::system((script + "wait").c_str()), 0);
    std::vector<int> statuses;
    for (const auto& command : commands) statuses.push_back(std::atoi(file_text(dir_ / (command.second + ".status")).c_str()));
    return statuses;
  }
  std::string log(const std::string& name) { return file_text(dir_ / name); }
  std::string job(const std::string& component, const std::string& run, const fs::path& root, const std::string& extra = "") {
    return fmt::format("run {} --pipeline-root {} --component {} --run {} --metadata {} {}", file_.string(), root.string(), component,
                       run, url_, extra);
  }

  int64_t run_context(MetadataStore& store, const std::string& run) {
    for (const auto& c : store.contexts("run"))
      if (c.name == "jobs:" + run) return c.id;
    ADD_FAILURE() << "no run record jobs:" << run;
    return -1;
  }

  // Every execution of `run` happened once, and each recorded one event per declared output.
  void expect_each_recorded_once(MetadataStore& store, const std::string& run, const std::vector<std::string>& components) {
    std::map<std::string, size_t> declared;
    for (const auto& c : load_pipeline_file(file_, builtin_components()).components) declared[c->id()] = c->spec().outputs.size();
    auto executions = store.executions(run_context(store, run));
    std::vector<std::string> recorded;
    for (const auto& e : executions) {
      recorded.push_back(e.component_id);
      EXPECT_TRUE(e.state == execution_state::kComplete || e.state == execution_state::kCached) << e.component_id << ": " << e.state << " " << e.error;
      size_t outputs = 0;
      for (const auto& ev : store.events_by_execution(e.id)) outputs += ev.type == "OUTPUT";
      EXPECT_EQ(outputs, declared[e.component_id]) << e.component_id;
    }
    std::vector<std::string> expected = components;
    std::sort(expected.begin(), expected.end());
    std::sort(recorded.begin(), recorded.end());
    EXPECT_EQ(recorded, expected) << "run " << run;
  }

  inline static std::unique_ptr<PostgresServer> server_;
  inline static std::string startup_error_;
  std::string url_;
  fs::path file_;
};

const std::vector<std::string> kComponents = {"ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                                              "Transform", "Trainer", "Evaluator"};

// An execution record as the runner fills it in before starting it.
ExecutionRecord new_execution(const std::string& component, int64_t pid) {
  ExecutionRecord e;
  e.component_id = e.component_type = component;
  e.cache_key = "key";
  e.host = "host";
  e.pid = pid;
  return e;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
  return text;
}

TEST_F(PostgresMetadataTest, PipelineRecordsWhatItRecordsInSqliteAndInspectReadsIt) {
  fs::path lite_root = dir_ / "sqlite", pg_root = dir_ / "postgres";
  std::string lite_url = sqlite_metadata_url(dir_ / "metadata.sqlite");
  ASSERT_EQ(litepipe(fmt::format("run {} --pipeline-root {} --run r1 --metadata {}", file_.string(), lite_root.string(), lite_url), "sqlite.log"), 0)
      << log("sqlite.log");
  ASSERT_EQ(litepipe(fmt::format("run {} --pipeline-root {} --run r1 --metadata {}", file_.string(), pg_root.string(), url_), "pg.log"), 0)
      << log("pg.log");

  auto lite = open_metadata_store(lite_url), pg = open_metadata_store(url_);
  ASSERT_EQ(pg->contexts("run").size(), 1u);
  EXPECT_EQ(pg->contexts("run")[0].name, lite->contexts("run")[0].name);
  ASSERT_EQ(pg->contexts("pipeline").size(), 1u);
  EXPECT_EQ(pg->contexts("pipeline")[0].name, "jobs");
  auto lite_executions = lite->executions(), pg_executions = pg->executions();
  ASSERT_EQ(pg_executions.size(), kComponents.size());
  ASSERT_EQ(pg_executions.size(), lite_executions.size());
  EXPECT_EQ(pg->artifacts().size(), lite->artifacts().size());
  size_t compared = 0;
  for (size_t i = 0; i < pg_executions.size(); ++i) {
    const ExecutionRecord &a = lite_executions[i], &b = pg_executions[i];
    EXPECT_EQ(b.id, a.id);
    EXPECT_EQ(b.component_id, a.component_id);
    EXPECT_EQ(b.component_type, a.component_type);
    EXPECT_EQ(b.state, execution_state::kComplete) << b.error;
    EXPECT_EQ(b.cache_key, a.cache_key) << b.component_id;  // the same inputs (by artifact id) and properties
    EXPECT_EQ(b.exec_properties, a.exec_properties);
    EXPECT_GE(b.end_time, b.start_time);
    EXPECT_GT(b.pid, 0);
    auto lite_events = lite->events_by_execution(a.id), pg_events = pg->events_by_execution(b.id);
    ASSERT_EQ(pg_events.size(), lite_events.size()) << b.component_id;
    for (size_t j = 0; j < pg_events.size(); ++j) {
      EXPECT_EQ(pg_events[j].type, lite_events[j].type);
      EXPECT_EQ(pg_events[j].key, lite_events[j].key);
      EXPECT_EQ(pg_events[j].index, lite_events[j].index);
      EXPECT_EQ(pg_events[j].artifact_id, lite_events[j].artifact_id);
      Artifact x = *lite->artifact(lite_events[j].artifact_id), y = *pg->artifact(pg_events[j].artifact_id);
      EXPECT_EQ(y.type, x.type);
      EXPECT_EQ(fs::relative(y.uri, pg_root), fs::relative(x.uri, lite_root));
      EXPECT_EQ(y.properties.dump(), replace_all(x.properties.dump(), lite_root.string(), pg_root.string())) << y.type;
      if (pg_events[j].type != "OUTPUT") continue;
      // What the components wrote is the same too (the evaluation's files name the model's path).
      auto x_files = testing::files_under(x.uri), y_files = testing::files_under(y.uri);
      ASSERT_EQ(y_files.size(), x_files.size()) << y.uri;
      for (const auto& [name, bytes] : x_files) {
        if (name == "metrics.json" || name == "eval_config.json") continue;
        EXPECT_TRUE(y_files[name] == bytes) << b.component_id << ": " << name << " differs";
        ++compared;
      }
      if (y.type == artifact_types::kModelEvaluation) {
        EXPECT_EQ(read_json_file(fs::path(y.uri) / "metrics.json")["slices"], read_json_file(fs::path(x.uri) / "metrics.json")["slices"]);
      }
    }
  }
  EXPECT_GT(compared, 10u);

  // Run again: every component is served from the PostgreSQL store's cache.
  ASSERT_EQ(litepipe(fmt::format("run {} --pipeline-root {} --run r2 --metadata {}", file_.string(), pg_root.string(), url_), "pg2.log"), 0)
      << log("pg2.log");
  for (const auto& e : pg->executions(run_context(*pg, "r2"))) EXPECT_EQ(e.state, execution_state::kCached) << e.component_id;

  // inspect and metrics read the server given by --metadata.
  ASSERT_EQ(litepipe("inspect runs --metadata " + url_, "runs.log"), 0) << log("runs.log");
  EXPECT_NE(log("runs.log").find("jobs:r1"), std::string::npos) << log("runs.log");
  EXPECT_NE(log("runs.log").find("7 executions (7 cached, 0 failed)"), std::string::npos) << log("runs.log");
  ASSERT_EQ(litepipe("inspect executions --run r1 --metadata " + url_, "executions.log"), 0) << log("executions.log");
  for (const auto& c : kComponents) EXPECT_NE(log("executions.log").find(c), std::string::npos) << c;
  EXPECT_NE(log("executions.log").find("COMPLETE"), std::string::npos);
  ASSERT_EQ(litepipe("inspect lineage --type ModelEvaluation --metadata " + url_, "lineage.log"), 0) << log("lineage.log");
  EXPECT_NE(log("lineage.log").find("<- Trainer"), std::string::npos) << log("lineage.log");
  EXPECT_NE(log("lineage.log").find("<- ExampleGen"), std::string::npos) << log("lineage.log");
  ASSERT_EQ(litepipe(fmt::format("metrics --pipeline {} --metadata {}", file_.string(), url_), "metrics.log"), 0) << log("metrics.log");
  EXPECT_NE(log("metrics.log").find("sparse_categorical_accuracy"), std::string::npos) << log("metrics.log");
}

TEST_F(PostgresMetadataTest, TwoRunsAndParallelJobsRecordEveryExecutionOnce) {
  // Two whole runs at once (their own roots, so neither waits for the other's root lock).
  auto statuses = litepipe_at_once({
      {fmt::format("run {} --no-cache --pipeline-root {} --run a --metadata {}", file_.string(), (dir_ / "a").string(), url_), "a.log"},
      {fmt::format("run {} --no-cache --pipeline-root {} --run b --metadata {}", file_.string(), (dir_ / "b").string(), url_), "b.log"},
  });
  EXPECT_EQ(statuses[0], 0) << log("a.log");
  EXPECT_EQ(statuses[1], 0) << log("b.log");

  // Component jobs of one run from several processes at once: three StatisticsGen jobs racing
  // (to execute or to be served from each other's cache), then two independent components.
  fs::path root = dir_ / "c";
  ASSERT_EQ(litepipe(job("ExampleGen", "wf", root, "--no-cache"), "gen.log"), 0) << log("gen.log");
  statuses = litepipe_at_once({{job("StatisticsGen", "wf", root), "stats1.log"},
                               {job("StatisticsGen", "wf", root), "stats2.log"},
                               {job("StatisticsGen", "wf", root), "stats3.log"}});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(statuses[static_cast<size_t>(i)], 0) << log(fmt::format("stats{}.log", i + 1));
  ASSERT_EQ(litepipe(job("SchemaGen", "wf", root), "schema.log"), 0) << log("schema.log");
  statuses = litepipe_at_once({{job("ExampleValidator", "wf", root), "validator.log"}, {job("Transform", "wf", root), "transform.log"}});
  EXPECT_EQ(statuses[0], 0) << log("validator.log");
  EXPECT_EQ(statuses[1], 0) << log("transform.log");

  auto store = open_metadata_store(url_);
  std::vector<std::string> names;
  for (const auto& c : store->contexts("run")) names.push_back(c.name);
  std::sort(names.begin(), names.end());  // the two runs created theirs in either order
  EXPECT_EQ(names, (std::vector<std::string>{"jobs:a", "jobs:b", "jobs:wf"}));
  EXPECT_EQ(store->contexts("pipeline").size(), 1u);
  expect_each_recorded_once(*store, "a", kComponents);
  expect_each_recorded_once(*store, "b", kComponents);
  expect_each_recorded_once(*store, "wf", {"ExampleGen", "StatisticsGen", "StatisticsGen", "StatisticsGen", "SchemaGen",
                                           "ExampleValidator", "Transform"});
  EXPECT_EQ(store->executions().size(), 2 * kComponents.size() + 7);
  // Every artifact was written by exactly one execution (the --no-cache runs made their own).
  for (const auto& a : store->artifacts()) {
    size_t producers = 0;
    for (const auto& ev : store->events_by_artifact(a.id)) producers += ev.type == "OUTPUT" && store->execution(ev.execution_id)->state == execution_state::kComplete;
    EXPECT_EQ(producers, 1u) << a.uri;
  }
}

TEST_F(PostgresMetadataTest, ConcurrentWritersAreRetriedNotDuplicated) {
  auto store = open_metadata_store(url_);
  LogCapture logs;
  // A serialization failure on purpose: another session inserts the run record this store is
  // about to insert and commits while the store waits on it. The store's transaction is aborted
  // by the server and tried again, and finds that record.
  int64_t theirs = 0, mine = 0;
  {
    pqxx::connection other(url_);
    pqxx::transaction<pqxx::serializable> tx(other);
    theirs = tx.exec("INSERT INTO context(type, name, create_time) VALUES ('run', 'jobs:raced', 0) RETURNING id")[0][0].as<int64_t>();
    std::thread writer([&store, &mine] { mine = store->put_context("run", "jobs:raced"); });
    // Commit once the store's insert waits on ours (the server shows it waiting for a lock).
    pqxx::connection observer(url_);
    for (int i = 0; i < 3000; ++i) {
      pqxx::read_transaction look(observer);
      if (look.exec("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").size() > 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    tx.commit();
    writer.join();
  }
  EXPECT_EQ(mine, theirs);
  EXPECT_NE(logs.text().find("was aborted by the server"), std::string::npos) << logs.text();

  // Many writers (one connection each, as many processes have) on the same records.
  ExecutionRecord seed = new_execution("ExampleGen", 1);
  std::vector<int64_t> seed_contexts = {store->put_context("pipeline", "jobs")};
  store->start_execution(seed, seed_contexts, {});
  ArtifactMap seed_outputs;
  seed_outputs["examples"].push_back(Artifact{.type = "Examples", .uri = "/examples"});
  store->publish_execution(seed.id, seed_outputs, seed_contexts, execution_state::kComplete);
  const Artifact examples = seed_outputs["examples"][0];
  ASSERT_GT(examples.id, 0);

  constexpr int kWriters = 6, kEach = 8;
  std::mutex mutex;
  std::vector<std::string> errors;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      try {
        auto mine = open_metadata_store(url_);
        for (int i = 0; i < kEach; ++i) {
          std::vector<int64_t> contexts = {mine->put_context("pipeline", "jobs"), mine->put_context("run", fmt::format("jobs:stress-{}", i % 3))};
          ExecutionRecord e = new_execution("StatisticsGen", w);
          ArtifactMap inputs;
          inputs["examples"].push_back(examples);
          mine->start_execution(e, contexts, inputs);
          ArtifactMap outputs;
          outputs["statistics"].push_back(Artifact{.type = "ExampleStatistics", .uri = fmt::format("/stats/{}", e.id)});
          outputs["examples"].push_back(examples);  // an existing artifact, linked again (as a cache hit does)
          mine->publish_execution(e.id, outputs, contexts, execution_state::kComplete);
          if (outputs["statistics"][0].id == 0) throw std::runtime_error("no id for a published artifact");
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex);
        errors.push_back(e.what());
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_TRUE(errors.empty()) << errors[0];
  std::vector<std::string> runs;
  for (const auto& c : store->contexts("run")) runs.push_back(c.name);
  EXPECT_EQ(runs, (std::vector<std::string>{"jobs:raced", "jobs:stress-0", "jobs:stress-1", "jobs:stress-2"}));
  auto executions = store->executions();
  ASSERT_EQ(executions.size(), 1u + kWriters * kEach);
  for (size_t i = 1; i < executions.size(); ++i) {
    EXPECT_EQ(executions[i].state, execution_state::kComplete);
    auto events = store->events_by_execution(executions[i].id);
    ASSERT_EQ(events.size(), 3u);  // one input, two outputs
    EXPECT_EQ(events[0].type, "INPUT");
    EXPECT_EQ(events[0].artifact_id, examples.id);
  }
  EXPECT_EQ(store->artifacts().size(), 1u + kWriters * kEach);
  EXPECT_EQ(store->events_by_artifact(examples.id).size(), 1u + 2u * kWriters * kEach);
  size_t per_run = 0;
  for (const auto& c : store->contexts("run")) per_run += store->executions(c.id).size();
  EXPECT_EQ(per_run, static_cast<size_t>(kWriters * kEach));
}

TEST_F(PostgresMetadataTest, UnreachableServerIsNamedAndNothingIsRecorded) {
  int port = free_port();  // nothing listens there
  std::string unreachable = fmt::format("postgresql://litepipe:s3cret@127.0.0.1:{}/jobs", port);
  std::string named = fmt::format("postgresql://litepipe@127.0.0.1:{}/jobs", port);
  auto expect_named = [&](const std::string& text) {
    EXPECT_NE(text.find(named + ": cannot connect to the PostgreSQL server"), std::string::npos) << text;
    EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  };
  EXPECT_NE(litepipe(fmt::format("run {} --pipeline-root {} --component ExampleGen --run r --metadata {}", file_.string(),
                                 (dir_ / "x").string(), unreachable),
                     "job.log"),
            0);
  expect_named(log("job.log"));
  EXPECT_NE(litepipe(fmt::format("run {} --pipeline-root {} --metadata {}", file_.string(), (dir_ / "x").string(), unreachable), "run.log"), 0);
  expect_named(log("run.log"));
  EXPECT_NE(litepipe("inspect runs --metadata " + unreachable, "inspect.log"), 0);
  expect_named(log("inspect.log"));
  // Nothing ran: no outputs, nothing staged.
  EXPECT_FALSE(fs::exists(dir_ / "x" / "ExampleGen"));
  EXPECT_TRUE(!fs::exists(dir_ / "x" / ".staging") || fs::is_empty(dir_ / "x" / ".staging"));

  // The server going away between an execution's start and its publication: the publication
  // fails naming the server, and the server holds the execution as it was, with no output.
  auto store = open_metadata_store(url_);
  std::vector<int64_t> contexts = {store->put_context("pipeline", "jobs"), store->put_context("run", "jobs:r")};
  ExecutionRecord e = new_execution("ExampleGen", 1);
  store->start_execution(e, contexts, {});
  ArtifactMap outputs;
  outputs["examples"].push_back(Artifact{.type = "Examples", .uri = "/examples"});
  server_->stop();
  testing::expect_error([&] { store->publish_execution(e.id, outputs, contexts, execution_state::kComplete); }, {url_ + ": "});
  ASSERT_TRUE(server_->start());
  EXPECT_EQ(outputs["examples"][0].id, 0);  // not given the id of an insert that never committed
  EXPECT_EQ(store->execution(e.id)->state, execution_state::kRunning);  // the store reconnects
  EXPECT_TRUE(store->artifacts().empty());
  EXPECT_TRUE(store->events_by_execution(e.id).empty());

  // A statement failing halfway through a publication (an output naming no artifact, after a new
  // one was inserted) takes the whole transaction back.
  outputs["schema"].push_back(Artifact{.id = 987654, .type = "Schema", .uri = "/schema"});
  testing::expect_error([&] { store->publish_execution(e.id, outputs, contexts, execution_state::kComplete); },
                        {url_, "publishing an execution", "artifact"});
  EXPECT_EQ(outputs["examples"][0].id, 0);
  EXPECT_EQ(store->execution(e.id)->state, execution_state::kRunning);
  EXPECT_TRUE(store->artifacts().empty());
  EXPECT_TRUE(store->events_by_execution(e.id).empty());
}

TEST(PostgresMetadataUrl, CheckedByLibpqBeforeConnectingAndShownWithoutPassword) {
  MetadataUrl url = parse_metadata_url("postgresql://ml:pa55@db.example:5433/metadata?sslmode=require");
  EXPECT_EQ(url.scheme, "postgresql");
  EXPECT_EQ(url.display, "postgresql://ml@db.example:5433/metadata");
  EXPECT_NE(url.location.find("sslmode=require&connect_timeout=10"), std::string::npos) << url.location;
  EXPECT_EQ(parse_metadata_url("postgres://ml@db.example/metadata").display, "postgresql://ml@db.example/metadata");
  testing::expect_error([] { parse_metadata_url("postgresql://ml@db.example:5432"); },
                        {"'postgresql://ml@db.example:5432/'", "no database name", "expected postgresql://USER@HOST:PORT/DATABASE"});
  testing::expect_error([] { parse_metadata_url("postgresql://ml@db.example:54x2/metadata"); }, {"port '54x2'", "1 to 65535"});
  testing::expect_error([] { parse_metadata_url("postgresql:///metadata"); }, {"no host"});
  try {
    parse_metadata_url("postgresql://ml:pa55@db.example/metadata?nonsense=1");
    ADD_FAILURE() << "an unknown parameter was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nonsense"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("pa55"), std::string::npos) << e.what();
  }
  testing::expect_error([] { parse_metadata_url("mysql://db/x"); },
                        {"unsupported scheme 'mysql'", "sqlite:///ABSOLUTE/PATH or postgresql://USER@HOST:PORT/DATABASE"});
}

}  // namespace
}  // namespace postgres_test
}  // namespace litepipe
