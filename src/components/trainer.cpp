#include "components/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "components/artifact_io.h"
#include "components/builtin_trainers.h"
#include "eval/evaluate.h"
#include "transform/transform_graph.h"
#include "core/error.h"
#include "core/files.h"
#include "core/process.h"
#include "core/shared_library.h"
#include "distributed/world.h"
#include "pipeline/runner.h"

namespace litepipe {
namespace {

using nlohmann::json;

// train_args / eval_args: TFX's TrainArgs / EvalArgs, fields checked by name and type.
const json& args_object(const json& props, const char* key, std::initializer_list<const char*> fields) {
  static const json empty = json::object();
  if (!props.contains(key)) return empty;
  const json& a = props[key];
  if (!a.is_object()) fail("Trainer: {} must be an object ({{num_steps: N}}), got {}", key, a.dump());
  for (const auto& entry : a.items()) {
    bool known = false;
    for (const char* f : fields) known |= entry.key() == f;
    if (!known) fail("Trainer: {}.{}: unknown field (expected {})", key, entry.key(), fmt::join(fields, ", "));
  }
  return a;
}

int64_t num_steps(const json& props, const char* key) {
  const json& a = std::string_view(key) == "train_args" ? args_object(props, key, {"num_steps", "num_workers"}) : args_object(props, key, {"num_steps"});
  if (!a.contains("num_steps")) {
    if (props.contains(key)) fail("Trainer: {}.num_steps is missing (a non-negative integer)", key);
    return 0;
  }
  if (!a["num_steps"].is_number_integer() || a["num_steps"].get<int64_t>() < 0) {
    fail("Trainer: {}.num_steps must be a non-negative integer, got {}", key, a["num_steps"].dump());
  }
  return a["num_steps"].get<int64_t>();
}

constexpr int kMaxWorkers = 1024;

// train_args.num_workers: how many processes train data-parallel (1: this one).
int num_workers(const json& props) {
  const json& a = args_object(props, "train_args", {"num_steps", "num_workers"});
  if (!a.contains("num_workers")) return 1;
  const json& w = a["num_workers"];
  if (!w.is_number_integer() || w.get<int64_t>() < 1 || w.get<int64_t>() > kMaxWorkers) {
    fail("Trainer: train_args.num_workers must be an integer from 1 to {}, got {}", kMaxWorkers, w.dump());
  }
  return w.get<int>();
}

std::vector<std::string> as_strings(const std::vector<fs::path>& paths) {
  std::vector<std::string> s;
  for (const auto& p : paths) s.push_back(p.string());
  return s;
}

// A shared library (its content is part of the cache key), or "builtin" for the no-code trainers.
ParamSpec module_file_param() {
  ParamSpec p = path_param(true, true);
  p.keywords = {kBuiltinModule};
  return p;
}

void call_run_fn(const std::string& module, const std::string& entry, const FnArgs& args) {
  if (module == kBuiltinModule) {
    run_builtin_trainer(entry, args);
    return;
  }
  RunFn* run_fn = SharedLibrary(module).symbol<RunFn>(entry);
  try {
    run_fn(args);
  } catch (const std::exception& e) {
    fail("run_fn '{}' of {} failed: {}", entry, module, e.what());
  }
}

// What the Trainer adds to the serving model run_fn wrote.
void finish_serving_model(const FnArgs& args, const std::string& entry) {
  if (fs::is_empty(args.serving_model_dir)) fail("run_fn '{}' wrote no serving model into {}", entry, args.serving_model_dir);
  // The Transform graph travels with the serving model (TFX keeps it in the SavedModel as the
  // transform_features signature): what an Evaluator's preprocessing_function_names runs.
  if (!args.transform_output.empty()) {
    fs::path dir = fs::path(args.serving_model_dir) / eval::kModelTransformDirName;
    fs::create_directories(dir);
    fs::copy_file(fs::path(args.transform_output) / transform::kTransformGraphFile, dir / transform::kTransformGraphFile,
                  fs::copy_options::overwrite_existing);
  }
}

// The `litepipe` program that runs each worker (`litepipe execute --invocation FILE`):
// LITEPIPE_PROGRAM, or this process when it is litepipe.
fs::path litepipe_program() {
  if (const char* program = std::getenv("LITEPIPE_PROGRAM"); program && *program) return program;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && self.filename() == "litepipe") return self;
  fail("Trainer: train_args.num_workers > 1 starts `litepipe execute` under mpirun, but this program ({}) is not litepipe: "
       "run the pipeline with `litepipe run`, or set LITEPIPE_PROGRAM to the litepipe program", self.string());
}

// Starts `mpirun -np K litepipe execute --invocation FILE` for this execution and waits: every
// rank runs this executor again as one of K workers (run_as_worker); rank 0 writes the outputs.
// Any rank's error fails the component with that rank's message.
void launch_workers(int workers, const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext& context) {
  fs::path dir = context.tmp_dir / "workers";
  fs::create_directories(dir / "tmp");
  fs::path invocation_file = dir / "invocation.json";
  write_json_file_atomic(invocation_file, invocation_json("Trainer", {context.pipeline_root, context.component_id, context.execution_id, dir / "tmp"},
                                                          inputs, outputs, props));
  std::vector<std::string> command = {"mpirun", "-np", std::to_string(workers),
                                      "--oversubscribe",      // more workers than cores still runs (slowly) instead of failing
                                      "--bind-to", "none"};   // each rank's own threads (below) share the machine
  if (::geteuid() == 0) command.push_back("--allow-run-as-root");
  if (!std::getenv("OMP_NUM_THREADS")) {
    // oneDNN's threads: the cores shared among the ranks, not every core for each.
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    command.insert(command.end(), {"-x", fmt::format("OMP_NUM_THREADS={}", std::max(1u, cores / static_cast<unsigned>(workers)))});
  }
  command.insert(command.end(), {litepipe_program().string(), "execute", "--invocation", invocation_file.string()});
  spdlog::info("Trainer: {}", fmt::join(command, " "));
  int status = 0;
  try {
    status = run_program(command);
  } catch (const Error& e) {
    fail("Trainer: train_args.num_workers {}: {} (mpirun is Open MPI's: apt-get install openmpi-bin)", workers, e.what());
  }

  std::vector<std::string> errors;
  for (int rank = 0; rank < workers; ++rank) {
    fs::path result = invocation_result_file(invocation_file, rank);
    if (!fs::exists(result)) continue;
    json reply = read_json_file(result);
    if (reply.contains("error")) errors.push_back(fmt::format("rank {} of {}: {}", rank, workers, reply["error"].get<std::string>()));
  }
  if (!errors.empty()) fail("Trainer: {}", fmt::join(errors, "; "));
  fs::path chief_result = invocation_result_file(invocation_file, 0);
  if (status != 0 || !fs::exists(chief_result)) {
    fail("Trainer: mpirun -np {} exited with status {} and no rank reported an error (see the log above)", workers, status);
  }
  outputs = artifact_map_from_json(read_json_file(chief_result).at("outputs"));
}

// This process is one rank of a data-parallel job: it runs run_fn, whose fit() trains with the
// other ranks. Rank 0 writes the outputs; the others' copies go to scratch space, removed with it.
void run_as_worker(FnArgs args, const std::string& module, const std::string& entry, const ExecutorContext& context, int configured) {
  const distributed::World& world = distributed::world();
  if (configured > 1 && configured != world.size()) {
    spdlog::warn("Trainer: train_args.num_workers is {}, but this execution was started on {} processes; training on {}", configured,
                 world.size(), world.size());
  }
  if (world.is_chief()) {
    fs::create_directories(args.serving_model_dir);
  } else {
    fs::path scratch = context.tmp_dir / fmt::format("rank-{}", world.rank());
    args.serving_model_dir = (scratch / kServingModelDir).string();
    args.model_run_dir = (scratch / "model_run").string();
    fs::create_directories(args.serving_model_dir);
    fs::create_directories(args.model_run_dir);
  }
  spdlog::info("Trainer: rank {} of {}: {}({})", world.rank(), world.size(), entry, module);
  call_run_fn(module, entry, args);
  // Rank 0 finishes the outputs only once every rank's run_fn has returned: a rank that fails
  // aborts the job instead of reaching this barrier.
  world.barrier();
  if (world.is_chief()) finish_serving_model(args, entry);
}

class TrainerExecutor final : public Executor {
 public:
  void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext& context) override {
    const Artifact& examples = single_input(inputs, "examples");
    FnArgs args;
    args.train_files = as_strings(example_files(examples, "train"));
    args.eval_files = as_strings(example_files(examples, "eval"));
    if (auto it = inputs.find("schema"); it != inputs.end() && !it->second.empty()) args.schema_path = (fs::path(it->second[0].uri) / "schema.json").string();
    if (auto it = inputs.find("transform_graph"); it != inputs.end() && !it->second.empty()) args.transform_output = it->second[0].uri;
    if (auto it = inputs.find("base_model"); it != inputs.end() && !it->second.empty()) {
      args.base_model = (fs::path(it->second[0].uri) / kServingModelDir).string();
    }
    args.serving_model_dir = (fs::path(outputs.at("model").at(0).uri) / kServingModelDir).string();
    args.model_run_dir = outputs.at("model_run").at(0).uri;
    args.train_steps = num_steps(props, "train_args");
    args.eval_steps = num_steps(props, "eval_args");
    args.custom_config = props.value("custom_config", json::object());
    int workers = num_workers(props);

    std::string module = props.at("module_file").get<std::string>();
    std::string entry = props.value("run_fn", "run_fn");
    if (distributed::launch_info_from_environment().size > 1) {  // our own mpirun's, or an external mpirun / srun
      run_as_worker(args, module, entry, context, workers);
      return;
    }
    spdlog::info("Trainer: {}({}) with {} train / {} eval files, train_steps {}, eval_steps {}{}", entry, module, args.train_files.size(),
                 args.eval_files.size(), args.train_steps, args.eval_steps, workers > 1 ? fmt::format(", {} workers", workers) : "");
    if (workers > 1) {
      launch_workers(workers, inputs, outputs, props, context);
      return;
    }
    fs::create_directories(args.serving_model_dir);
    call_run_fn(module, entry, args);
    finish_serving_model(args, entry);
  }
};

}  // namespace

