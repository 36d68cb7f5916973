#pragma once
// Metrics and plots over a model's predictions, computed on any multiset of rows (a slice, or a
// bootstrap resample of one): class probabilities ([N, C]) and integer labels for a classifier
// (binary: C = 2, the positive class second), one value and a float label per example for a
// regression model.
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/eval_config.h"

namespace litepipe::eval {

struct Predictions {
  ProblemType problem_type = ProblemType::MultiClass;
  // Classification (multi-class and binary).
  int64_t num_classes = 0;
  std::vector<float> probabilities;  // row-major [size(), num_classes]
  std::vector<int64_t> labels;
  // Regression: the model's value and the label of each example.
  std::vector<float> values;
  std::vector<double> targets;

  bool regression() const { return problem_type == ProblemType::Regression; }
  int64_t size() const { return static_cast<int64_t>(regression() ? targets.size() : labels.size()); }
  const float* row(int64_t i) const { return probabilities.data() + i * num_classes; }
  // Binary: the positive class's probability.
  float positive(int64_t i) const { return row(i)[1]; }
};

// The predicted class of a row of probabilities: the first maximum, as numpy's argmax.
inline int64_t argmax(const float* row, int64_t classes) { return std::max_element(row, row + classes) - row; }

// One metric's value; NaN = undefined on these rows (e.g. AUC where no class has both positives
// and negatives). Per-class metrics (precision, recall, f1_score, auc) also give each class's,
// NaN where the class's denominator is 0 (precision of a class never predicted, recall of a
// class that never occurs). `integer`: a count (example_count), written as an integer.
struct MetricValue {
  double value = 0;
  std::vector<double> per_class;
  bool integer = false;
};

// Keras's clipping of probabilities before the log in sparse categorical crossentropy.
inline constexpr double kCrossentropyEpsilon = 1e-7;
inline constexpr int64_t kDefaultTopK = 5;
inline constexpr int64_t kDefaultCalibrationBuckets = 10;
inline constexpr int kBootstrapSamples = 100;
// Keras's mean absolute percentage error divides by max(|label|, epsilon).
inline constexpr double kPercentageErrorEpsilon = 1e-7;
inline constexpr int64_t kDefaultConfusionMatrixPlotThresholds = 1000;  // TFMA's ConfusionMatrixPlot
inline constexpr int64_t kDefaultScatterPoints = 1000;
inline constexpr int64_t kDefaultResidualBuckets = 20;

// The metrics (not plots) of `metrics` on `rows` (indices into `p`; repeats allowed), by name.
std::map<std::string, MetricValue> compute_metrics(const Predictions& p, const std::vector<int64_t>& rows,
                                                   const std::vector<MetricConfig>& metrics);
// The plots of `metrics` on `rows`, by name.
nlohmann::json compute_plots(const Predictions& p, const std::vector<int64_t>& rows, const std::vector<MetricConfig>& metrics);

struct Interval {
  double lower = 0, upper = 0;
};
// 95% percentile-bootstrap intervals of each metric's value: kBootstrapSamples resamples of `rows`
// with replacement, drawn from a generator seeded by `seed` (deterministic, whatever the threads).
std::map<std::string, Interval> bootstrap_intervals(const Predictions& p, const std::vector<int64_t>& rows,
                                                    const std::vector<MetricConfig>& metrics, uint64_t seed);

// {"value": v, "per_class": {"0": v, ...}, "lower_bound", "upper_bound"}; NaN -> null; a count
// as an integer.
nlohmann::json metric_json(const MetricValue& value, const Interval* interval, int64_t num_classes);

}  // namespace litepipe::eval
