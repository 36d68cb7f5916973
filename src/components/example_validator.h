#pragma once
// ExampleValidator: anomalies of each split's statistics against the schema (missing feature,
// wrong type or shape, out-of-domain values) and drift of each split from the baseline split
// (L-infinity distance of value distributions) -> `Split-<name>/SchemaDiff.json`.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/registry.h"

namespace litepipe {

struct ExampleValidatorArgs {
  Channel statistics = {};
  Channel schema = {};
  std::vector<std::string> exclude_splits = {};
  std::optional<double> drift_threshold = {};         // every feature with a distribution
  std::map<std::string, double> drift_thresholds = {};  // per feature, overrides drift_threshold
  std::string drift_baseline_split = "train";
  bool fail_on_anomalies = false;  // default: report and go on
};

const ComponentRegistration& example_validator_registration();
std::shared_ptr<Component> ExampleValidator(const ExampleValidatorArgs& args);

}  // namespace litepipe
