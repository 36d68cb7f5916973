#pragma once
// Schema inference and validation against statistics, after TFDV: a schema names each feature's
// type, presence, shape (or value count) and value range / domain; anomalies are what a split's
// statistics contradict in it, plus train/eval drift measured as an L-infinity distance.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace litepipe {

struct SchemaOptions {
  bool infer_feature_shape = true;  // fixed shape [n] when every example has n values
  // Numeric ranges (int_domain / float_domain) only on request, as TFDV: a range learned from the
  // training split makes every slightly larger eval value an "anomaly".
  bool infer_feature_ranges = false;
  // A string feature with at most this many distinct values gets a string domain (TFDV's
  // max_string_domain_size).
  size_t max_string_domain_size = 100;
};

// Infers a schema from the statistics of one or more splits (merged: a feature's range covers all).
nlohmann::json infer_schema(const std::vector<nlohmann::json>& split_stats, const SchemaOptions& options);

struct DriftOptions {
  std::optional<double> default_threshold = {};        // applies to every feature with a distribution
  std::map<std::string, double> feature_thresholds = {};  // overrides per feature
};

// Anomalies of `stats` against `schema`; with `baseline` (the train split's statistics) also drift.
// Returns {"split", "anomaly_info": {feature: [{type, short_description, description}]},
//          "num_anomalies"}.
nlohmann::json validate_statistics(const nlohmann::json& stats, const nlohmann::json& schema,
                                   const nlohmann::json* baseline, const DriftOptions& drift);

// L-infinity distance between two normalized distributions of a feature (value counts for ints
// and strings, histogram buckets for floats); nullopt when the statistics hold no distribution.
std::optional<double> distribution_distance(const nlohmann::json& a, const nlohmann::json& b);

std::string summarize_anomalies(const nlohmann::json& anomalies);

}  // namespace litepipe
