#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "core/hashing.h"
#include "core/parallel.h"

namespace litepipe::eval {
namespace {

using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int64_t config_int(const MetricConfig& m, const char* key, int64_t fallback) {
  return m.config.contains(key) ? m.config[key].get<int64_t>() : fallback;
}

// Area under the ROC curve of `scores` for positives vs the rest: the Mann-Whitney statistic
// with tied scores sharing their average rank (exact, no thresholds). NaN without both kinds.
double one_vs_rest_auc(std::vector<std::pair<float, bool>>& scored) {
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  double positive_rank_sum = 0;
  int64_t positives = 0;
  for (size_t i = 0; i < scored.size();) {
    size_t j = i;
    while (j < scored.size() && scored[j].first == scored[i].first) ++j;
    double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t t = i; t < j; ++t) {
      if (scored[t].second) {
        positive_rank_sum += average_rank;
        ++positives;
      }
    }
    i = j;
  }
  int64_t negatives = static_cast<int64_t>(scored.size()) - positives;
  if (positives == 0 || negatives == 0) return kNaN;
  double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

double mean_of_defined(const std::vector<double>& values, const std::vector<bool>& include) {
  double sum = 0;
  int64_t n = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (include[i] && !std::isnan(values[i])) {
      sum += values[i];
      ++n;
    }
  }
  return n == 0 ? kNaN : sum / static_cast<double>(n);
}

// scikit-learn's macro average with zero_division=0: the mean over the `present` classes, an
// undefined (NaN) value counting as 0; NaN when no class is present.
double macro_average(const std::vector<double>& values, const std::vector<bool>& present) {
  double sum = 0;
  int64_t n = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!present[i]) continue;
    if (!std::isnan(values[i])) sum += values[i];
    ++n;
  }
  return n == 0 ? kNaN : sum / static_cast<double>(n);
}

// Buckets of equal width over the top-1 confidence: count, confidence sum, correct count.
struct CalibrationBuckets {
  std::vector<int64_t> count, correct;
  std::vector<double> confidence;
};

CalibrationBuckets calibration_buckets(const Predictions& p, const std::vector<int64_t>& rows, int64_t buckets) {
  CalibrationBuckets b{std::vector<int64_t>(static_cast<size_t>(buckets)), std::vector<int64_t>(static_cast<size_t>(buckets)),
                       std::vector<double>(static_cast<size_t>(buckets))};
  for (int64_t r : rows) {
    const float* row = p.row(r);
    int64_t predicted = argmax(row, p.num_classes);
    double confidence = row[predicted];
    auto k = static_cast<size_t>(std::clamp<int64_t>(static_cast<int64_t>(confidence * static_cast<double>(buckets)), 0, buckets - 1));
    b.count[k]++;
    b.confidence[k] += confidence;
    b.correct[k] += predicted == p.labels[static_cast<size_t>(r)];
  }
  return b;
}

double percentile(std::vector<double> values, double q) {  // linear interpolation, as numpy
  std::sort(values.begin(), values.end());
  double pos = q * static_cast<double>(values.size() - 1);
  auto lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (pos - static_cast<double>(lo));
}

