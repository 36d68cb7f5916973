#include "eval/eval_config.h"

#include <cmath>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace litepipe::eval {
namespace {

using nlohmann::json;

const std::set<std::string> kFullModelTypes = {"tf_keras", "tf_generic", "onnx"};

std::string keys_of(const std::set<std::string>& keys) { return fmt::format("{}", fmt::join(keys, ", ")); }

// `j` must be an object whose keys are all in `allowed`; `tfma_only` are TFMA's fields at this
// place that litepipe does not implement.
void check_object(const json& j, const std::string& path, const std::set<std::string>& allowed, const std::set<std::string>& tfma_only = {}) {
  if (!j.is_object()) fail("{}: expected an object, got {}", path, j.dump());
  for (const auto& [key, _] : j.items()) {
    if (tfma_only.count(key)) fail("{}.{}: TFMA field '{}' is not supported by litepipe; supported here: {}", path, key, key, keys_of(allowed));
    if (!allowed.count(key)) fail("{}: unknown field '{}'; expected one of: {}", path, key, keys_of(allowed));
  }
}

const json& array_field(const json& j, const std::string& key, const std::string& path) {
  static const json empty = json::array();
  if (!j.contains(key)) return empty;
  if (!j[key].is_array()) fail("{}.{}: expected a list, got {}", path, key, j[key].dump());
  return j[key];
}

std::string string_field(const json& j, const std::string& key, const std::string& path, std::string fallback = "") {
  if (!j.contains(key)) return fallback;
  if (!j[key].is_string()) fail("{}.{}: expected a string, got {}", path, key, j[key].dump());
  return j[key].get<std::string>();
}

// Protobuf JSON writes wrapper types (BoolValue, DoubleValue) bare; {"value": x} is accepted too.
const json& unwrap(const json& v) { return v.is_object() && v.size() == 1 && v.contains("value") ? v["value"] : v; }

bool bool_field(const json& j, const std::string& key, const std::string& path, bool fallback) {
  if (!j.contains(key)) return fallback;
  const json& v = unwrap(j[key]);
  if (!v.is_boolean()) fail("{}.{}: expected true or false, got {}", path, key, j[key].dump());
  return v.get<bool>();
}

std::optional<double> number_field(const json& j, const std::string& key, const std::string& path) {
  if (!j.contains(key)) return std::nullopt;
  const json& v = unwrap(j[key]);
  if (!v.is_number()) fail("{}.{}: expected a number, got {}", path, key, j[key].dump());
  return v.get<double>();
}

// A slice value: TFMA keeps them as strings; integers (from YAML) are accepted and printed.
std::string slice_value(const json& v, const std::string& path) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  fail("{}: expected a string or an integer, got {}", path, v.dump());
}

SlicingSpec parse_slicing_spec(const json& j, const std::string& path) {
  check_object(j, path, {"feature_keys", "feature_values"});
  SlicingSpec spec;
  const json& keys = array_field(j, "feature_keys", path);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!keys[i].is_string() || keys[i].get<std::string>().empty()) {
      fail("{}.feature_keys[{}]: expected a feature name, got {}", path, i, keys[i].dump());
    }
    spec.feature_keys.push_back(keys[i].get<std::string>());
  }
  if (j.contains("feature_values")) {
    if (!j["feature_values"].is_object()) fail("{}.feature_values: expected an object {{feature: value}}, got {}", path, j["feature_values"].dump());
    for (const auto& [feature, value] : j["feature_values"].items()) {
      if (std::find(spec.feature_keys.begin(), spec.feature_keys.end(), feature) != spec.feature_keys.end()) {
        fail("{}.feature_values.{}: the feature is also in feature_keys", path, feature);
      }
      spec.feature_values[feature] = slice_value(value, path + ".feature_values." + feature);
    }
  }
  return spec;
}

