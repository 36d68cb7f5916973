#include "components/evaluator.h"

#include <set>

#include <spdlog/spdlog.h>

#include "components/artifact_io.h"
#include "components/workers.h"
#include "core/error.h"
#include "distributed/world.h"
#include "eval/evaluate.h"

namespace litepipe {
namespace {

using nlohmann::json;

constexpr int kMaxThreads = 1024;

// `threads`: absent or 0 for every core, else the threads of each Evaluator process.
int checked_threads(const json& value) { return checked_int_in_range(value, "Evaluator: threads", 0, 0, kMaxThreads, "every core"); }

class EvaluatorExecutor final : public Executor {
 public:
  void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext& context) override {
    int workers = checked_num_workers(props.value("num_workers", json()), "Evaluator: num_workers");
    if (workers > 1 && distributed::launch_info_from_environment().size <= 1) {
      launch_workers("Evaluator", "num_workers", workers, inputs, outputs, props, context);
      return;
    }
    const Artifact& examples = single_input(inputs, "examples");
    const Artifact& model = single_input(inputs, "model");
    const Artifact* baseline = nullptr;
    if (auto it = inputs.find("baseline_model"); it != inputs.end() && !it->second.empty()) baseline = &it->second.front();

    eval::EvaluationRequest request;
    request.config = eval::parse_eval_config(props.at("eval_config"));
    request.threads = static_cast<size_t>(checked_threads(props.value("threads", json())));
    json splits = props.value("example_splits", json::array({"eval"}));
    request.example_files = example_files_of_splits(examples, splits, "Evaluator");
    request.model_uri = model.uri;
    if (baseline) request.baseline_model_uri = baseline->uri;
    if (auto it = inputs.find("schema"); it != inputs.end() && !it->second.empty()) {
      fs::path schema_file = fs::path(it->second.front().uri) / "schema.json";
      json schema = read_json_file(schema_file);
      std::set<std::string> features;
      const json* list = schema.is_object() && schema.contains("feature") ? &schema["feature"] : nullptr;
      if (!list || !list->is_array()) fail("{}: field 'feature': expected a list of features", schema_file.string());
      for (size_t i = 0; i < list->size(); ++i) {
        const json& f = (*list)[i];
        if (!f.is_object() || !f.contains("name") || !f["name"].is_string()) {
          fail("{}: field 'feature[{}].name': expected a string", schema_file.string(), i);
        }
        features.insert(f["name"].get<std::string>());
      }
      request.schema_features = std::move(features);
      request.schema_origin = schema_file.string();
    }
    Artifact& evaluation = outputs.at("evaluation").at(0);
    request.output_dir = evaluation.uri;
    const distributed::World& world = distributed::world();
    if (world.size() > 1) request.world = &world;
    eval::EvaluationResult result = eval::evaluate(request);
    if (!world.is_chief()) return;  // rank 0 writes

    // Where the evaluated model file is, so a comparison can find it (and its size) later.
    evaluation.properties["model_path"] = result.model.path.string();
    evaluation.properties["model_type"] = result.model.model_type;
    evaluation.properties["model_file_size"] = result.model.file_size;
    evaluation.properties["example_splits"] = splits;
    evaluation.properties["example_count"] = result.example_count;
    evaluation.properties["problem_type"] = eval::problem_type_name(result.problem_type);
    evaluation.properties["validation_ok"] = result.validation_ok ? 1 : 0;

    json headline = json::object();
    for (const auto& slice : result.metrics["slices"]) {
      if (slice["slice_key"] != eval::kOverallSliceKey) continue;
      for (const char* name : {"example_count", "sparse_categorical_accuracy", "sparse_categorical_crossentropy", "binary_accuracy",
                               "mean_squared_error", "mean_absolute_error", "r2_score"})
        if (slice["metrics"].contains(name)) headline[name] = slice["metrics"][name]["value"];
    }
    spdlog::info("Evaluator: {} model {} ({}) on {} examples: {}", result.model.model_type, result.model.path.string(),
                 eval::problem_type_name(result.problem_type), result.example_count, headline.dump());

    Artifact& blessing = outputs.at("blessing").at(0);
    if (!result.thresholds_configured) {
      // As TFX: without thresholds there is nothing to validate, so no blessing either way.
      spdlog::info("Evaluator: no thresholds configured: no blessing written");
      return;
    }
    bool blessed = result.validation_ok;
    write_file_atomic(fs::path(blessing.uri) / (blessed ? kBlessedFile : kNotBlessedFile), "");
    blessing.properties["blessed"] = blessed ? 1 : 0;
    blessing.properties["current_model"] = model.uri;
    blessing.properties["current_model_id"] = model.id;
    blessing.properties["baseline_model"] = baseline ? baseline->uri : "";
    if (baseline) blessing.properties["baseline_model_id"] = baseline->id;
    if (blessed) {
      spdlog::info("Evaluator: BLESSED: every threshold holds");
    } else {
      std::string reasons;
      for (const auto& slice : result.validations["metric_validations_per_slice"])
        for (const auto& failure : slice["failures"]) reasons += fmt::format("\n  {}: {}", slice["slice_key"].get<std::string>(), failure["message"].get<std::string>());
      for (const auto& missing : result.validations["missing_slices"]) reasons += "\n  missing slice " + missing.dump();
      spdlog::warn("Evaluator: NOT_BLESSED:{}", reasons);
    }
  }
};

}  // namespace

const ComponentRegistration& evaluator_registration() {
  static const ComponentRegistration registration = [] {
    ParamSpec eval_config = required_param(ParamType::Object);
    // Checked when the pipeline is built, so a bad config fails before anything runs.
    eval_config.check = [](const json& v) { eval::parse_eval_config(v); };
    ParamSpec example_splits = optional_param(ParamType::List, json::array({"eval"}));
    example_splits.check = check_split_names;
    ParamSpec threads = optional_param(ParamType::Int);
    threads.check = [](const json& v) { checked_threads(v); };
    return ComponentRegistration{
        ComponentSpec{"Evaluator",
                      {{"examples", {artifact_types::kExamples}},
                       {"model", {artifact_types::kModel}},
                       {"baseline_model", {artifact_types::kModel, true}},
                       // optional, as TFX's: the features the config names are checked against it
                       {"schema", {artifact_types::kSchema, true}}},
                      {{"evaluation", artifact_types::kModelEvaluation}, {"blessing", artifact_types::kModelBlessing}},
                      {{"eval_config", eval_config}, {"example_splits", example_splits}, {"num_workers", num_workers_param("Evaluator")}, {"threads", threads}}},
        [] { return std::make_unique<EvaluatorExecutor>(); },
        {}};
  }();
  return registration;
}

std::shared_ptr<Component> Evaluator(const EvaluatorArgs& a) {
  std::map<std::string, Channel> inputs = {{"examples", a.examples}, {"model", a.model}};
  if (a.baseline_model.producer) inputs["baseline_model"] = a.baseline_model;
  if (a.schema.producer) inputs["schema"] = a.schema;
  json params = {{"eval_config", a.eval_config}, {"example_splits", a.example_splits}};
  if (a.num_workers != 1) params["num_workers"] = a.num_workers;  // when set: one process keeps its cache key
  if (a.threads != 0) params["threads"] = a.threads;
  return make_component(evaluator_registration(), inputs, params);
}

}  // namespace litepipe
