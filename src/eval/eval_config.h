#pragma once
// EvalConfig: what to evaluate, on which slices, with which metrics and thresholds. Field names
// and semantics are TensorFlow Model Analysis's (tfma.EvalConfig as JSON), so a TFMA config reads
// the same here (multi-class and binary classification, and regression: see ProblemType):
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

// What a model is evaluated as. TFMA infers it from the metrics configured; litepipe from the
// model's output width, so that a metric that does not fit the model is an error naming both:
//   width >= 3                    multi-class: probabilities per class, integer labels
//   width 2                       multi-class, or binary when a binary-only metric is configured
//   width 1 ([N, 1] or [N])       regression (float or integer labels), or binary (the positive
//                                 class's probability, labels 0/1) when a binary-only metric is
//                                 configured
// A binary model's [N, 1] output p is turned into the two-class [1 - p, p] internally, so the
// multi-class metrics apply to it too.
enum class ProblemType { MultiClass, Binary, Regression };
const char* problem_type_name(ProblemType type);  // "multi_class", "binary", "regression"

// Which models a metric applies to.
enum class MetricKind {
  Any,                 // ExampleCount
  Classification,      // multi-class and binary (AUC, SparseCategoricalAccuracy, ...)
  BinaryOnly,          // decides "binary": BinaryAccuracy, ConfusionMatrix*, Precision/Recall/F1Score with thresholds
  Regression,          // MeanSquaredError, ...
  RegressionOrBinary,  // MeanLabel, MeanPrediction (TFMA computes them for both)
};

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
  MetricKind kind() const;
  // Binary classification thresholds: BinaryAccuracy's `threshold`, Precision/Recall/F1Score's and
  // ConfusionMatrixAtThresholds' `thresholds` (TFMA's default 0.5 when absent).
  std::vector<double> thresholds() const;
};

struct MetricsSpec {
  std::vector<MetricConfig> metrics;
  std::map<std::string, MetricThreshold> thresholds;  // metric name -> threshold, all slices
};

struct Options {
  bool include_default_metrics = true;  // the model's kind's default set (see default_metrics())
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
  // Every metric and plot to compute for a model of `type`: the configured ones, plus
  // default_metrics(type) when options.include_default_metrics; one entry per name.
  std::vector<MetricConfig> all_metrics(ProblemType type = ProblemType::MultiClass) const;
  bool has_thresholds() const;
  // Whether a binary-only metric is configured (which makes a model of width 1 or 2 binary).
  bool has_binary_metrics() const;
  // What a model whose output has `width` values per example is evaluated as; every configured
  // metric and every metric a threshold names must fit it, or the error names the metric's field,
  // the metric and `model` (e.g. "model m.onnx: output 'y' has shape [batch, 1]").
  ProblemType problem_type_for(int64_t width, const std::string& model) const;
};

// The metric classes litepipe computes, with their default metric names.
const std::map<std::string, std::string>& known_metric_classes();
// Added when options.include_default_metrics. Multi-class: every multi-class metric and plot but
// top-k. Binary: example count, binary accuracy, crossentropy, precision, recall, F1 (at 0.5), AUC,
// mean label and prediction, expected calibration error, the confusion matrix and calibration plot.
// Regression: example count, mean squared / absolute error, root mean squared error, r2_score, mean
// label and prediction, the prediction-label scatter and the residual histogram.
std::vector<MetricConfig> default_metrics(ProblemType type = ProblemType::MultiClass);

// Parses and checks a TFMA-style JSON config. Errors name the field path under `where`, e.g.
// "eval_config.metrics_specs[0].metrics[1].class_name: unknown metric 'Foo'; expected one of ...".
EvalConfig parse_eval_config(const nlohmann::json& j, const std::string& where = "eval_config");
nlohmann::json to_json(const EvalConfig& config);
nlohmann::json to_json(const MetricThreshold& threshold);
nlohmann::json to_json(const SlicingSpec& spec);

}  // namespace litepipe::eval