MetricThreshold parse_threshold(const json& j, const std::string& path) {
  check_object(j, path, {"value_threshold", "change_threshold"});
  if (j.empty()) fail("{}: expected value_threshold or change_threshold", path);
  MetricThreshold t;
  if (j.contains("value_threshold")) {
    std::string p = path + ".value_threshold";
    const json& v = j["value_threshold"];
    check_object(v, p, {"lower_bound", "upper_bound"});
    ValueThreshold value;
    if (auto lower = number_field(v, "lower_bound", p)) value.lower_bound = *lower;
    if (auto upper = number_field(v, "upper_bound", p)) value.upper_bound = *upper;
    if (value.lower_bound > value.upper_bound) fail("{}: lower_bound {} is above upper_bound {}", p, value.lower_bound, value.upper_bound);
    t.value_threshold = value;
  }
  if (j.contains("change_threshold")) {
    std::string p = path + ".change_threshold";
    const json& c = j["change_threshold"];
    check_object(c, p, {"absolute", "relative", "direction"});
    ChangeThreshold change;
    change.absolute = number_field(c, "absolute", p);
    change.relative = number_field(c, "relative", p);
    std::string direction = string_field(c, "direction", p);
    if (direction == "HIGHER_IS_BETTER") change.direction = Direction::HigherIsBetter;
    else if (direction == "LOWER_IS_BETTER") change.direction = Direction::LowerIsBetter;
    else fail("{}.direction: expected HIGHER_IS_BETTER or LOWER_IS_BETTER, got '{}'", p, direction);
    if (!change.absolute && !change.relative) {
      fail("{}: expected 'absolute' or 'relative' (or both): the change the candidate must make against the baseline; a direction alone "
           "bounds nothing", p);
    }
    t.change_threshold = change;
  }
  return t;
}

// Per-class configuration keys each metric accepts (besides "name"): TFMA's (and Keras's) names.
const std::map<std::string, std::set<std::string>>& metric_config_keys() {
  static const std::map<std::string, std::set<std::string>> keys = {
      {"ExampleCount", {}},
      {"SparseCategoricalAccuracy", {}},
      {"SparseCategoricalCrossentropy", {}},
      {"SparseTopKCategoricalAccuracy", {"k"}},
      {"Precision", {"thresholds"}},
      {"Recall", {"thresholds"}},
      {"F1Score", {"thresholds"}},
      {"AUC", {}},
      {"ExpectedCalibrationError", {"num_buckets"}},
      {"MultiClassConfusionMatrixPlot", {}},
      {"CalibrationPlot", {"num_buckets"}},
      {"BinaryAccuracy", {"threshold"}},
      {"ConfusionMatrixAtThresholds", {"thresholds"}},
      {"ConfusionMatrixPlot", {"num_thresholds"}},
      {"MeanSquaredError", {}},
      {"MeanAbsoluteError", {}},
      {"RootMeanSquaredError", {}},
      {"MeanAbsolutePercentageError", {}},
      {"R2Score", {}},
      {"CoefficientOfDetermination", {}},
      {"MeanLabel", {}},
      {"MeanPrediction", {}},
      {"PredictionLabelScatterPlot", {"max_points"}},
      {"ResidualHistogramPlot", {"num_buckets"}},
  };
  return keys;
}

// A probability threshold of a binary metric: a number in [0, 1].
void check_threshold_value(const json& v, const std::string& path) {
  if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1) fail("{}: expected a threshold in [0, 1], got {}", path, v.dump());
}