json number_or_null(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

double ratio(double numerator, double denominator) { return denominator != 0 ? numerator / denominator : kNaN; }

// A binary classifier's confusion matrix at one threshold: a prediction is positive when the
// positive class's probability is above the threshold (as TFMA and Keras count it).
struct BinaryCounts {
  double tp = 0, fp = 0, tn = 0, fn = 0;
};

BinaryCounts binary_counts(const Predictions& p, const std::vector<int64_t>& rows, double threshold) {
  BinaryCounts c;
  for (int64_t r : rows) {
    bool predicted = static_cast<double>(p.positive(r)) > threshold, actual = p.labels[static_cast<size_t>(r)] == 1;
    (predicted ? (actual ? c.tp : c.fp) : (actual ? c.fn : c.tn)) += 1;
  }
  return c;
}

// TFMA's ConfusionMatrixAtThresholds: one matrix per threshold (rows sorted once, each threshold a
// binary search), with precision and recall (null where 0/0).
json confusion_matrices(const Predictions& p, const std::vector<int64_t>& rows, const std::vector<double>& thresholds) {
  std::vector<std::pair<double, bool>> scored;
  scored.reserve(rows.size());
  for (int64_t r : rows) scored.emplace_back(p.positive(r), p.labels[static_cast<size_t>(r)] == 1);
  std::sort(scored.begin(), scored.end());
  std::vector<int64_t> positives_before(scored.size() + 1, 0);
  for (size_t i = 0; i < scored.size(); ++i) positives_before[i + 1] = positives_before[i] + scored[i].second;
  const int64_t n = static_cast<int64_t>(scored.size()), positives = positives_before.back();
  json matrices = json::array();
  for (double t : thresholds) {
    auto above = std::upper_bound(scored.begin(), scored.end(), t, [](double v, const auto& s) { return v < s.first; }) - scored.begin();
    int64_t tp = positives - positives_before[static_cast<size_t>(above)], fp = (n - above) - tp, fn = positives - tp, tn = n - positives - fp;
    matrices.push_back({{"threshold", t},
                        {"true_positives", tp},
                        {"false_positives", fp},
                        {"true_negatives", tn},
                        {"false_negatives", fn},
                        {"precision", number_or_null(ratio(static_cast<double>(tp), static_cast<double>(tp + fp)))},
                        {"recall", number_or_null(ratio(static_cast<double>(tp), static_cast<double>(tp + fn)))}});
  }
  return {{"matrices", matrices}};
}

std::map<std::string, MetricValue> regression_metrics(const Predictions& p, const std::vector<int64_t>& rows,
                                                      const std::vector<MetricConfig>& metrics) {
  const auto n = static_cast<double>(rows.size());
  double label_sum = 0, prediction_sum = 0, squared = 0, absolute = 0, percentage = 0;
  for (int64_t r : rows) {
    double y = p.targets[static_cast<size_t>(r)], v = p.values[static_cast<size_t>(r)], e = std::abs(y - v);
    label_sum += y;
    prediction_sum += v;
    squared += e * e;
    absolute += e;
    percentage += e / std::max(std::abs(y), kPercentageErrorEpsilon);
  }
  // The total sum of squares about the mean (a second pass), not sum(y²) - sum(y) · mean, which
  // cancels digits when the labels are large and close together.
  double mean_label = label_sum / n, total = 0;
  for (int64_t r : rows) total += (p.targets[static_cast<size_t>(r)] - mean_label) * (p.targets[static_cast<size_t>(r)] - mean_label);
  std::map<std::string, MetricValue> out;
  for (const auto& m : metrics) {
    const std::string& c = m.class_name;
    MetricValue v;
    if (c == "ExampleCount") {
      v.value = n;
      v.integer = true;
    } else if (c == "MeanSquaredError") {
      v.value = squared / n;
    } else if (c == "MeanAbsoluteError") {
      v.value = absolute / n;
    } else if (c == "RootMeanSquaredError") {
      v.value = std::sqrt(squared / n);
    } else if (c == "MeanAbsolutePercentageError") {
      v.value = 100 * percentage / n;
    } else if (c == "R2Score" || c == "CoefficientOfDetermination") {
      // Keras's R2Score: 1 - SS_res / SS_tot; labels all equal (SS_tot = 0) give 0, or undefined
      // (0/0) when the predictions are exact too.
      v.value = total != 0 ? 1 - squared / total : squared != 0 ? 0.0 : kNaN;
    } else if (c == "MeanLabel") {
      v.value = mean_label;
    } else if (c == "MeanPrediction") {
      v.value = prediction_sum / n;
    } else {
      continue;  // a plot
    }
    out[m.name()] = std::move(v);
  }
  return out;
}

// Up to `max_points` (label, prediction) pairs, evenly spaced over the rows, so the sample is the
// same on every run and covers the whole slice.
json scatter_plot(const Predictions& p, const std::vector<int64_t>& rows, int64_t max_points) {
  json points = json::array();
  const auto n = static_cast<int64_t>(rows.size()), count = std::min(n, max_points);
  for (int64_t k = 0; k < count; ++k) {
    int64_t r = rows[static_cast<size_t>(k * n / count)];
    points.push_back({{"example_index", r}, {"label", p.targets[static_cast<size_t>(r)]}, {"prediction", p.values[static_cast<size_t>(r)]}});
  }
  return {{"example_count", n}, {"max_points", max_points}, {"points", points}};
}

// Residuals (prediction - label) in `buckets` buckets of equal width from the smallest to the
// largest (a bucket holds [lower, upper), the last one its upper bound too).
json residual_histogram(const Predictions& p, const std::vector<int64_t>& rows, int64_t buckets) {
  std::vector<double> residuals;
  residuals.reserve(rows.size());
  for (int64_t r : rows) residuals.push_back(static_cast<double>(p.values[static_cast<size_t>(r)]) - p.targets[static_cast<size_t>(r)]);
  auto [lo_it, hi_it] = std::minmax_element(residuals.begin(), residuals.end());
  double lo = *lo_it, hi = *hi_it, sum = 0;
  if (lo == hi) lo -= 0.5, hi += 0.5;  // every residual the same: one unit around it
  double width = (hi - lo) / static_cast<double>(buckets);
  std::vector<int64_t> counts(static_cast<size_t>(buckets), 0);
  for (double e : residuals) {
    counts[static_cast<size_t>(std::clamp<int64_t>(static_cast<int64_t>((e - lo) / width), 0, buckets - 1))]++;
    sum += e;
  }
  json list = json::array();
  for (int64_t k = 0; k < buckets; ++k) {
    list.push_back({{"lower_bound", lo + width * static_cast<double>(k)},
                    {"upper_bound", k + 1 == buckets ? hi : lo + width * static_cast<double>(k + 1)},
                    {"count", counts[static_cast<size_t>(k)]}});
  }
  return {{"residual", "prediction - label"}, {"mean_residual", sum / static_cast<double>(residuals.size())}, {"buckets", list}};
}

}  // namespace

