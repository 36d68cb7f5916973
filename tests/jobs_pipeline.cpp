#include "jobs_pipeline.h"

#include <gtest/gtest.h>

#include "core/files.h"
#include "data/tfrecord.h"
#include "tensorflow/core/example/example.pb.h"
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

std::map<std::string, std::string> files_under(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::string name = std::filesystem::relative(entry.path(), dir).string(), content;
    if (name.find(".tfrecord") != std::string::npos) {
      TFRecordReader reader(entry.path());
      tensorflow::Example example;
      for (std::string record; reader.next(record);) {
        EXPECT_TRUE(example.ParseFromString(record)) << entry.path();
        content += example.DebugString();
      }
    } else {
      content = read_file(entry.path());
    }
    files[name] = content;
  }
  return files;
}

}  // namespace litepipe::testing