void check_metric_config(const json& config, const std::string& class_name, const std::string& p) {
  if (config.contains("name") && (!config["name"].is_string() || config["name"].get<std::string>().empty())) {
    fail("{}.name: expected a non-empty string, got {}", p, config["name"].dump());
  }
  for (const char* key : {"k", "num_buckets", "num_thresholds", "max_points"}) {
    if (config.contains(key) && (!config[key].is_number_integer() || config[key].get<int64_t>() < 1)) {
      fail("{}.{}: expected an integer >= 1, got {}", p, key, config[key].dump());
    }
  }
  if (config.contains("threshold")) check_threshold_value(config["threshold"], p + ".threshold");
  if (config.contains("thresholds")) {
    const json& t = config["thresholds"];
    if (t.is_number()) {
      check_threshold_value(t, p + ".thresholds");
    } else if (!t.is_array() || t.empty()) {
      fail("{}.thresholds: expected a threshold in [0, 1] or a list of them, got {}", p, t.dump());
    } else {
      // metrics.json holds one number per metric: TFMA's list of thresholds (an array value) is
      // kept for the plot, which has a row per threshold.
      if (class_name != "ConfusionMatrixAtThresholds" && t.size() != 1) {
        fail("{}.thresholds: {} has one value per metric in metrics.json, so one threshold, got {}; configure the metric once per "
             "threshold, each with its own config.name (or use ConfusionMatrixAtThresholds for a table of thresholds)",
             p, class_name, t.dump());
      }
      for (size_t i = 0; i < t.size(); ++i) check_threshold_value(t[i], fmt::format("{}.thresholds[{}]", p, i));
    }
  }
}

MetricConfig parse_metric(const json& j, const std::string& path) {
  check_object(j, path, {"class_name", "config", "threshold", "per_slice_thresholds"}, {"module"});
  MetricConfig m;
  m.class_name = string_field(j, "class_name", path);
  const auto& classes = known_metric_classes();
  if (!classes.count(m.class_name)) {
    std::set<std::string> names;
    for (const auto& [name, _] : classes) names.insert(name);
    fail("{}.class_name: unknown metric '{}'; expected one of: {}", path, m.class_name, keys_of(names));
  }
  if (j.contains("config")) {
    std::string p = path + ".config";
    // TFMA stores config as a JSON string; an object is accepted as well.
    json config = j["config"];
    if (config.is_string()) {
      try {
        config = json::parse(config.get<std::string>());
      } catch (const json::parse_error& e) {
        fail("{}: malformed JSON: {}", p, e.what());
      }
    }
    std::set<std::string> allowed = metric_config_keys().at(m.class_name);
    allowed.insert("name");
    check_object(config, p, allowed);
    check_metric_config(config, m.class_name, p);
    m.config = config;
  }
  if (j.contains("threshold")) {
    if (m.is_plot()) fail("{}.threshold: {} is a plot; thresholds apply to metrics", path, m.class_name);
    m.threshold = parse_threshold(j["threshold"], path + ".threshold");
  }
  const json& per_slice = array_field(j, "per_slice_thresholds", path);
  for (size_t i = 0; i < per_slice.size(); ++i) {
    std::string p = fmt::format("{}.per_slice_thresholds[{}]", path, i);
    if (m.is_plot()) fail("{}: {} is a plot; thresholds apply to metrics", p, m.class_name);
    check_object(per_slice[i], p, {"slicing_specs", "threshold"});
    if (!per_slice[i].contains("threshold")) fail("{}: missing field 'threshold'", p);
    PerSliceThreshold t;
    const json& specs = array_field(per_slice[i], "slicing_specs", p);
    if (specs.empty()) fail("{}.slicing_specs: expected at least one slicing spec", p);
    for (size_t s = 0; s < specs.size(); ++s) t.slicing_specs.push_back(parse_slicing_spec(specs[s], fmt::format("{}.slicing_specs[{}]", p, s)));
    t.threshold = parse_threshold(per_slice[i]["threshold"], p + ".threshold");
    m.per_slice_thresholds.push_back(std::move(t));
  }
  return m;
}

