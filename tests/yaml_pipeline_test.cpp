#include "components/builtin.h"
#include "core/files.h"
#include "pipeline/runner.h"
#include "pipeline/yaml_pipeline.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using testing::expect_error;

class YamlPipelineTest : public testing::TempDirTest {
 protected:
  fs::path write(const std::string& text) {
    fs::path path = dir_ / "pipeline.yaml";
    write_file_atomic(path, text);
    return path;
  }
  const std::string valid = R"(pipeline_name: demo
pipeline_root: out
components:
  - component: ExampleGen
    parameters:
      input_base: data
      output_config:
        split_config:
          splits: [{name: train, hash_buckets: 3}, {name: eval, hash_buckets: 1}]
  - component: StatisticsGen
    inputs: {examples: ExampleGen.examples}
  - component: SchemaGen
    inputs: {statistics: StatisticsGen.statistics}
    parameters: {infer_feature_shape: true}
  - component: ExampleValidator
    inputs: {statistics: StatisticsGen.statistics, schema: SchemaGen.schema}
    parameters: {drift_threshold: 0.5}
)";
};

TEST_F(YamlPipelineTest, BuildsTheSameObjectsAsTheCppApiAndRuns) {
  testing::write_idx_pair(dir_ / "data", "train", 40, false);
  Pipeline p = load_pipeline_file(write(valid), builtin_components());
  EXPECT_EQ(p.name, "demo");
  EXPECT_EQ(p.root, dir_ / "out");
  ASSERT_EQ(p.components.size(), 4u);
  EXPECT_EQ(p.components[0]->exec_properties()["input_base"], (dir_ / "data").string());
  EXPECT_EQ(p.components[3]->inputs().at("schema").producer, p.components[2].get());
  RunResult r = LocalDagRunner().run(p);
  auto counts = r.get("ExampleGen").outputs.at("examples")[0].properties["num_examples"];
  EXPECT_EQ(counts["train"].get<int>() + counts["eval"].get<int>(), 40);
  EXPECT_GT(counts["train"].get<int>(), counts["eval"].get<int>());
}

TEST_F(YamlPipelineTest, WithIdGivesInstanceIds) {
  std::string text = valid + R"(  - component: StatisticsGen
    id: again
    inputs: {examples: ExampleGen.examples}
  - component: SchemaGen
    id: again
    inputs: {statistics: StatisticsGen.again.statistics}
)";
  Pipeline p = load_pipeline_file(write(text), builtin_components());
  EXPECT_EQ(p.components[5]->id(), "SchemaGen.again");
  EXPECT_EQ(p.components[5]->inputs().at("statistics").producer->id(), "StatisticsGen.again");
}

TEST_F(YamlPipelineTest, MalformedYamlNamesFileAndLine) {
  fs::path path = write("pipeline_name: x\ncomponents:\n  - component: [unclosed\n");
  expect_error([&] { load_pipeline_file(path, builtin_components()); }, {path.string(), "malformed YAML"});
}

TEST_F(YamlPipelineTest, UnknownFieldsComponentsParametersAndInputsAreNamed) {
  fs::path path = write("pipeline_name: x\npipeline_rot: y\ncomponents: []\n");
  expect_error([&] { load_pipeline_file(path, builtin_components()); }, {path.string() + ":2:1", "unknown field 'pipeline_rot'"});
  path = write("pipeline_name: x\ncomponents:\n  - component: Trainr\n");
  expect_error([&] { load_pipeline_file(path, builtin_components()); }, {":3:", "unknown component 'Trainr'", "StatisticsGen"});
  path = write("pipeline_name: x\ncomponents:\n  - component: ExampleGen\n    parameters: {input_base: d, shards: 3}\n");
  expect_error([&] { load_pipeline_file(path, builtin_components()); }, {":3:", "unknown parameter 'shards'"});
  path = write("pipeline_name: x\ncomponents:\n  - component: ExampleGen\n    parameters: {input_base: d, num_shards: many}\n");
  expect_error([&] { load_pipeline_file(path, builtin_components()); }, {"'num_shards' must be an integer", "\"many\""});
  path = write("pipeline_name: x\ncomponents:\n  - component: StatisticsGen\n    inputs: {examples: Nowhere.examples}\n");
  expect_error([&] { load_pipeline_file(path, builtin_components()); }, {":4:", "unknown component 'Nowhere'"});
  path = write("pipeline_name: x\ncomponents:\n  - component: ExampleGen\n    parameters: {input_base: d}\n  - component: StatisticsGen\n    inputs: {examples: ExampleGen.exampls}\n");
  expect_error([&] { load_pipeline_file(path, builtin_components()); }, {":6:", "no output 'exampls'"});
  path = write("pipeline_name: x\ncomponents:\n  - component: ExampleGen\n    parameters: {input_base: d}\n  - component: ExampleGen\n    parameters: {input_base: e}\n");
  expect_error([&] { load_pipeline_file(path, builtin_components()); }, {"duplicate component id 'ExampleGen'"});
}

}  // namespace
}  // namespace litepipe
