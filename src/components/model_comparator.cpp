#include "components/model_comparator.h"

#include <spdlog/spdlog.h>

#include "components/artifact_io.h"
#include "core/error.h"
#include "eval/compare.h"
#include "eval/eval_config.h"

namespace litepipe {
namespace {

using nlohmann::json;

void check_count(const json& v) {
  if (v.get<int64_t>() < 0) fail("expected a count >= 0, got {}", v.dump());
}

class ModelComparatorExecutor final : public Executor {
 public:
  void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext&) override {
    const Artifact& a = single_input(inputs, "evaluation_a");
    const Artifact& b = single_input(inputs, "evaluation_b");
    Artifact& comparison = outputs.at("comparison").at(0);
    eval::ComparisonRequest request;
    request.evaluation_a = a.uri;
    request.evaluation_b = b.uri;
    if (auto it = inputs.find("examples"); it != inputs.end() && !it->second.empty()) {
      request.example_files = example_files_of_splits(it->second.front(), props.value("example_splits", json::array({"eval"})), "ModelComparator");
    }
    request.latency_runs = static_cast<int>(props.value("latency_runs", eval::kDefaultLatencyRuns));
    request.latency_warmup = static_cast<int>(props.value("latency_warmup", eval::kDefaultLatencyWarmup));
    request.output_dir = comparison.uri;
    json c = eval::compare_evaluations(request);

    const json& agreement = c["agreement"];
    comparison.properties["evaluation_a"] = a.uri;
    comparison.properties["evaluation_b"] = b.uri;
    comparison.properties["example_count"] = agreement["example_count"];
    // The executor writes into a staging folder the runner then moves to the artifact's uri, so
    // the report is named relative to the artifact.
    comparison.properties["report_file"] = eval::kReportFile;
    if (agreement.value("problem_type", "") == eval::problem_type_name(eval::ProblemType::Regression)) {
      // Regression models have no top-1 to flip: how far the predictions move, and each one's error.
      for (const char* key : {"max_abs_prediction_delta", "mean_abs_prediction_delta", "mae_a", "mae_b"}) comparison.properties[key] = agreement[key];
      spdlog::info("ModelComparator: {} vs {}: {} examples, max |d prediction| {:.6g}, mean {:.3g}, MAE {:.6g} -> {:.6g}; wrote {} and {}",
                   c["a"]["title"].get<std::string>(), c["b"]["title"].get<std::string>(), agreement["example_count"].get<int64_t>(),
                   agreement["max_abs_prediction_delta"].get<double>(), agreement["mean_abs_prediction_delta"].get<double>(),
                   agreement["mae_a"].get<double>(), agreement["mae_b"].get<double>(), eval::kComparisonFile, eval::kReportFile);
      return;
    }
    comparison.properties["top1_flips"] = agreement["top1_flips"];
    comparison.properties["agreement_rate"] = agreement["agreement_rate"];
    comparison.properties["max_abs_probability_delta"] = agreement["max_abs_probability_delta"];
    spdlog::info("ModelComparator: {} vs {}: {} of {} examples flip top-1 (agreement {:.4f}), max |dp| {:.3g}; wrote {} and {}",
                 c["a"]["title"].get<std::string>(), c["b"]["title"].get<std::string>(), agreement["top1_flips"].get<int64_t>(),
                 agreement["example_count"].get<int64_t>(), agreement["agreement_rate"].get<double>(),
                 agreement["max_abs_probability_delta"].get<double>(), eval::kComparisonFile, eval::kReportFile);
  }
};

}  // namespace

const ComponentRegistration& model_comparator_registration() {
  static const ComponentRegistration registration = [] {
    ParamSpec example_splits = optional_param(ParamType::List, json::array({"eval"}));
    example_splits.check = check_split_names;
    ParamSpec runs = optional_param(ParamType::Int, eval::kDefaultLatencyRuns);
    runs.check = check_count;
    ParamSpec warmup = optional_param(ParamType::Int, eval::kDefaultLatencyWarmup);
    warmup.check = check_count;
    return ComponentRegistration{
        ComponentSpec{"ModelComparator",
                      {{"evaluation_a", {artifact_types::kModelEvaluation}},
                       {"evaluation_b", {artifact_types::kModelEvaluation}},
                       {"examples", {artifact_types::kExamples, true}}},
                      {{"comparison", artifact_types::kModelComparison}},
                      {{"example_splits", example_splits}, {"latency_runs", runs}, {"latency_warmup", warmup}}},
        [] { return std::make_unique<ModelComparatorExecutor>(); },
        {}};
  }();
  return registration;
}

std::shared_ptr<Component> ModelComparator(const ModelComparatorArgs& a) {
  std::map<std::string, Channel> inputs = {{"evaluation_a", a.evaluation_a}, {"evaluation_b", a.evaluation_b}};
  if (a.examples.producer) inputs["examples"] = a.examples;
  return make_component(model_comparator_registration(), inputs,
                        {{"example_splits", a.example_splits}, {"latency_runs", a.latency_runs}, {"latency_warmup", a.latency_warmup}});
}

}  // namespace litepipe