ModelSpec parse_model_spec(const json& j, const std::string& path) {
  check_object(j, path, {"name", "model_type", "signature_name", "label_key", "prediction_key", "is_baseline", "preprocessing_function_names"},
               {"label_keys", "example_weight_key"});
  ModelSpec m;
  m.name = string_field(j, "name", path);
  m.model_type = string_field(j, "model_type", path);
  if (!m.model_type.empty() && m.model_type != kTfLiteModelType && !kFullModelTypes.count(m.model_type)) {
    fail("{}.model_type: '{}' is not a model type litepipe evaluates; expected tf_lite or a full model type ({})", path,
         m.model_type, keys_of(kFullModelTypes));
  }
  m.signature_name = string_field(j, "signature_name", path, kDefaultSignature);
  if (m.signature_name.empty()) m.signature_name = kDefaultSignature;
  m.label_key = string_field(j, "label_key", path);
  m.prediction_key = string_field(j, "prediction_key", path);
  m.is_baseline = bool_field(j, "is_baseline", path, false);
  if (j.contains("preprocessing_function_names")) {
    const json& names = array_field(j, "preprocessing_function_names", path);
    for (size_t i = 0; i < names.size(); ++i) {
      if (!names[i].is_string() || names[i].get<std::string>() != kTransformFeaturesFunction) {
        fail("{}.preprocessing_function_names[{}]: {} is not a preprocessing function of litepipe's models; expected '{}'", path, i,
             names[i].dump(), kTransformFeaturesFunction);
      }
      m.preprocessing_function_names.push_back(names[i].get<std::string>());
    }
  }
  return m;
}

}  // namespace

const std::map<std::string, std::string>& known_metric_classes() {
  // The metric names are TFMA's (tfma.metrics) or, for the classes TFMA runs from tf.keras.metrics,
  // Keras's. TFMA has no coefficient of determination: R2Score is Keras's (tf.keras.metrics.R2Score,
  // "r2_score"), which a TFMA config names; CoefficientOfDetermination is litepipe's alias for it.
  static const std::map<std::string, std::string> classes = {
      {"ExampleCount", "example_count"},
      {"SparseCategoricalAccuracy", "sparse_categorical_accuracy"},
      {"SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"},
      {"SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy"},
      {"Precision", "precision"},
      {"Recall", "recall"},
      {"F1Score", "f1_score"},
      {"AUC", "auc"},
      {"ExpectedCalibrationError", "expected_calibration_error"},
      {"MultiClassConfusionMatrixPlot", "multi_class_confusion_matrix_plot"},
      {"CalibrationPlot", "calibration_plot"},
      {"BinaryAccuracy", "binary_accuracy"},
      {"ConfusionMatrixAtThresholds", "confusion_matrix_at_thresholds"},
      {"ConfusionMatrixPlot", "confusion_matrix_plot"},
      {"MeanSquaredError", "mean_squared_error"},
      {"MeanAbsoluteError", "mean_absolute_error"},
      {"RootMeanSquaredError", "root_mean_squared_error"},
      {"MeanAbsolutePercentageError", "mean_absolute_percentage_error"},
      {"R2Score", "r2_score"},
      {"CoefficientOfDetermination", "r2_score"},
      {"MeanLabel", "mean_label"},
      {"MeanPrediction", "mean_prediction"},
      {"PredictionLabelScatterPlot", "prediction_label_scatter"},
      {"ResidualHistogramPlot", "residual_histogram"},
  };
  return classes;
}

const char* problem_type_name(ProblemType type) {
  switch (type) {
    case ProblemType::MultiClass: return "multi_class";
    case ProblemType::Binary: return "binary";
    case ProblemType::Regression: return "regression";
  }
  return "";
}

std::string MetricConfig::name() const {
  if (config.contains("name")) return config["name"].get<std::string>();
  return known_metric_classes().at(class_name);
}

bool MetricConfig::is_plot() const {
  static const std::set<std::string> plots = {"MultiClassConfusionMatrixPlot", "CalibrationPlot", "ConfusionMatrixAtThresholds",
                                              "ConfusionMatrixPlot", "PredictionLabelScatterPlot", "ResidualHistogramPlot"};
  return plots.count(class_name) > 0;
}

