#include <signal.h>

#include <fstream>

#include "components/builtin.h"
#include "core/files.h"
#include "pipeline/runner.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using nlohmann::json;
using testing::expect_error;

// A test component that copies its input's split names and writes a marker file. When the file
// named by its parameter `kill_marker` exists, it writes half its output and then dies by
// SIGKILL (a machine losing power mid-write); with `throw_message` it throws instead.
class ProbeExecutor final : public Executor {
 public:
  void Do(const ArtifactMap&, ArtifactMap& outputs, const json& props, const ExecutorContext&) override {
    fs::path out = outputs.at("result").at(0).uri;
    write_file_atomic(out / "partial.txt", "half");
    if (props.contains("kill_marker") && fs::exists(props["kill_marker"].get<std::string>())) ::raise(SIGKILL);
    if (props.contains("throw_message")) fail("{}", props["throw_message"].get<std::string>());
    write_file_atomic(out / "done.txt", "ok");
  }
};

const ComponentRegistration& probe_registration() {
  static const ComponentRegistration r{
      ComponentSpec{"Probe",
                    {{"examples", {artifact_types::kExamples}}},
                    {{"result", artifact_types::kModel}},
                    {{"kill_marker", optional_param(ParamType::String)}, {"throw_message", optional_param(ParamType::String)}}},
      [] { return std::make_unique<ProbeExecutor>(); },
      {}};
  return r;
}

class PipelineTest : public testing::TempDirTest {
 protected:
  Pipeline data_pipeline(std::vector<std::shared_ptr<Component>> extra = {}) {
    if (!fs::exists(dir_ / "data")) testing::write_idx_pair(dir_ / "data", "train", 30, true);
    example_gen = ExampleGen({.input_base = (dir_ / "data").string()});
    statistics_gen = StatisticsGen({.examples = example_gen->outputs("examples")});
    schema_gen = SchemaGen({.statistics = statistics_gen->outputs("statistics")});
    validator = ExampleValidator({.statistics = statistics_gen->outputs("statistics"), .schema = schema_gen->outputs("schema")});
    Pipeline p{"test", dir_ / "root", {example_gen, statistics_gen, schema_gen, validator}};
    for (auto& c : extra) p.components.push_back(c);
    return p;
  }
  std::shared_ptr<Component> probe(json params = json::object()) {
    return make_component(probe_registration(), {{"examples", example_gen->outputs("examples")}}, params);
  }
  std::shared_ptr<Component> example_gen, statistics_gen, schema_gen, validator;
};

TEST_F(PipelineTest, WiringErrorsAreReportedBeforeAnythingRuns) {
  Pipeline p = data_pipeline();
  // Duplicate ids.
  Pipeline dup = p;
  dup.components.push_back(StatisticsGen({.examples = example_gen->outputs("examples")}));
  expect_error([&] { build_pipeline(dup); }, {"duplicate component id 'StatisticsGen'", "with_id"});
  dup.components.back()->with_id("second");
  EXPECT_NO_THROW(build_pipeline(dup));
  EXPECT_EQ(dup.components.back()->id(), "StatisticsGen.second");
  // Missing required input.
  Pipeline missing = p;
  missing.components.push_back(make_component(statistics_gen_registration(), {}, json::object()));
  missing.components.back()->with_id("unwired");
  expect_error([&] { build_pipeline(missing); }, {"StatisticsGen.unwired", "missing required input 'examples'", "Examples"});
  // Channel of the wrong type.
  auto wrong = SchemaGen({.statistics = example_gen->outputs("examples")});
  wrong->with_id("wrong");
  Pipeline typed = p;
  typed.components.push_back(wrong);
  expect_error([&] { build_pipeline(typed); }, {"SchemaGen.wrong", "expects a channel of ExampleStatistics", "got Examples"});
  // Producer outside the pipeline.
  Pipeline partial{"test", dir_ / "root", {statistics_gen}};
  expect_error([&] { build_pipeline(partial); }, {"comes from ExampleGen", "not in pipeline"});
  // A cycle: two components each consuming the other's output.
  auto a = make_component(statistics_gen_registration(), {}, json::object());
  auto loop = make_component(probe_registration(), {}, json::object());
  loop->set_input("examples", Channel{artifact_types::kExamples, a.get(), "statistics"});
  a->set_input("examples", Channel{artifact_types::kExamples, loop.get(), "result"});
  Pipeline cyclic{"test", dir_ / "root", {a, loop}};
  expect_error([&] { build_pipeline(cyclic); }, {"cycle"});
  // Unknown parameter and wrong parameter type.
  expect_error([&] { make_component(schema_gen_registration(), {}, {{"infer_shape", true}}); }, {"unknown parameter 'infer_shape'", "infer_feature_shape"});
  expect_error([&] { make_component(schema_gen_registration(), {}, {{"infer_feature_shape", "yes"}}); }, {"'infer_feature_shape' must be true or false"});
  expect_error([&] { make_component(example_gen_registration(), {}, json::object()); }, {"missing required parameter 'input_base'"});
}