const ComponentRegistration& trainer_registration() {
  static const ComponentRegistration registration{
      ComponentSpec{"Trainer",
                    {{"examples", {artifact_types::kExamples}},
                     {"transform_graph", {artifact_types::kTransformGraph, true}},
                     {"schema", {artifact_types::kSchema, true}},
                     {"base_model", {artifact_types::kModel, true}}},
                    {{"model", artifact_types::kModel}, {"model_run", artifact_types::kModelRun}},
                    {{"module_file", module_file_param()},
                     {"run_fn", optional_param(ParamType::String, "run_fn")},
                     {"train_args", optional_param(ParamType::Object)},
                     {"eval_args", optional_param(ParamType::Object)},
                     {"custom_config", optional_param(ParamType::Object)}},
                    [](const json& props) {
                      num_steps(props, "train_args");
                      num_workers(props);
                      num_steps(props, "eval_args");
                      if (props.value("module_file", "") == kBuiltinModule) {
                        parse_builtin_trainer_config(props.value("run_fn", "run_fn"), props.value("custom_config", json::object()));
                      }
                    }},
      [] { return std::make_unique<TrainerExecutor>(); },
      {}};
  return registration;
}

std::shared_ptr<Component> Trainer(const TrainerArgs& a) {
  json params = {{"module_file", a.module_file == kBuiltinModule ? a.module_file : fs::absolute(a.module_file).string()},
                 {"run_fn", a.run_fn},
                 {"train_args", {{"num_steps", a.train_steps}}},
                 {"eval_args", {{"num_steps", a.eval_steps}}},
                 {"custom_config", a.custom_config}};
  // Only when set, so that single-process Trainers keep their cache keys.
  if (a.num_workers != 1) params["train_args"]["num_workers"] = a.num_workers;
  std::map<std::string, Channel> inputs = {{"examples", a.examples}};
  if (a.transform_graph.producer) inputs["transform_graph"] = a.transform_graph;
  if (a.schema.producer) inputs["schema"] = a.schema;
  if (a.base_model.producer) inputs["base_model"] = a.base_model;
  return make_component(trainer_registration(), inputs, params);
}

}  // namespace litepipe