MetricKind MetricConfig::kind() const {
  static const std::set<std::string> regression = {"MeanSquaredError",           "MeanAbsoluteError", "RootMeanSquaredError",
                                                   "MeanAbsolutePercentageError", "R2Score",           "CoefficientOfDetermination",
                                                   "PredictionLabelScatterPlot",  "ResidualHistogramPlot"};
  static const std::set<std::string> binary = {"BinaryAccuracy", "ConfusionMatrixAtThresholds", "ConfusionMatrixPlot"};
  if (class_name == "ExampleCount") return MetricKind::Any;
  if (class_name == "MeanLabel" || class_name == "MeanPrediction") return MetricKind::RegressionOrBinary;
  if (regression.count(class_name)) return MetricKind::Regression;
  if (binary.count(class_name)) return MetricKind::BinaryOnly;
  // TFMA's Precision, Recall and F1Score are binary metrics at thresholds; litepipe's multi-class
  // ones (per class, macro average) are kept for configs without thresholds.
  if (config.contains("thresholds")) return MetricKind::BinaryOnly;
  return MetricKind::Classification;
}

std::vector<double> MetricConfig::thresholds() const {
  const char* key = class_name == "BinaryAccuracy" ? "threshold" : "thresholds";
  if (!config.contains(key)) return {0.5};  // TFMA's and Keras's default
  const json& t = config[key];
  if (t.is_number()) return {t.get<double>()};
  return t.get<std::vector<double>>();
}

std::vector<MetricConfig> default_metrics(ProblemType type) {
  std::vector<const char*> classes;
  switch (type) {
    case ProblemType::MultiClass:
      classes = {"ExampleCount", "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy", "Precision", "Recall",
                 "F1Score", "AUC", "ExpectedCalibrationError", "MultiClassConfusionMatrixPlot", "CalibrationPlot"};
      break;
    case ProblemType::Binary:
      classes = {"ExampleCount", "BinaryAccuracy", "SparseCategoricalCrossentropy", "Precision", "Recall", "F1Score", "AUC",
                 "MeanLabel", "MeanPrediction", "ExpectedCalibrationError", "MultiClassConfusionMatrixPlot", "CalibrationPlot"};
      break;
    case ProblemType::Regression:
      classes = {"ExampleCount", "MeanSquaredError", "MeanAbsoluteError", "RootMeanSquaredError", "R2Score", "MeanLabel",
                 "MeanPrediction", "PredictionLabelScatterPlot", "ResidualHistogramPlot"};
      break;
  }
  std::vector<MetricConfig> metrics;
  for (const char* c : classes) {
    MetricConfig m;
    m.class_name = c;
    metrics.push_back(m);
  }
  return metrics;
}

const ModelSpec& EvalConfig::candidate_spec() const {
  for (const auto& m : model_specs)
    if (!m.is_baseline) return m;
  fail("eval_config.model_specs: no candidate model (every spec has is_baseline)");
}

const ModelSpec* EvalConfig::baseline_spec() const {
  for (const auto& m : model_specs)
    if (m.is_baseline) return &m;
  return nullptr;
}

std::vector<MetricConfig> EvalConfig::all_metrics(ProblemType type) const {
  std::vector<MetricConfig> all;
  std::set<std::string> names;
  for (const auto& spec : metrics_specs)
    for (const auto& m : spec.metrics)
      if (names.insert(m.name()).second) all.push_back(m);
  if (options.include_default_metrics) {
    for (auto& m : default_metrics(type))
      if (names.insert(m.name()).second) all.push_back(m);
  }
  return all;
}

bool EvalConfig::has_thresholds() const {
  for (const auto& spec : metrics_specs) {
    if (!spec.thresholds.empty()) return true;
    for (const auto& m : spec.metrics)
      if (m.threshold || !m.per_slice_thresholds.empty()) return true;
  }
  return false;
}

