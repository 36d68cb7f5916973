#include "components/trainer.h"

#include <algorithm>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "components/artifact_io.h"
#include "components/builtin_trainers.h"
#include "components/workers.h"
#include "eval/evaluate.h"
#include "transform/transform_graph.h"
#include "core/error.h"
#include "core/files.h"
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

// train_args.num_workers: how many processes train data-parallel (1: this one).
int num_workers(const json& props) {
  const json& a = args_object(props, "train_args", {"num_steps", "num_workers"});
  return checked_num_workers(a.contains("num_workers") ? a["num_workers"] : json(), "Trainer: train_args.num_workers");
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
      launch_workers("Trainer", "train_args.num_workers", workers, inputs, outputs, props, context);
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
