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

// The executor half, for `litepipe execute`: runs one invocation (JSON: component_type,
// component_id, execution_id, pipeline_root, tmp_dir, inputs, outputs, exec_properties) and
// returns the outputs as the executor left them.
nlohmann::json execute_invocation(const ComponentRegistry& registry, const nlohmann::json& invocation);

std::string host_name();

}  // namespace litepipe