bool EvalConfig::has_binary_metrics() const {
  for (const auto& spec : metrics_specs)
    for (const auto& m : spec.metrics)
      if (m.kind() == MetricKind::BinaryOnly) return true;
  return false;
}

ProblemType EvalConfig::problem_type_for(int64_t width, const std::string& model) const {
  if (width < 1) fail("{}: no values per example; expected class probabilities or one value per example", model);
  const MetricConfig* binary = nullptr;
  for (const auto& spec : metrics_specs)
    for (const auto& m : spec.metrics)
      if (!binary && m.kind() == MetricKind::BinaryOnly) binary = &m;
  ProblemType type = width >= 3 || (width == 2 && !binary) ? ProblemType::MultiClass : binary ? ProblemType::Binary : ProblemType::Regression;
  std::string what = type == ProblemType::Regression ? "a regression model (one value per example)"
                     : type == ProblemType::Binary
                         ? fmt::format("a binary classifier (binary metric {} configured)", binary->class_name)
                         : fmt::format("a {}-class classifier (probabilities per class)", width);
  for (size_t s = 0; s < metrics_specs.size(); ++s) {
    for (size_t i = 0; i < metrics_specs[s].metrics.size(); ++i) {
      const MetricConfig& m = metrics_specs[s].metrics[i];
      MetricKind kind = m.kind();
      bool fits = kind == MetricKind::Any || (type == ProblemType::Regression && (kind == MetricKind::Regression || kind == MetricKind::RegressionOrBinary)) ||
                  (type == ProblemType::Binary && kind != MetricKind::Regression) ||
                  (type == ProblemType::MultiClass && kind == MetricKind::Classification);
      if (fits) continue;
      const char* metric_kind = kind == MetricKind::Regression           ? "a regression metric"
                                : kind == MetricKind::RegressionOrBinary ? "a regression or binary classification metric"
                                : kind == MetricKind::BinaryOnly         ? "a binary classification metric"
                                                                         : "a classification metric";
      std::string hint = type == ProblemType::Regression
                             ? "; a model with one sigmoid output is evaluated as a binary classifier when a binary metric is configured "
                               "(BinaryAccuracy, ConfusionMatrixAtThresholds, ConfusionMatrixPlot, or Precision/Recall/F1Score with "
                               "config.thresholds)"
                         : kind == MetricKind::BinaryOnly ? "; binary metrics need one sigmoid output or two softmax outputs"
                                                          : "";
      fail("eval_config.metrics_specs[{}].metrics[{}]: {} ({}) is {}, but {}: {}{}", s, i, m.class_name, m.name(), metric_kind, model,
           what, hint);
    }
  }
  // Thresholds by name must name a metric computed for this kind of model.
  std::set<std::string> computed;
  for (const auto& m : all_metrics(type))
    if (!m.is_plot()) computed.insert(m.name());
  for (size_t s = 0; s < metrics_specs.size(); ++s) {
    for (const auto& [name, _] : metrics_specs[s].thresholds) {
      if (!computed.count(name)) {
        fail("eval_config.metrics_specs[{}].thresholds.{}: no metric named '{}' is computed for {}: {}; computed metrics: {}", s, name, name,
             model, what, keys_of(computed));
      }
    }
  }
  return type;
}

