#pragma once
// EvalConfig: what to evaluate, on which slices, with which metrics and thresholds. Field names
// and semantics are TensorFlow Model Analysis's (tfma.EvalConfig as JSON), so a TFMA config reads
// the same here:
//
//   {"model_specs": [{"label_key": "image_class", "model_type": "tf_lite"}],
//    "slicing_specs": [{}, {"feature_keys": ["image_class"]}],
//    "metrics_specs": [{"metrics": [{"class_name": "SparseCategoricalAccuracy",
//                                    "threshold": {"value_threshold": {"lower_bound": 0.8}}}]}]}
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace litepipe::eval {

inline constexpr const char* kDefaultSignature = "serving_default";
inline constexpr const char* kTfLiteModelType = "tf_lite";
inline constexpr const char* kTransformFeaturesFunction = "transform_features";

struct ModelSpec {
  std::string name;          // "" -> "candidate" / "baseline", as TFX's Evaluator names them
  std::string model_type;    // tf_lite, or the full model: tf_keras | tf_generic | onnx; "" = by file
  std::string signature_name = kDefaultSignature;
  std::string label_key;
  std::string prediction_key;  // which signature output holds the probabilities; "" = the only one
  bool is_baseline = false;
  // TFMA's preprocessing_function_names: ["transform_features"] applies the model's Transform
  // graph to the raw examples before the label and slicing features are read.
  std::vector<std::string> preprocessing_function_names;

  bool is_tflite() const { return model_type == kTfLiteModelType; }
};

// Empty = the whole dataset ("Overall"). feature_keys: one slice per value of each key (crossed);
// feature_values: only the examples with exactly these values.
struct SlicingSpec {
  std::vector<std::string> feature_keys;
  std::map<std::string, std::string> feature_values;
};

struct ValueThreshold {  // inclusive bounds
  double lower_bound = -std::numeric_limits<double>::infinity();
  double upper_bound = std::numeric_limits<double>::infinity();
};

enum class Direction { HigherIsBetter, LowerIsBetter };

// Candidate minus baseline must be at least (HIGHER_IS_BETTER) or at most (LOWER_IS_BETTER)
// `absolute`, and that difference over the baseline likewise for `relative`.
struct ChangeThreshold {
  std::optional<double> absolute;
  std::optional<double> relative;
  Direction direction = Direction::HigherIsBetter;
};

struct MetricThreshold {
  std::optional<ValueThreshold> value_threshold;
  std::optional<ChangeThreshold> change_threshold;
};

// A threshold that applies only to the slices matching one of `slicing_specs`.
struct PerSliceThreshold {
  std::vector<SlicingSpec> slicing_specs;
  MetricThreshold threshold;
};

struct MetricConfig {
  std::string class_name;
  nlohmann::json config = nlohmann::json::object();
  std::optional<MetricThreshold> threshold;
  std::vector<PerSliceThreshold> per_slice_thresholds;

  std::string name() const;  // config.name, or the class's Keras/TFMA name
  bool is_plot() const;
};

struct MetricsSpec {
  std::vector<MetricConfig> metrics;
  std::map<std::string, MetricThreshold> thresholds;  // metric name -> threshold, all slices
};

struct Options {
  bool include_default_metrics = true;  // litepipe's multi-class set (see default_metrics())
  bool compute_confidence_intervals = false;
  int64_t min_slice_size = 1;
};

struct EvalConfig {
  std::vector<ModelSpec> model_specs;
  std::vector<SlicingSpec> slicing_specs;
  std::vector<MetricsSpec> metrics_specs;
  Options options;

  const ModelSpec& candidate_spec() const;
  const ModelSpec* baseline_spec() const;
  // Every metric and plot to compute: the configured ones, plus default_metrics() when
  // options.include_default_metrics; one entry per name.
  std::vector<MetricConfig> all_metrics() const;
  bool has_thresholds() const;
};

// The metric classes litepipe computes, with their default metric names.
const std::map<std::string, std::string>& known_metric_classes();
// Added when options.include_default_metrics: every multi-class metric and plot but top-k.
std::vector<MetricConfig> default_metrics();

// Parses and checks a TFMA-style JSON config. Errors name the field path under `where`, e.g.
// "eval_config.metrics_specs[0].metrics[1].class_name: unknown metric 'Foo'; expected one of ...".
EvalConfig parse_eval_config(const nlohmann::json& j, const std::string& where = "eval_config");
nlohmann::json to_json(const EvalConfig& config);
nlohmann::json to_json(const MetricThreshold& threshold);
nlohmann::json to_json(const SlicingSpec& spec);

}  // namespace litepipe::eval