std::map<std::string, MetricValue> compute_metrics(const Predictions& p, const std::vector<int64_t>& rows,
                                                   const std::vector<MetricConfig>& metrics) {
  if (p.regression()) return regression_metrics(p, rows, metrics);
  const int64_t classes = p.num_classes;
  const auto C = static_cast<size_t>(classes);
  const auto n = static_cast<double>(rows.size());
  // One pass for everything but AUC: confusion matrix (rows actual, columns predicted).
  std::vector<int64_t> confusion(C * C, 0);
  double loss_sum = 0;
  for (int64_t r : rows) {
    const float* row = p.row(r);
    auto label = static_cast<size_t>(p.labels[static_cast<size_t>(r)]);
    confusion[label * C + static_cast<size_t>(argmax(row, classes))]++;
    // Keras (from probabilities): clip, then the log of the label's share of the clipped sum.
    double clipped_sum = 0;
    for (size_t c = 0; c < C; ++c) clipped_sum += std::clamp<double>(row[c], kCrossentropyEpsilon, 1 - kCrossentropyEpsilon);
    loss_sum -= std::log(std::clamp<double>(row[label], kCrossentropyEpsilon, 1 - kCrossentropyEpsilon) / clipped_sum);
  }
  std::vector<int64_t> actual(C, 0), predicted(C, 0);
  int64_t correct = 0;
  for (size_t a = 0; a < C; ++a) {
    for (size_t q = 0; q < C; ++q) {
      actual[a] += confusion[a * C + q];
      predicted[q] += confusion[a * C + q];
    }
    correct += confusion[a * C + a];
  }
  // Per class: undefined (NaN, null in JSON) where the denominator is 0: precision of a class
  // never predicted, recall of a class never a label, F1 = 2 TP / (2 TP + FP + FN) of a class that
  // is neither. The macro average is scikit-learn's (zero_division=0): over the classes that occur
  // as label or prediction, an undefined value counting as 0.
  std::vector<bool> present(C);
  std::vector<double> precision(C), recall(C), f1(C);
  for (size_t c = 0; c < C; ++c) {
    present[c] = actual[c] > 0 || predicted[c] > 0;
    auto tp = static_cast<double>(confusion[c * C + c]);
    precision[c] = predicted[c] ? tp / static_cast<double>(predicted[c]) : kNaN;
    recall[c] = actual[c] ? tp / static_cast<double>(actual[c]) : kNaN;
    auto errors = static_cast<double>(predicted[c] + actual[c]) - 2 * tp;  // FP + FN
    f1[c] = present[c] ? 2 * tp / (2 * tp + errors) : kNaN;
  }

  std::map<std::string, MetricValue> out;
  for (const auto& m : metrics) {
    const std::string& c = m.class_name;
    MetricValue v;
    bool binary = p.problem_type == ProblemType::Binary;
    if (c == "ExampleCount") {
      v.value = n;
      v.integer = true;
    } else if (binary && (c == "BinaryAccuracy" || c == "Precision" || c == "Recall" || c == "F1Score")) {
      // TFMA's binary metrics of the positive class at a threshold; undefined where 0/0.
      BinaryCounts b = binary_counts(p, rows, m.thresholds().front());
      v.value = c == "BinaryAccuracy" ? ratio(b.tp + b.tn, n)
                : c == "Precision"    ? ratio(b.tp, b.tp + b.fp)
                : c == "Recall"       ? ratio(b.tp, b.tp + b.fn)
                                      : ratio(2 * b.tp, 2 * b.tp + b.fp + b.fn);
    } else if (binary && (c == "MeanLabel" || c == "MeanPrediction")) {
      double sum = 0;
      for (int64_t r : rows) sum += c == "MeanLabel" ? static_cast<double>(p.labels[static_cast<size_t>(r)]) : static_cast<double>(p.positive(r));
      v.value = sum / n;
    } else if (c == "SparseCategoricalAccuracy") {
      v.value = static_cast<double>(correct) / n;
    } else if (c == "SparseCategoricalCrossentropy") {
      v.value = loss_sum / n;
    } else if (c == "SparseTopKCategoricalAccuracy") {
      // tf.math.in_top_k: the label is a hit when fewer than k classes score strictly higher.
      int64_t k = config_int(m, "k", kDefaultTopK), hits = 0;
      for (int64_t r : rows) {
        const float* row = p.row(r);
        float target = row[p.labels[static_cast<size_t>(r)]];
        hits += std::count_if(row, row + classes, [&](float s) { return s > target; }) < k;
      }
      v.value = static_cast<double>(hits) / n;
    } else if (c == "Precision" || c == "Recall" || c == "F1Score") {
      v.per_class = c == "Precision" ? precision : c == "Recall" ? recall : f1;
      v.value = macro_average(v.per_class, present);
    } else if (c == "AUC") {
      v.per_class.resize(C);
      std::vector<std::pair<float, bool>> scored(rows.size());
      for (size_t cls = 0; cls < C; ++cls) {
        for (size_t i = 0; i < rows.size(); ++i) {
          scored[i] = {p.row(rows[i])[cls], p.labels[static_cast<size_t>(rows[i])] == static_cast<int64_t>(cls)};
        }
        v.per_class[cls] = one_vs_rest_auc(scored);
      }
      v.value = mean_of_defined(v.per_class, std::vector<bool>(C, true));
    } else if (c == "ExpectedCalibrationError") {
      auto b = calibration_buckets(p, rows, config_int(m, "num_buckets", kDefaultCalibrationBuckets));
      double gap = 0;
      for (size_t k = 0; k < b.count.size(); ++k) gap += std::abs(static_cast<double>(b.correct[k]) - b.confidence[k]);
      v.value = gap / n;
    } else {
      continue;  // a plot
    }
    out[m.name()] = std::move(v);
  }
  return out;
}

