#pragma once
// LocalDagRunner: runs a pipeline's components in dependency order on this machine. Each
// execution is recorded in the metadata store; its outputs are written to a staging folder and
// published (rename + one transaction) only after the executor succeeds, so a killed run never
// leaves an artifact recorded as published, and running again completes the work.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/metadata_store.h"
#include "pipeline/pipeline.h"
#include "pipeline/registry.h"

namespace litepipe {

struct RunOptions {
  bool enable_cache = true;  // and the pipeline's own enable_cache
  // Empty: executors run in this process. Otherwise the path of the `litepipe` program: each
  // executor runs as `litepipe execute --invocation FILE` in its own process, the way a cluster
  // runner would launch it on another machine.
  std::filesystem::path executor_program = {};
  // One run per pipeline root at a time (a lock file naming the holder's pid and host): a second
  // run waits for the first, or with wait_for_lock = false fails at once naming the holder.
  bool wait_for_lock = true;
  // The run's name in the metadata store (empty: a new one from the time and pid). Naming it lets
  // separately scheduled component jobs share one run; the record is created when first used.
  std::string run_id = {};
  // Where the metadata lives (see open_metadata_store); empty: the pipeline's SQLite file.
  std::string metadata_url = {};
};

struct ComponentRun {
  std::string component_id;
  int64_t execution_id = 0;
  bool cached = false;
  double seconds = 0;
  ArtifactMap outputs;
};

struct RunResult {
  std::string run_id;
  std::vector<ComponentRun> components;
  const ComponentRun& get(const std::string& component_id) const;
};

class LocalDagRunner {
 public:
  RunResult run(const Pipeline& pipeline, const RunOptions& options = {});
};

// Components as jobs: runs one component of `pipeline` in the run `options.run_id` (required),
// the unit a scheduler launches. Its inputs are the outputs its upstream components last published
// in that run; an upstream that has not completed there is an error naming it. Cache, staging and
// publishing are LocalDagRunner's own code path. Takes no root lock: jobs of one run overlap.
ComponentRun run_component(const Pipeline& pipeline, const std::string& component_id, const RunOptions& options);

// A new run id: the UTC time and this process's id ("2024-05-01T12:00:00.123Z-4242").
std::string new_run_id();

// The run context's name in the metadata store: "<pipeline name>:<run id>".
std::string run_context_name(const Pipeline& pipeline, const std::string& run_id);

// The invocation file's JSON: what `litepipe execute --invocation FILE` runs.
nlohmann::json invocation_json(const std::string& component_type, const ExecutorContext& context, const ArtifactMap& inputs,
                               const ArtifactMap& outputs, const nlohmann::json& exec_properties);
// Where `litepipe execute --invocation FILE` writes its result ({outputs} or {error}): result.json
// beside FILE; in a job of several MPI ranks, rank r > 0 writes result-rank-<r>.json.
std::filesystem::path invocation_result_file(const std::filesystem::path& invocation_file, int rank = 0);

// The executor half, for `litepipe execute`: runs one invocation (JSON: component_type,
// component_id, execution_id, pipeline_root, tmp_dir, inputs, outputs, exec_properties) and
// returns the outputs as the executor left them.
nlohmann::json execute_invocation(const ComponentRegistry& registry, const nlohmann::json& invocation);

std::string host_name();

}  // namespace litepipe
