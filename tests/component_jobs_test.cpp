// Components as jobs: the pipeline run one component at a time by separate `litepipe run
// --component` processes, as a scheduler runs it, must give what one local run gives.
#include <cstdlib>

#include "components/builtin.h"
#include "core/files.h"
#include "jobs_pipeline.h"
#include "pipeline/runner.h"
#include "pipeline/yaml_pipeline.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using nlohmann::json;

class ComponentJobsTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    file_ = testing::write_jobs_pipeline(dir_);
  }
  // `litepipe ARGS`, its output kept in `log`; returns the exit status.
  int litepipe(const std::string& args, const std::string& log) {
    return std::system(fmt::format("{} {} > {} 2>&1", LITEPIPE_BINARY, args, (dir_ / log).string()).c_str());
  }
  std::string read_log(const std::string& log) { return read_file(dir_ / log); }
  int run_job(const std::string& component, const std::string& run, const std::string& log = "job.log") {
    return litepipe(fmt::format("run {} --pipeline-root {} --component {} --run {} --metadata sqlite://{}", file_.string(),
                                (dir_ / "jobs").string(), component, run, (dir_ / "jobs-metadata.sqlite").string()),
                    log);
  }
  fs::path file_;
};

TEST_F(ComponentJobsTest, ComponentByComponentInDagOrderEqualsALocalRun) {
  Pipeline pipeline = load_pipeline_file(file_, builtin_components());
  // Executors in their own processes, like the jobs: a trained model's ONNX file names its layers
  // from counters of the process that built it, so in-process training after other tests differs.
  RunResult local = LocalDagRunner().run(pipeline, {.executor_program = LITEPIPE_BINARY});

  // The scheduler's part: one process per component, in DAG order, under one named run.
  auto order = build_pipeline(pipeline);
  for (const Component* c : order) {
    ASSERT_EQ(run_job(c->id(), "wf-1", c->id() + ".log"), 0) << read_log(c->id() + ".log");
  }

  auto store = open_metadata_store(sqlite_metadata_url(dir_ / "jobs-metadata.sqlite"));
  std::optional<int64_t> run_context;
  for (const auto& ctx : store->contexts("run"))
    if (ctx.name == "jobs:wf-1") run_context = ctx.id;
  ASSERT_TRUE(run_context) << "the run record was not created";
  auto executions = store->executions(run_context);
  ASSERT_EQ(executions.size(), order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(executions[i].component_id, order[i]->id());
    EXPECT_EQ(executions[i].state, execution_state::kComplete) << executions[i].error;
  }
  size_t compared = 0;
  // Each job's outputs: byte for byte those of the local run (statistics, schema, anomalies,
  // transform graph and examples, the trained model, the evaluation's metrics).
  for (size_t i = 0; i < order.size(); ++i) {
    compared += testing::expect_same_outputs(*store, executions[i].id, local.get(order[i]->id()), dir_ / "jobs");
  }

  EXPECT_GT(compared, 10u);
  EXPECT_TRUE(fs::exists(dir_ / "jobs" / "Trainer" / "model" / std::to_string(executions[5].id) / "Format-Serving" / "model.onnx"));

  // A job run again in the same run is served from the cache and republished there.
  ASSERT_EQ(run_job("StatisticsGen", "wf-1", "again.log"), 0) << read_log("again.log");
  EXPECT_NE(read_log("again.log").find("from cache"), std::string::npos) << read_log("again.log");
}

TEST_F(ComponentJobsTest, UnknownComponentUpstreamNotRunAndBadUrlAreNamed) {
  EXPECT_NE(run_job("Trainer.nope", "wf-2", "unknown.log"), 0);
  EXPECT_NE(read_log("unknown.log").find("no component 'Trainer.nope'"), std::string::npos) << read_log("unknown.log");

  // SchemaGen before StatisticsGen has run in this run: nothing runs, the missing upstream is named.
  EXPECT_NE(run_job("SchemaGen", "wf-2", "early.log"), 0);
  std::string early = read_log("early.log");
  EXPECT_NE(early.find("upstream component StatisticsGen, which has not completed in run wf-2"), std::string::npos) << early;
  EXPECT_FALSE(fs::exists(dir_ / "jobs" / "SchemaGen"));

  // Another run's outputs do not count: StatisticsGen in wf-3 does not feed SchemaGen in wf-2.
  ASSERT_EQ(run_job("ExampleGen", "wf-3", "gen.log"), 0) << read_log("gen.log");
  ASSERT_EQ(run_job("StatisticsGen", "wf-3", "stats.log"), 0) << read_log("stats.log");
  EXPECT_NE(run_job("SchemaGen", "wf-2", "early2.log"), 0);
  EXPECT_NE(read_log("early2.log").find("StatisticsGen, which has not completed in run wf-2"), std::string::npos);
  EXPECT_EQ(run_job("SchemaGen", "wf-3", "schema.log"), 0) << read_log("schema.log");

  // --component needs --run; a metadata URL of another kind is refused, naming what is accepted.
  EXPECT_NE(litepipe(fmt::format("run {} --component ExampleGen", file_.string()), "norun.log"), 0);
  EXPECT_NE(read_log("norun.log").find("--run RUN_ID"), std::string::npos) << read_log("norun.log");
  EXPECT_NE(litepipe(fmt::format("run {} --component ExampleGen --run r --metadata mysql://db/x", file_.string()), "url.log"), 0);
  EXPECT_NE(read_log("url.log").find("unsupported scheme 'mysql'; expected sqlite:///ABSOLUTE/PATH"), std::string::npos)
      << read_log("url.log");
  testing::expect_error([] { parse_metadata_url("sqlite://relative.db"); }, {"sqlite://relative.db", "three slashes"});
  EXPECT_EQ(parse_metadata_url("sqlite:///tmp/m.sqlite").location, "/tmp/m.sqlite");
}

TEST_F(ComponentJobsTest, NamedLocalRunUsesThatRunRecord) {
  Pipeline pipeline = load_pipeline_file(file_, builtin_components());
  pipeline.components.resize(2);  // ExampleGen, StatisticsGen
  RunResult r = LocalDagRunner().run(pipeline, {.run_id = "nightly-7"});
  EXPECT_EQ(r.run_id, "nightly-7");
  // A job of the same run finds the local run's outputs.
  Pipeline full = load_pipeline_file(file_, builtin_components());
  ComponentRun schema = run_component(full, "SchemaGen", {.run_id = "nightly-7"});
  EXPECT_FALSE(schema.cached);
  EXPECT_TRUE(fs::exists(fs::path(schema.outputs.at("schema")[0].uri) / "schema.json"));
}

}  // namespace
}  // namespace litepipe
