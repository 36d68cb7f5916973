#include "cli/commands.h"

#include <unistd.h>

#include <chrono>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "components/builtin.h"
#include "components/workers.h"
#include "core/error.h"
#include "core/files.h"
#include "distributed/world.h"
#include "pipeline/runner.h"
#include "pipeline/yaml_pipeline.h"
#include "runners/slurm_runner.h"

namespace litepipe {
namespace {

std::string format_time(double seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

fs::path self_program(const char* argv0) {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::absolute(argv0) : exe;
}

}  // namespace

int run_pipeline(const RunCommand& command, const char* argv0) {
  auto start = std::chrono::steady_clock::now();
  if (distributed::LaunchInfo launch = distributed::launch_info_from_environment(); launch.size > 1) {
    fail("litepipe run was started as one of {} processes ({}); run the pipeline once: a Trainer with train_args.num_workers "
         "(ExampleGen, StatisticsGen, Evaluator: num_workers) starts its own workers, and `mpirun -np K litepipe execute --invocation FILE` "
         "runs one such execution on K processes",
         launch.size, launch.source);
  }
  Pipeline pipeline = load_pipeline_file(command.pipeline_file, builtin_components());
  if (!command.pipeline_root.empty()) pipeline.root = fs::absolute(command.pipeline_root);
  if (pipeline.root.empty()) fail("{}: no pipeline_root (set it in the file or pass --pipeline-root)", command.pipeline_file);
  try {
    build_pipeline(pipeline);  // wiring errors name the pipeline file
  } catch (const Error& e) {
    fail("{}: {}", command.pipeline_file, e.what());
  }
  RunOptions options;
  options.enable_cache = !command.no_cache;
  options.wait_for_lock = !command.no_wait;
  options.run_id = command.run_id;
  options.metadata_url = command.metadata;
  if (command.executor_process) options.executor_program = self_program(argv0);
  if (command.runner == "slurm") {
    // The jobs run `--component` themselves; these choose what the runner does here.
    if (!command.component.empty()) fail("--runner slurm runs every component as its own job; drop --component {}", command.component);
    if (command.executor_process) fail("--runner slurm: each component already runs in its own job; drop --executor-process");
    SlurmOptions slurm{.program = self_program(argv0), .pipeline_file = fs::absolute(command.pipeline_file), .run_id = command.run_id,
                       .metadata_url = command.metadata, .partition = command.partition, .enable_cache = !command.no_cache};
    SlurmRunResult result = run_on_slurm(pipeline, slurm);
    if (!result.ok()) fail("pipeline {}: run {} on Slurm did not complete:\n{}", pipeline.name, result.run_id, result.failure_report());
    return 0;
  }
  if (!command.partition.empty()) fail("--partition {}: only with --runner slurm", command.partition);
  if (!command.component.empty()) {
    if (command.run_id.empty()) fail("--component {}: pass --run RUN_ID, the run this job belongs to", command.component);
    ComponentRun run = run_component(pipeline, command.component, options);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("{} of run {} finished in {:.2f}s ({}, execution {})", command.component, command.run_id, seconds,
                 run.cached ? "from cache" : "executed", run.execution_id);
    return 0;
  }
  RunResult result = LocalDagRunner().run(pipeline, options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  size_t cached = 0;
  for (const auto& c : result.components) cached += c.cached;
  spdlog::info("pipeline {} finished in {:.2f}s: {} components, {} from cache; artifacts under {}", pipeline.name, seconds,
               result.components.size(), cached, pipeline.root.string());
  return 0;
}

StoreToRead open_store_to_read(const std::string& metadata_url, const fs::path& metadata_file) {
  std::string text = metadata_url.empty() ? sqlite_metadata_url(metadata_file) : metadata_url;
  MetadataUrl url = parse_metadata_url(text);
  if (url.scheme == "sqlite" && !fs::exists(url.location)) fail("{}: no metadata store (has the pipeline run?)", url.location);
  return {open_metadata_store(text), url.scheme == "sqlite" ? url.location : url.display};
}

int inspect_metadata(const InspectCommand& command, std::ostream& out) {
  fs::path root = command.pipeline_root;
  fs::path metadata;
  if (!command.pipeline_file.empty()) {
    Pipeline p = load_pipeline_file(command.pipeline_file, builtin_components());
    if (root.empty()) root = p.root;
    metadata = p.metadata_path;
  }
  if (root.empty() && command.metadata.empty()) fail("inspect: pass --metadata URL, --pipeline-root DIR or --pipeline FILE");
  if (metadata.empty()) metadata = root / "metadata.sqlite";
  auto store = open_store_to_read(command.metadata, metadata).store;

  if (command.what == "runs") {
    for (const auto& ctx : store->contexts("run")) {
      auto execs = store->executions(ctx.id);
      size_t cached = 0, failed = 0;
      for (const auto& e : execs) {
        cached += e.state == execution_state::kCached;
        failed += e.state == execution_state::kFailed || e.state == execution_state::kAbandoned;
      }
      out << fmt::format("{}  {}  {} executions ({} cached, {} failed)\n", ctx.name, format_time(ctx.create_time),
                         execs.size(), cached, failed);
    }
  } else if (command.what == "executions") {
    std::optional<int64_t> context;
    if (!command.run.empty()) {
      auto runs = store->contexts("run");
      for (const auto& r : runs)
        if (r.name == command.run || r.name.ends_with(":" + command.run)) context = r.id;
      if (command.run == "latest" && !runs.empty()) context = runs.back().id;
      if (!context) fail("inspect: no run named '{}'", command.run);
    }
    for (const auto& e : store->executions(context)) {
      out << fmt::format("{:>5}  {:<28} {:<9} {:7.2f}s  {}\n", e.id, e.component_id, e.state,
                         e.end_time > 0 ? e.end_time - e.start_time : 0.0, format_time(e.start_time));
      if (!e.error.empty()) out << "       error: " << e.error << "\n";
    }
  } else if (command.what == "artifacts") {
    for (const auto& a : store->artifacts(command.type)) {
      out << fmt::format("{:>5}  {:<18} {}  {}\n", a.id, a.type, a.uri, a.properties.dump());
    }
  } else {  // lineage
    int64_t id = 0;
    if (command.id) {
      id = *command.id;
    } else {
      auto all = store->artifacts(command.type);
      if (all.empty()) fail("inspect lineage: no artifacts{}", command.type.empty() ? "" : " of type " + command.type);
      id = all.back().id;
    }
    for (const auto& step : trace_lineage(*store, id)) {
      std::string indent(static_cast<size_t>(step.depth) * 2, ' ');
      out << fmt::format("{}{} #{} {}", indent, step.artifact.type, step.artifact.id, step.artifact.uri);
      if (step.producer) out << fmt::format("  <- {} (execution {})", step.producer->component_id, step.producer->id);
      out << "\n";
    }
  }
  return 0;
}

int execute_from_file(const std::string& invocation_file) {
  // Under mpirun / srun every rank runs this; each writes its own result.
  distributed::LaunchInfo launch = distributed::launch_info_from_environment();
  fs::path result_file = invocation_result_file(invocation_file, launch.rank);
  try {
    nlohmann::json invocation = read_json_file(invocation_file);
    if (launch.size > 1 && !runs_on_several_processes(invocation.value("component_type", ""))) {
      fail("{}: started as one of {} processes ({}), but only the Trainer, ExampleGen, StatisticsGen and Evaluator run on several; run {} once",
           invocation_file, launch.size,
           launch.source, invocation.value("component_id", "this component"));
    }
    nlohmann::json outputs = execute_invocation(builtin_components(), invocation);
    write_json_file_atomic(result_file, {{"outputs", outputs}});
    return 0;
  } catch (const std::exception& e) {
    write_json_file_atomic(result_file, {{"error", e.what()}});
    spdlog::error("{}{}", launch.size > 1 ? fmt::format("rank {} of {}: ", launch.rank, launch.size) : "", e.what());
    // The other ranks may be waiting for this one in a collective: end them all now.
    if (launch.size > 1) distributed::world().abort(1);
    return 1;
  }
}

}  // namespace litepipe