TEST_F(PipelineTest, RunsRecordsLineageAndServesSecondRunFromCache) {
  Pipeline p = data_pipeline();
  RunResult first = LocalDagRunner().run(p);
  ASSERT_EQ(first.components.size(), 4u);
  for (const auto& c : first.components) EXPECT_FALSE(c.cached) << c.component_id;
  const Artifact& examples = first.get("ExampleGen").outputs.at("examples").at(0);
  EXPECT_EQ(fs::path(examples.uri), dir_ / "root" / "ExampleGen" / "examples" / std::to_string(first.get("ExampleGen").execution_id));
  EXPECT_TRUE(fs::exists(fs::path(examples.uri) / "Split-train"));
  EXPECT_FALSE(fs::exists(dir_ / "root" / ".staging" / std::to_string(first.get("ExampleGen").execution_id)));

  RunResult second = LocalDagRunner().run(p);
  for (const auto& c : second.components) EXPECT_TRUE(c.cached) << c.component_id;
  EXPECT_EQ(second.get("SchemaGen").outputs.at("schema")[0].id, first.get("SchemaGen").outputs.at("schema")[0].id);

  // --no-cache runs everything again.
  RunResult third = LocalDagRunner().run(p, {.enable_cache = false});
  for (const auto& c : third.components) EXPECT_FALSE(c.cached) << c.component_id;

  // Lineage: the anomalies trace back through schema and statistics to the examples.
  auto store = open_sqlite_metadata_store(p.metadata_file());
  int64_t anomalies_id = third.get("ExampleValidator").outputs.at("anomalies")[0].id;
  auto lineage = trace_lineage(*store, anomalies_id);
  std::map<std::string, std::string> producer_by_type;
  for (const auto& step : lineage) producer_by_type[step.artifact.type] = step.producer->component_id;
  EXPECT_EQ(producer_by_type, (std::map<std::string, std::string>{{"ExampleAnomalies", "ExampleValidator"},
                                                                  {"ExampleStatistics", "StatisticsGen"},
                                                                  {"Examples", "ExampleGen"},
                                                                  {"Schema", "SchemaGen"}}));
  EXPECT_EQ(lineage.size(), 4u);  // statistics feed both schema and validator, listed once
  EXPECT_EQ(store->contexts("run").size(), 3u);
  EXPECT_EQ(store->contexts("pipeline").size(), 1u);
}

