#include "components/example_validator.h"

#include <spdlog/spdlog.h>

#include "components/artifact_io.h"
#include "core/error.h"
#include "data/schema.h"

namespace litepipe {
namespace {

using nlohmann::json;

// drift_threshold and drift_thresholds, checked: also run when the pipeline is built.
DriftOptions parse_drift_options(const json& props) {
  DriftOptions drift;
  if (props.contains("drift_threshold")) {
    double t = props["drift_threshold"].get<double>();
    if (!(t >= 0 && t <= 1)) fail("drift_threshold must be an L-infinity distance in [0, 1], got {}", t);
    drift.default_threshold = t;
  }
  // A named copy: items() of a temporary would outlive it.
  const json thresholds = props.value("drift_thresholds", json::object());
  for (const auto& [feature, t] : thresholds.items()) {
    if (!t.is_number() || !(t.get<double>() >= 0 && t.get<double>() <= 1)) {
      fail("drift_thresholds.{} must be an L-infinity distance in [0, 1], got {}", feature, t.dump());
    }
    drift.feature_thresholds[feature] = t.get<double>();
  }
  return drift;
}

class ExampleValidatorExecutor final : public Executor {
 public:
  void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext&) override {
    const Artifact& statistics = single_input(inputs, "statistics");
    json schema = read_json_file(fs::path(single_input(inputs, "schema").uri) / "schema.json");
    DriftOptions drift = parse_drift_options(props);
    std::string baseline_split = props.value("drift_baseline_split", "train");
    auto all_splits = statistics.split_names();
    std::optional<json> baseline;
    if (std::find(all_splits.begin(), all_splits.end(), baseline_split) != all_splits.end()) {
      baseline = read_json_file(split_dir(statistics, baseline_split) / "FeatureStats.json");
    } else if (drift.default_threshold || !drift.feature_thresholds.empty()) {
      fail("ExampleValidator: parameter 'drift_baseline_split' is '{}', which the statistics do not have", baseline_split);
    }

    Artifact& out = outputs.at("anomalies").at(0);
    std::vector<std::string> names;
    size_t total = 0;
    std::string report;
    for (const auto& split : selected_splits(statistics, props.value("exclude_splits", json::array()), "ExampleValidator")) {
      json stats = read_json_file(split_dir(statistics, split) / "FeatureStats.json");
      bool compare = baseline && split != baseline_split;
      json anomalies = validate_statistics(stats, schema, compare ? &*baseline : nullptr, drift);
      write_json_file_atomic(split_dir(out, split) / "SchemaDiff.json", anomalies);
      names.push_back(split);
      total += anomalies["num_anomalies"].get<size_t>();
      std::string summary = summarize_anomalies(anomalies);
      report += "\n" + summary;
      if (anomalies["num_anomalies"].get<size_t>() > 0) spdlog::warn("ExampleValidator: {}", summary);
      else spdlog::info("ExampleValidator: {}", summary);
    }
    out.set_split_names(names);
    out.properties["num_anomalies"] = total;
    if (total > 0 && props.value("fail_on_anomalies", false)) {
      fail("ExampleValidator: {} anomalies and fail_on_anomalies is set:{}", total, report);
    }
  }
};

}  // namespace

const ComponentRegistration& example_validator_registration() {
  static const ComponentRegistration registration{
      ComponentSpec{"ExampleValidator",
                    {{"statistics", {artifact_types::kExampleStatistics}}, {"schema", {artifact_types::kSchema}}},
                    {{"anomalies", artifact_types::kExampleAnomalies}},
                    {{"exclude_splits", optional_param(ParamType::List, json::array())},
                     {"drift_threshold", optional_param(ParamType::Float)},
                     {"drift_thresholds", optional_param(ParamType::Object)},
                     {"drift_baseline_split", optional_param(ParamType::String, "train")},
                     {"fail_on_anomalies", optional_param(ParamType::Bool, false)}},
                    [](const json& props) { parse_drift_options(props); }},
      [] { return std::make_unique<ExampleValidatorExecutor>(); },
      {}};
  return registration;
}

std::shared_ptr<Component> ExampleValidator(const ExampleValidatorArgs& args) {
  json params = {{"exclude_splits", args.exclude_splits},
                 {"drift_baseline_split", args.drift_baseline_split},
                 {"fail_on_anomalies", args.fail_on_anomalies}};
  if (args.drift_threshold) params["drift_threshold"] = *args.drift_threshold;
  if (!args.drift_thresholds.empty()) params["drift_thresholds"] = args.drift_thresholds;
  return make_component(example_validator_registration(), {{"statistics", args.statistics}, {"schema", args.schema}},
                        params);
}

}  // namespace litepipe