json compute_plots(const Predictions& p, const std::vector<int64_t>& rows, const std::vector<MetricConfig>& metrics) {
  json plots = json::object();
  const auto C = static_cast<size_t>(p.num_classes);
  for (const auto& m : metrics) {
    if (p.regression()) {
      if (m.class_name == "PredictionLabelScatterPlot") plots[m.name()] = scatter_plot(p, rows, config_int(m, "max_points", kDefaultScatterPoints));
      if (m.class_name == "ResidualHistogramPlot") plots[m.name()] = residual_histogram(p, rows, config_int(m, "num_buckets", kDefaultResidualBuckets));
      continue;
    }
    if (m.class_name == "ConfusionMatrixAtThresholds" && p.problem_type == ProblemType::Binary) {
      plots[m.name()] = confusion_matrices(p, rows, m.thresholds());
    } else if (m.class_name == "ConfusionMatrixPlot" && p.problem_type == ProblemType::Binary) {
      // TFMA's thresholds: just below 0 (every example positive), then 0, 1/n, ..., 1.
      int64_t count = config_int(m, "num_thresholds", kDefaultConfusionMatrixPlotThresholds);
      std::vector<double> thresholds = {-1e-6};
      for (int64_t i = 0; i <= count; ++i) thresholds.push_back(static_cast<double>(i) / static_cast<double>(count));
      plots[m.name()] = confusion_matrices(p, rows, thresholds);
    } else if (m.class_name == "MultiClassConfusionMatrixPlot") {
      std::vector<std::vector<int64_t>> matrix(C, std::vector<int64_t>(C, 0));
      for (int64_t r : rows) matrix[static_cast<size_t>(p.labels[static_cast<size_t>(r)])][static_cast<size_t>(argmax(p.row(r), p.num_classes))]++;
      std::vector<int64_t> ids(C);
      std::iota(ids.begin(), ids.end(), 0);
      plots[m.name()] = {{"class_ids", ids}, {"matrix", matrix}, {"rows", "actual"}, {"columns", "predicted"}};
    } else if (m.class_name == "CalibrationPlot") {
      int64_t buckets = config_int(m, "num_buckets", kDefaultCalibrationBuckets);
      auto b = calibration_buckets(p, rows, buckets);
      json list = json::array();
      for (size_t k = 0; k < b.count.size(); ++k) {
        double count = static_cast<double>(b.count[k]);
        list.push_back({{"lower_threshold", static_cast<double>(k) / static_cast<double>(buckets)},
                        {"upper_threshold", static_cast<double>(k + 1) / static_cast<double>(buckets)},
                        {"count", b.count[k]},
                        {"mean_confidence", number_or_null(b.count[k] ? b.confidence[k] / count : kNaN)},
                        {"accuracy", number_or_null(b.count[k] ? static_cast<double>(b.correct[k]) / count : kNaN)}});
      }
      plots[m.name()] = {{"buckets", list}};
    }
  }
  return plots;
}