TEST_F(PipelineTest, CacheMissesWhenParametersOrDataChange) {
  Pipeline p = data_pipeline();
  LocalDagRunner().run(p);
  // A changed execution property re-runs that component and everything downstream.
  Pipeline changed = data_pipeline();
  changed.components[2] = SchemaGen({.statistics = statistics_gen->outputs("statistics"), .infer_feature_shape = false});
  changed.components[3] = ExampleValidator({.statistics = statistics_gen->outputs("statistics"), .schema = changed.components[2]->outputs("schema")});
  RunResult r = LocalDagRunner().run(changed);
  EXPECT_TRUE(r.get("ExampleGen").cached);
  EXPECT_TRUE(r.get("StatisticsGen").cached);
  EXPECT_FALSE(r.get("SchemaGen").cached);
  EXPECT_FALSE(r.get("ExampleValidator").cached);
  // New source data re-runs ExampleGen (its input fingerprint changed).
  testing::write_idx_pair(dir_ / "data", "train", 31, true);
  Pipeline fresh{"test", dir_ / "root", {ExampleGen({.input_base = (dir_ / "data").string()})}};
  EXPECT_FALSE(LocalDagRunner().run(fresh).get("ExampleGen").cached);
}

TEST_F(PipelineTest, FailedExecutorPublishesNothing) {
  Pipeline p = data_pipeline();
  p.components.push_back(probe({{"throw_message", "model exploded"}}));
  expect_error([&] { LocalDagRunner().run(p); }, {"Probe failed", "model exploded"});
  auto store = open_sqlite_metadata_store(p.metadata_file());
  EXPECT_TRUE(store->artifacts(artifact_types::kModel).empty());
  auto execs = store->executions();
  EXPECT_EQ(execs.back().state, execution_state::kFailed);
  EXPECT_EQ(execs.back().error, "model exploded");
  EXPECT_FALSE(fs::exists(dir_ / "root" / "Probe"));
  EXPECT_FALSE(fs::exists(dir_ / "root" / ".staging" / std::to_string(execs.back().id)));
}

TEST_F(PipelineTest, KilledExecutorLeavesNothingPublishedAndRerunCompletes) {
  fs::path marker = dir_ / "kill-now";
  write_file_atomic(marker, "");
  Pipeline p = data_pipeline();
  p.components.push_back(probe({{"kill_marker", marker.string()}}));
  ::testing::FLAGS_gtest_death_test_style = "fast";
  EXPECT_EXIT(LocalDagRunner().run(p), ::testing::KilledBySignal(SIGKILL), "");
  {
    auto store = open_sqlite_metadata_store(p.metadata_file());
    EXPECT_TRUE(store->artifacts(artifact_types::kModel).empty());
    EXPECT_EQ(store->executions().back().component_id, "Probe");
    EXPECT_EQ(store->executions().back().state, execution_state::kRunning);
    EXPECT_FALSE(fs::exists(dir_ / "root" / "Probe"));
  }
  fs::remove(marker);
  RunResult rerun = LocalDagRunner().run(p);
  EXPECT_TRUE(rerun.get("ExampleGen").cached);  // the data components finished before the kill
  EXPECT_FALSE(rerun.get("Probe").cached);
  fs::path result = rerun.get("Probe").outputs.at("result")[0].uri;
  EXPECT_TRUE(fs::exists(result / "done.txt"));
  auto store = open_sqlite_metadata_store(p.metadata_file());
  EXPECT_EQ(store->artifacts(artifact_types::kModel).size(), 1u);
  size_t abandoned = 0;
  for (const auto& e : store->executions()) abandoned += e.state == execution_state::kAbandoned;
  EXPECT_EQ(abandoned, 1u);
  EXPECT_FALSE(fs::exists(dir_ / "root" / ".staging"));
}

TEST_F(PipelineTest, ExecutorsCanRunInTheirOwnProcess) {
  Pipeline p = data_pipeline();
  RunResult r = LocalDagRunner().run(p, {.executor_program = LITEPIPE_BINARY});
  const Artifact& schema = r.get("SchemaGen").outputs.at("schema")[0];
  json s = read_json_file(fs::path(schema.uri) / "schema.json");
  EXPECT_EQ(s["feature"].size(), 2u);
  EXPECT_EQ(r.get("ExampleGen").outputs.at("examples")[0].split_names(), (std::vector<std::string>{"train", "eval"}));
}

}  // namespace
}  // namespace litepipe
