#include "components/workers.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/files.h"
#include "core/process.h"
#include "pipeline/runner.h"

namespace litepipe {
namespace {

using nlohmann::json;

// The `litepipe` program that runs each worker (`litepipe execute --invocation FILE`):
// LITEPIPE_PROGRAM, or this process when it is litepipe.
fs::path litepipe_program(const std::string& component_type, const std::string& field) {
  if (const char* program = std::getenv("LITEPIPE_PROGRAM"); program && *program) return program;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && self.filename() == "litepipe") return self;
  fail("{}: {} > 1 starts `litepipe execute` under mpirun, but this program ({}) is not litepipe: "
       "run the pipeline with `litepipe run`, or set LITEPIPE_PROGRAM to the litepipe program",
       component_type, field, self.string());
}

}  // namespace

bool runs_on_several_processes(const std::string& component_type) {
  return component_type == "Trainer" || component_type == "ExampleGen" || component_type == "StatisticsGen" || component_type == "Evaluator";
}

int checked_int_in_range(const json& value, const std::string& field, int if_null, int lowest, int highest, const std::string& lowest_means) {
  if (value.is_null()) return if_null;
  if (!value.is_number_integer() || value.get<int64_t>() < lowest || value.get<int64_t>() > highest) {
    fail("{} must be an integer from {}{} to {}, got {}", field, lowest, lowest_means.empty() ? "" : " (" + lowest_means + ")", highest,
         value.dump());
  }
  return value.get<int>();
}

int checked_num_workers(const json& value, const std::string& field) { return checked_int_in_range(value, field, 1, 1, kMaxWorkers); }

ParamSpec num_workers_param(const std::string& component) {
  ParamSpec p = optional_param(ParamType::Int);
  p.check = [component](const json& v) { checked_num_workers(v, component + ": num_workers"); };
  return p;
}

void launch_workers(const std::string& component_type, const std::string& field, int workers, const ArtifactMap& inputs, ArtifactMap& outputs,
                    const json& props, const ExecutorContext& context) {
  fs::path dir = context.tmp_dir / "workers";
  fs::create_directories(dir / "tmp");
  fs::path invocation_file = dir / "invocation.json";
  write_json_file_atomic(invocation_file, invocation_json(component_type, {context.pipeline_root, context.component_id, context.execution_id, dir / "tmp"},
                                                          inputs, outputs, props));
  std::vector<std::string> command = {"mpirun", "-np", std::to_string(workers),
                                      "--oversubscribe",      // more workers than cores still runs (slowly) instead of failing
                                      "--bind-to", "none"};   // each rank's own threads (below) share the machine
  if (::geteuid() == 0) command.push_back("--allow-run-as-root");
  if (!std::getenv("OMP_NUM_THREADS")) {
    // Each rank's threads: the cores shared among the ranks, not every core for each.
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    command.insert(command.end(), {"-x", fmt::format("OMP_NUM_THREADS={}", std::max(1u, cores / static_cast<unsigned>(workers)))});
  }
  command.insert(command.end(), {litepipe_program(component_type, field).string(), "execute", "--invocation", invocation_file.string()});
  spdlog::info("{}: {}", component_type, fmt::join(command, " "));
  int status = 0;
  try {
    status = run_program(command);
  } catch (const Error& e) {
    fail("{}: {} {}: {} (mpirun is Open MPI's: apt-get install openmpi-bin)", component_type, field, workers, e.what());
  }

  std::vector<std::string> errors;
  for (int rank = 0; rank < workers; ++rank) {
    fs::path result = invocation_result_file(invocation_file, rank);
    if (!fs::exists(result)) continue;
    json reply = read_json_file(result);
    if (reply.contains("error")) errors.push_back(fmt::format("rank {} of {}: {}", rank, workers, reply["error"].get<std::string>()));
  }
  if (!errors.empty()) fail("{}: {}", component_type, fmt::join(errors, "; "));
  fs::path chief_result = invocation_result_file(invocation_file, 0);
  if (status != 0 || !fs::exists(chief_result)) {
    fail("{}: mpirun -np {} exited with status {} and no rank reported an error (see the log above)", component_type, workers, status);
  }
  outputs = artifact_map_from_json(read_json_file(chief_result).at("outputs"));
}

}  // namespace litepipe