EvalConfig parse_eval_config(const json& j, const std::string& where) {
  check_object(j, where, {"model_specs", "slicing_specs", "metrics_specs", "options"});
  EvalConfig config;

  const json& models = array_field(j, "model_specs", where);
  if (models.empty()) fail("{}.model_specs: expected at least one model spec (with label_key)", where);
  int candidates = 0, baselines = 0;
  for (size_t i = 0; i < models.size(); ++i) {
    std::string p = fmt::format("{}.model_specs[{}]", where, i);
    ModelSpec m = parse_model_spec(models[i], p);
    (m.is_baseline ? baselines : candidates)++;
    if (candidates > 1) fail("{}: a second candidate model; litepipe evaluates one candidate (and one is_baseline)", p);
    if (baselines > 1) fail("{}: a second baseline model; expected at most one spec with is_baseline", p);
    if (!m.is_baseline && m.label_key.empty()) fail("{}.label_key: missing; the label feature is needed", p);
    config.model_specs.push_back(std::move(m));
  }
  if (candidates == 0) fail("{}.model_specs: every spec has is_baseline; expected one candidate", where);

  const json& slices = array_field(j, "slicing_specs", where);
  for (size_t i = 0; i < slices.size(); ++i) config.slicing_specs.push_back(parse_slicing_spec(slices[i], fmt::format("{}.slicing_specs[{}]", where, i)));
  if (config.slicing_specs.empty()) config.slicing_specs.push_back({});  // TFMA: no spec = overall

  if (j.contains("options")) {
    std::string p = where + ".options";
    const json& o = j["options"];
    check_object(o, p, {"include_default_metrics", "compute_confidence_intervals", "min_slice_size"});
    config.options.include_default_metrics = bool_field(o, "include_default_metrics", p, true);
    config.options.compute_confidence_intervals = bool_field(o, "compute_confidence_intervals", p, false);
    if (o.contains("min_slice_size")) {
      const json& v = unwrap(o["min_slice_size"]);
      if (!v.is_number_integer() || v.get<int64_t>() < 1) fail("{}.min_slice_size: expected an integer >= 1, got {}", p, o["min_slice_size"].dump());
      config.options.min_slice_size = v.get<int64_t>();
    }
  }

  const json& specs = array_field(j, "metrics_specs", where);
  std::set<std::string> names;
  for (size_t i = 0; i < specs.size(); ++i) {
    std::string p = fmt::format("{}.metrics_specs[{}]", where, i);
    check_object(specs[i], p, {"metrics", "thresholds"}, {"model_names", "output_names", "binarize"});
    MetricsSpec spec;
    const json& metrics = array_field(specs[i], "metrics", p);
    for (size_t m = 0; m < metrics.size(); ++m) {
      std::string mp = fmt::format("{}.metrics[{}]", p, m);
      MetricConfig metric = parse_metric(metrics[m], mp);
      if (!names.insert(metric.name()).second) fail("{}: metric '{}' is configured twice (give one a config.name)", mp, metric.name());
      spec.metrics.push_back(std::move(metric));
    }
    config.metrics_specs.push_back(std::move(spec));
  }
  // A model is evaluated as a regression model or as a classifier, never both.
  const MetricConfig *regression = nullptr, *classification = nullptr;
  std::string regression_path, classification_path;
  for (size_t i = 0; i < config.metrics_specs.size(); ++i) {
    for (size_t m = 0; m < config.metrics_specs[i].metrics.size(); ++m) {
      const MetricConfig& metric = config.metrics_specs[i].metrics[m];
      std::string mp = fmt::format("{}.metrics_specs[{}].metrics[{}]", where, i, m);
      MetricKind kind = metric.kind();
      if (kind == MetricKind::Regression && !regression) regression = &metric, regression_path = mp;
      if ((kind == MetricKind::Classification || kind == MetricKind::BinaryOnly) && !classification) classification = &metric, classification_path = mp;
    }
  }
  if (regression && classification) {
    fail("{}: {} is a regression metric, but {} ({}) is a classification metric; a model is evaluated as one or the other "
         "(by its output: one value per example is regression)",
         regression_path, regression->class_name, classification_path, classification->class_name);
  }
  // Threshold maps may name any metric computed, so they are read once every metric is known;
  // which defaults are computed depends on the model, so any kind's are accepted here when the
  // configured metrics do not decide it (evaluate() checks the names against the model).
  std::set<std::string> metric_names, plot_names;
  std::vector<ProblemType> types = {ProblemType::MultiClass, ProblemType::Binary, ProblemType::Regression};
  if (regression) types = {ProblemType::Regression};
  else if (config.has_binary_metrics()) types = {ProblemType::Binary};
  for (ProblemType type : types)
    for (const auto& m : config.all_metrics(type)) (m.is_plot() ? plot_names : metric_names).insert(m.name());
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!specs[i].contains("thresholds")) continue;
    std::string p = fmt::format("{}.metrics_specs[{}].thresholds", where, i);
    if (!specs[i]["thresholds"].is_object()) fail("{}: expected an object {{metric name: threshold}}", p);
    for (const auto& [name, t] : specs[i]["thresholds"].items()) {
      if (!metric_names.count(name)) {
        fail("{}.{}: no metric named '{}' is computed; computed metrics: {}", p, name, name, keys_of(metric_names));
      }
      config.metrics_specs[i].thresholds[name] = parse_threshold(t, p + "." + name);
    }
  }
  return config;
}

