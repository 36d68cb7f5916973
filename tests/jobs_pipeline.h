#pragma once
// The small MNIST-like pipeline of the component-job and metadata-store tests, and a way to
// compare what two runs of it wrote.
#include <filesystem>
#include <map>
#include <string>

#include "file_contents.h"
#include "pipeline/metadata_store.h"
#include "pipeline/runner.h"

namespace litepipe::testing {

// Writes 240 MNIST-style digits under `dir`/data and `dir`/pipeline.yaml (pipeline "jobs", root
// `dir`/local): the data components, Transform, a Trainer (the test module) and an Evaluator.
// Returns the pipeline file.
std::filesystem::path write_jobs_pipeline(const std::filesystem::path& dir);

// Checks (gtest) that the outputs execution `execution_id` recorded in `store` hold, file for file,
// what `local` (the same component in a local run) wrote, and that they lie under `root`;
// evaluations are compared by their metric slices (their files name the model's path). Returns
// the number of files compared.
size_t expect_same_outputs(MetadataStore& store, int64_t execution_id, const ComponentRun& local, const std::filesystem::path& root);

}  // namespace litepipe::testing
