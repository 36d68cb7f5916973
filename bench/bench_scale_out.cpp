// The scale-out modes of one pipeline (issue "Done when"): (a) run locally, (b) as one Slurm job
// per component on a one-node cluster started here, with the metadata on a PostgreSQL server
// started here, (c) locally with every Trainer on `num_workers` MPI processes. Prints each mode's
// wall time, its Trainers' time (their executions in the metadata store, summed), each
// Evaluator's Overall accuracy, and whether the data components' outputs
// (ExampleGen, StatisticsGen, SchemaGen, ExampleValidator, Transform) equal mode (a)'s, file for
// file. Exits non-zero when a mode fails, a data output differs, or an accuracy is more than
// --tolerance from (a)'s.
//   bench_scale_out --litepipe build/litepipe --pipeline examples/mnist/pipeline.yaml --work DIR
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "core/files.h"
#include "eval/evaluate.h"
#include "file_contents.h"
#include "pipeline/metadata_store.h"
#include "postgres_server.h"
#include "slurm_cluster.h"

namespace fs = std::filesystem;
using namespace litepipe;
using nlohmann::json;

namespace {

// The components whose outputs must not depend on where they ran.
const std::vector<std::string> kDataComponents = {"ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform"};

struct Mode {
  std::string name = {};
  std::string title = {};
  int trainer_workers = 1;
  bool slurm = false;
  fs::path root = {};
  std::string metadata = {};  // the store's URL
  double seconds = 0;
  double trainer_seconds = 0;  // the Trainers' executions, end - start, summed
  std::map<std::string, double> accuracy = {};  // by Evaluator id
};

// Paths in a pipeline file are relative to the file; the copies live elsewhere.
std::string absolute_from(const fs::path& base, const std::string& path) {
  return fs::path(path).is_absolute() ? path : (base / path).lexically_normal().string();
}

// The pipeline for one mode: its own root and Pusher destinations under the mode's folder, the
// file's other relative paths made absolute, and the Trainers' train_args.num_workers (and
// num_steps, when `train_steps` is set).
fs::path write_mode_pipeline(const fs::path& pipeline_file, const Mode& mode, const fs::path& dir, int64_t train_steps) {
  YAML::Node doc = YAML::LoadFile(pipeline_file.string());
  fs::path base = fs::absolute(pipeline_file).parent_path();
  doc["pipeline_root"] = mode.root.string();
  for (YAML::Node component : doc["components"]) {
    YAML::Node params = component["parameters"];
    if (!params) continue;
    for (const char* key : {"module_file", "input_base"})
      if (params[key] && params[key].as<std::string>() != "builtin") params[key] = absolute_from(base, params[key].as<std::string>());
    if (params["push_destination"] && params["push_destination"]["filesystem"]) {
      std::string id = component["id"] ? component["id"].as<std::string>() : "default";
      params["push_destination"]["filesystem"]["base_directory"] = (dir / "serving_model" / id).string();
    }
    if (component["component"].as<std::string>() != "Trainer") continue;
    if (mode.trainer_workers > 1) params["train_args"]["num_workers"] = mode.trainer_workers;
    if (train_steps > 0) params["train_args"]["num_steps"] = train_steps;
  }
  YAML::Emitter out;
  out << doc;
  fs::path file = dir / "pipeline.yaml";
  write_file_atomic(file, out.c_str());
  return file;
}

// The one published folder of `component`'s output `key` (each mode has a fresh root, so one
// execution: <root>/<component>/<key>/<execution id>).
fs::path output_dir(const fs::path& root, const std::string& component, const std::string& key) {
  std::vector<fs::path> found;
  if (fs::is_directory(root / component / key))
    for (const auto& entry : fs::directory_iterator(root / component / key)) found.push_back(entry.path());
  if (found.size() != 1) fail("{}: expected one published {} output of {}, found {}", root.string(), key, component, found.size());
  return found[0];
}

// Every Evaluator's Overall sparse_categorical_accuracy, by component id.
std::map<std::string, double> accuracies(const fs::path& root) {
  std::map<std::string, double> by_id;
  for (const auto& entry : fs::directory_iterator(root)) {
    std::string id = entry.path().filename().string();
    if (!id.starts_with("Evaluator")) continue;
    fs::path metrics_file = output_dir(root, id, "evaluation") / "metrics.json";
    json metrics = read_json_file(metrics_file);
    for (const json& slice : metrics.at("slices")) {
      if (slice.value("slice_key", "") != eval::kOverallSliceKey) continue;
      if (!slice["metrics"].contains("sparse_categorical_accuracy")) fail("{}: no sparse_categorical_accuracy in the Overall slice", metrics_file.string());
      by_id[id] = slice["metrics"]["sparse_categorical_accuracy"]["value"].get<double>();
    }
  }
  return by_id;
}

// The seconds the Trainer executions of run `run` took, summed (as the store recorded them).
double trainer_seconds(const std::string& metadata_url, const std::string& run) {
  auto store = open_metadata_store(metadata_url);
  double seconds = 0;
  for (const auto& context : store->contexts("run")) {
    if (!context.name.ends_with(":" + run)) continue;
    for (const auto& e : store->executions(context.id))
      if (e.component_type == "Trainer") seconds += e.end_time - e.start_time;
  }
  return seconds;
}

// "identical (N files)" or the first differences, for every output of the data components.
std::pair<bool, std::string> compare_data_outputs(const fs::path& a, const fs::path& b) {
  size_t files = 0;
  std::string differences;
  for (const std::string& component : kDataComponents) {
    for (const auto& key_dir : fs::directory_iterator(a / component)) {
      std::string key = key_dir.path().filename().string();
      auto mine = testing::files_under(output_dir(a, component, key)), theirs = testing::files_under(output_dir(b, component, key));
      for (const auto& [name, content] : mine) {
        ++files;
        auto it = theirs.find(name);
        if (it == theirs.end() || it->second != content) differences += fmt::format(" {}.{}/{}", component, key, name);
      }
      if (theirs.size() != mine.size()) differences += fmt::format(" {}.{}: {} files, (a) {}", component, key, theirs.size(), mine.size());
    }
  }
  if (differences.empty()) return {true, fmt::format("identical ({} files)", files)};
  return {false, "differ:" + differences};
}

int run_command(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The pipeline locally, as Slurm jobs with PostgreSQL metadata, and with its Trainers on MPI: wall time, accuracy, data outputs"};
  fs::path litepipe_program, pipeline_file, work;
  int workers = 2;
  double tolerance = 0.005;
  int64_t train_steps = 0;
  app.add_option("--litepipe", litepipe_program, "The litepipe program")->required()->check(CLI::ExistingFile);
  // The last given: bench/scale_out.sh names the MNIST pipeline before the caller's arguments.
  app.add_option("--pipeline", pipeline_file, "Pipeline file")->required()->check(CLI::ExistingFile)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--work", work, "Empty folder for the three runs")->required();
  app.add_option("--workers", workers, "Trainer processes in mode (c)")->check(CLI::Range(2, 64));
  app.add_option("--tolerance", tolerance, "Largest accuracy difference to (a) accepted");
  app.add_option("--train-steps", train_steps, "Every Trainer's train_args.num_steps (default: the file's)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    litepipe_program = fs::absolute(litepipe_program);
    work = fs::absolute(work);
    fs::create_directories(work);
    std::string missing;
    auto programs = testing::slurm_programs(missing);
    if (!missing.empty()) fail("not installed: {} ({})", missing, testing::kSlurmInstallHint);
    auto bindir = testing::postgres_bindir();
    if (!bindir) fail("{}", testing::kPostgresInstallHint);

    std::vector<Mode> modes = {{"a", "(a) local", 1, false},
                               {"b", "(b) Slurm jobs, PostgreSQL metadata", 1, true},
                               {"c", fmt::format("(c) local, Trainers on mpirun -np {}", workers), workers, false}};
    std::fprintf(stderr, "starting a PostgreSQL server and a one-node Slurm cluster...\n");
    testing::PostgresServer postgres(*bindir);
    postgres.create_database("scale_out");
    testing::SlurmCluster cluster(programs);

    for (Mode& mode : modes) {
      fs::path dir = work / mode.name;
      fs::remove_all(dir);
      fs::create_directories(dir);
      mode.root = dir / "root";
      fs::path file = write_mode_pipeline(pipeline_file, mode, dir, train_steps);
      std::string command = fmt::format("{} run {} --run scale-out", testing::shell_quoted(litepipe_program.string()), testing::shell_quoted(file.string()));
      mode.metadata = mode.slurm ? postgres.url("scale_out") : sqlite_metadata_url(mode.root / "metadata.sqlite");
      if (mode.slurm) {
        command += fmt::format(" --runner slurm --partition {} --metadata {}", testing::SlurmCluster::kPartition, testing::shell_quoted(mode.metadata));
      }
      fs::path log = dir / "run.log";
      std::fprintf(stderr, "%s: %s (log %s)\n", mode.title.c_str(), command.c_str(), log.c_str());
      auto start = std::chrono::steady_clock::now();
      int rc = run_command(command + " > " + testing::shell_quoted(log.string()) + " 2>&1");
      mode.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (rc != 0) fail("{} failed (exit {}):\n{}{}", mode.title, rc, read_file(log), mode.slurm ? cluster.logs() : "");
      mode.accuracy = accuracies(mode.root);
      mode.trainer_seconds = trainer_seconds(mode.metadata, "scale-out");
    }

    bool ok = true;
    std::printf("\n%-44s %9s %9s", "mode", "wall", "Trainers");
    for (const auto& [id, _] : modes[0].accuracy) std::printf(" %26s", (id + " acc").c_str());
    std::printf("  data components vs (a)\n");
    for (const Mode& mode : modes) {
      std::printf("%-44s %8.1fs %8.1fs", mode.title.c_str(), mode.seconds, mode.trainer_seconds);
      for (const auto& [id, accuracy] : modes[0].accuracy) {
        double mine = mode.accuracy.count(id) ? mode.accuracy.at(id) : NAN;
        std::printf(" %17.4f (%+.4f)", mine, mine - accuracy);
        if (!(std::abs(mine - accuracy) <= tolerance)) ok = false;
      }
      if (&mode == &modes[0]) {
        std::printf("  -\n");
        continue;
      }
      auto [same, text] = compare_data_outputs(modes[0].root, mode.root);
      ok = ok && same;
      std::printf("  %s\n", text.c_str());
    }
    std::printf("\n%s: data components identical, accuracy within %.4f of (a)\n", ok ? "PASS" : "FAIL", tolerance);
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_scale_out: %s\n", e.what());
    return 1;
  }
}