json to_json(const SlicingSpec& spec) {
  json j = json::object();
  if (!spec.feature_keys.empty()) j["feature_keys"] = spec.feature_keys;
  if (!spec.feature_values.empty()) j["feature_values"] = spec.feature_values;
  return j;
}

json to_json(const MetricThreshold& t) {
  json j = json::object();
  if (t.value_threshold) {
    j["value_threshold"] = json::object();
    if (std::isfinite(t.value_threshold->lower_bound)) j["value_threshold"]["lower_bound"] = t.value_threshold->lower_bound;
    if (std::isfinite(t.value_threshold->upper_bound)) j["value_threshold"]["upper_bound"] = t.value_threshold->upper_bound;
  }
  if (t.change_threshold) {
    json c = {{"direction", t.change_threshold->direction == Direction::HigherIsBetter ? "HIGHER_IS_BETTER" : "LOWER_IS_BETTER"}};
    if (t.change_threshold->absolute) c["absolute"] = *t.change_threshold->absolute;
    if (t.change_threshold->relative) c["relative"] = *t.change_threshold->relative;
    j["change_threshold"] = c;
  }
  return j;
}

json to_json(const EvalConfig& config) {
  json models = json::array();
  for (const auto& m : config.model_specs) {
    json spec = {{"name", m.name}, {"model_type", m.model_type}, {"signature_name", m.signature_name}, {"label_key", m.label_key},
                 {"prediction_key", m.prediction_key}, {"is_baseline", m.is_baseline}};
    models.push_back(spec);
  }
  json slices = json::array();
  for (const auto& s : config.slicing_specs) slices.push_back(to_json(s));
  json metrics_specs = json::array();
  for (const auto& spec : config.metrics_specs) {
    json metrics = json::array();
    for (const auto& m : spec.metrics) {
      json metric = {{"class_name", m.class_name}};
      if (!m.config.empty()) metric["config"] = m.config;
      if (m.threshold) metric["threshold"] = to_json(*m.threshold);
      if (!m.per_slice_thresholds.empty()) {
        metric["per_slice_thresholds"] = json::array();
        for (const auto& t : m.per_slice_thresholds) {
          json specs = json::array();
          for (const auto& s : t.slicing_specs) specs.push_back(to_json(s));
          metric["per_slice_thresholds"].push_back({{"slicing_specs", specs}, {"threshold", to_json(t.threshold)}});
        }
      }
      metrics.push_back(metric);
    }
    json s = {{"metrics", metrics}};
    if (!spec.thresholds.empty()) {
      s["thresholds"] = json::object();
      for (const auto& [name, t] : spec.thresholds) s["thresholds"][name] = to_json(t);
    }
    metrics_specs.push_back(s);
  }
  return {{"model_specs", models},
          {"slicing_specs", slices},
          {"metrics_specs", metrics_specs},
          {"options",
           {{"include_default_metrics", config.options.include_default_metrics},
            {"compute_confidence_intervals", config.options.compute_confidence_intervals},
            {"min_slice_size", config.options.min_slice_size}}}};
}

}  // namespace litepipe::eval
