#pragma once
// The CLI's subcommands, callable from tests without spawning the program.
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "pipeline/metadata_store.h"

namespace litepipe {

struct RunCommand {
  std::string pipeline_file;
  std::string pipeline_root;
  bool no_cache = false;
  bool no_wait = false;
  bool executor_process = false;
  std::string component;  // only this component, as one job of the run `run_id`
  std::string run_id;     // names the run; its record is created when first used
  std::string metadata;   // metadata URL (default: the pipeline's SQLite file)
  std::string runner = "local";  // local | slurm (one batch job per component)
  std::string partition;         // slurm: the partition to submit to (default: the cluster's)
};
int run_pipeline(const RunCommand& command, const char* argv0);

struct InspectCommand {
  std::string what;
  std::optional<int64_t> id;
  std::string pipeline_file;
  std::string pipeline_root;
  std::string run;
  std::string type;
  std::string metadata;  // metadata URL (default: the pipeline's SQLite file)
};
int inspect_metadata(const InspectCommand& command, std::ostream& out);

// The store a reading command (inspect, metrics, compare) looks at: `metadata_url` when given,
// else the pipeline's SQLite file `metadata_file`, which must exist (reading never creates a
// store). `where` names it in messages (a URL without its password, or the file).
struct StoreToRead {
  std::unique_ptr<MetadataStore> store;
  std::string where;
};
StoreToRead open_store_to_read(const std::string& metadata_url, const std::filesystem::path& metadata_file);

// Reads the invocation, runs the executor, writes `result.json` beside it ({"outputs"} or
// {"error"}); exit status 0 when the executor succeeded.
int execute_from_file(const std::string& invocation_file);

}  // namespace litepipe
