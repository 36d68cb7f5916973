#include "jobs_pipeline.h"

#include <gtest/gtest.h>

#include "core/files.h"
#include "test_helpers.h"

namespace litepipe::testing {

namespace {

const char* kJobsPipeline = R"(pipeline_name: jobs
pipeline_root: local
components:
  - component: ExampleGen
    parameters: {input_base: data}
  - component: StatisticsGen
    inputs: {examples: ExampleGen.examples}
  - component: SchemaGen
    inputs: {statistics: StatisticsGen.statistics}
  - component: ExampleValidator
    inputs: {statistics: StatisticsGen.statistics, schema: SchemaGen.schema}
  - component: Transform
    inputs: {examples: ExampleGen.examples, schema: SchemaGen.schema}
    parameters:
      preprocessing_fn:
        - {output: image_floats_xf, op: scale_by_min_max, input: image_floats, output_min: -0.5, output_max: 0.5}
        - {output: image_class, op: identity, input: image_class}
  - component: Trainer
    inputs: {examples: Transform.transformed_examples, transform_graph: Transform.transform_graph, schema: SchemaGen.schema}
    parameters: {module_file: MODULE, run_fn: run_fn, train_args: {num_steps: 40}, eval_args: {num_steps: 5}}
  - component: Evaluator
    inputs: {examples: ExampleGen.examples, model: Trainer.model}
    parameters:
      eval_config:
        model_specs: [{label_key: image_class}]
        slicing_specs: [{}, {feature_keys: [image_class]}]
        metrics_specs: [{metrics: [{class_name: SparseCategoricalAccuracy}, {class_name: SparseCategoricalCrossentropy}]}]
)";

}  // namespace

std::filesystem::path write_jobs_pipeline(const std::filesystem::path& dir) {
  write_idx_pair(dir / "data", "train", 240, true);
  std::string text = kJobsPipeline;
  text.replace(text.find("MODULE"), 6, LITEPIPE_TEST_MODULE);
  std::filesystem::path file = dir / "pipeline.yaml";
  write_file_atomic(file, text);
  return file;
}

size_t expect_same_outputs(MetadataStore& store, int64_t execution_id, const ComponentRun& local, const std::filesystem::path& root) {
  size_t compared = 0;
  for (const auto& ev : store.events_by_execution(execution_id)) {
    if (ev.type != "OUTPUT") continue;
    std::filesystem::path job_uri = store.artifact(ev.artifact_id)->uri;
    std::filesystem::path local_uri = local.outputs.at(ev.key).at(static_cast<size_t>(ev.index)).uri;
    EXPECT_TRUE(job_uri.string().starts_with(root.string())) << job_uri;
    auto job_files = files_under(job_uri), local_files = files_under(local_uri);
    EXPECT_EQ(job_files.size(), local_files.size()) << local.component_id << "." << ev.key;
    for (const auto& entry : local_files) {
      if (entry.first == "metrics.json" || entry.first == "eval_config.json") continue;  // compared below
      EXPECT_TRUE(job_files[entry.first] == entry.second) << local.component_id << "." << ev.key << ": " << entry.first << " differs";
      ++compared;
    }
    if (ev.key == "evaluation") {
      auto a = read_json_file(local_uri / "metrics.json"), b = read_json_file(job_uri / "metrics.json");
      EXPECT_EQ(a["slices"], b["slices"]);
      EXPECT_GT(a["slices"].size(), 1u);
    }
  }
  return compared;
}

}  // namespace litepipe::testing
