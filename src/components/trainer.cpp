#include "components/trainer.h"

#include <spdlog/spdlog.h>

#include "components/artifact_io.h"
#include "components/builtin_trainers.h"
#include "eval/evaluate.h"
#include "transform/transform_graph.h"
#include "core/error.h"
#include "core/shared_library.h"

namespace litepipe {
namespace {

using nlohmann::json;

int64_t num_steps(const json& props, const char* key) {
  if (!props.contains(key)) return 0;
  const json& a = props[key];
  if (!a.contains("num_steps") || !a["num_steps"].is_number_integer() || a["num_steps"].get<int64_t>() < 0) {
    fail("Trainer: {}.num_steps must be a non-negative integer, got {}", key, a.dump());
  }
  return a["num_steps"].get<int64_t>();
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

class TrainerExecutor final : public Executor {
 public:
  void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext&) override {
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
    fs::create_directories(args.serving_model_dir);

    std::string module = props.at("module_file").get<std::string>();
    std::string entry = props.value("run_fn", "run_fn");
    spdlog::info("Trainer: {}({}) with {} train / {} eval files, train_steps {}, eval_steps {}", entry, module,
                 args.train_files.size(), args.eval_files.size(), args.train_steps, args.eval_steps);
    if (module == kBuiltinModule) {
      run_builtin_trainer(entry, args);
    } else {
      RunFn* run_fn = SharedLibrary(module).symbol<RunFn>(entry);
      try {
        run_fn(args);
      } catch (const std::exception& e) {
        fail("run_fn '{}' of {} failed: {}", entry, module, e.what());
      }
    }
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
  std::map<std::string, Channel> inputs = {{"examples", a.examples}};
  if (a.transform_graph.producer) inputs["transform_graph"] = a.transform_graph;
  if (a.schema.producer) inputs["schema"] = a.schema;
  if (a.base_model.producer) inputs["base_model"] = a.base_model;
  return make_component(trainer_registration(), inputs, params);
}

}  // namespace litepipe