std::map<std::string, Interval> bootstrap_intervals(const Predictions& p, const std::vector<int64_t>& rows,
                                                    const std::vector<MetricConfig>& metrics, uint64_t seed) {
  std::vector<std::map<std::string, MetricValue>> samples(kBootstrapSamples);
  parallel_for(samples.size(), [&](size_t s) {
    // One generator per resample, so the draw does not depend on which thread runs it.
    std::mt19937_64 rng(seed ^ hash64(std::to_string(s)));
    std::vector<int64_t> resample(rows.size());
    for (auto& r : resample) r = rows[rng() % rows.size()];
    samples[s] = compute_metrics(p, resample, metrics);
  });
  std::map<std::string, Interval> intervals;
  for (const auto& [name, _] : samples[0]) {
    std::vector<double> values;
    for (const auto& s : samples)
      if (!std::isnan(s.at(name).value)) values.push_back(s.at(name).value);
    if (values.empty()) intervals[name] = {kNaN, kNaN};
    else intervals[name] = {percentile(values, 0.025), percentile(values, 0.975)};
  }
  return intervals;
}

json metric_json(const MetricValue& value, const Interval* interval, int64_t num_classes) {
  auto number_or_null = [&](double v) {
    if (std::isnan(v)) return json(nullptr);
    return value.integer ? json(static_cast<int64_t>(std::llround(v))) : json(v);
  };
  json j = {{"value", number_or_null(value.value)}};
  if (!value.per_class.empty()) {
    j["per_class"] = json::object();
    for (int64_t c = 0; c < num_classes; ++c) j["per_class"][std::to_string(c)] = number_or_null(value.per_class[static_cast<size_t>(c)]);
  }
  if (interval) {
    j["lower_bound"] = number_or_null(interval->lower);
    j["upper_bound"] = number_or_null(interval->upper);
  }
  return j;
}

}  // namespace litepipe::eval
