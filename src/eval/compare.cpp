#include "eval/compare.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/files.h"
#include "data/tfrecord.h"
#include "eval/eval_model.h"
#include "eval/evaluate.h"
#include "eval/metrics.h"
#include "eval/report.h"
#include "tensorflow/core/example/example.pb.h"

namespace litepipe::eval {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One evaluation folder as the comparison reads it.
struct Evaluation {
  fs::path dir;
  std::string title;
  json metrics, plots;
  fs::path predictions_file;
  int64_t num_classes = 0;
  std::map<int64_t, size_t> position;  // example_index -> row
  std::vector<int64_t> indices, labels;
  std::vector<float> probabilities;    // [rows, num_classes]
  // A regression model's predictions file: a float label and one prediction per example.
  bool regression = false;
  std::vector<double> targets;
  std::vector<float> values;

  const float* row(size_t r) const { return probabilities.data() + r * static_cast<size_t>(num_classes); }
};

const json& field(const json& j, const std::string& key, const fs::path& file, const std::string& at) {
  if (!j.is_object() || !j.contains(key)) fail("{}: {}: missing field '{}'", file.string(), at, key);
  return j[key];
}

void read_predictions(Evaluation& e) {
  e.predictions_file = e.dir / kPredictionsFile;
  if (!fs::exists(e.predictions_file)) fail("{}: no such file; expected the Evaluator's per-example predictions", e.predictions_file.string());
  TFRecordReader reader(e.predictions_file);
  std::string record;
  tensorflow::Example example;
  while (reader.next(record)) {
    auto where = [&] { return fmt::format("{}: record {}", e.predictions_file.string(), reader.records_read() - 1); };
    if (!example.ParseFromString(record)) fail("{} is not a tf.Example", where());
    const auto& f = example.features().feature();
    auto one_int = [&](const char* name) {
      auto it = f.find(name);
      if (it == f.end() || it->second.int64_list().value_size() != 1) fail("{}: expected one int64 in feature '{}'", where(), name);
      return it->second.int64_list().value(0);
    };
    int64_t index = one_int("example_index");
    if (!e.position.emplace(index, e.indices.size()).second) fail("{}: example_index {} appears twice", where(), index);
    e.indices.push_back(index);
    // Regression: label (float) and prediction; classifiers: label (int64) and probabilities.
    bool regression = f.count("prediction") > 0;
    if (e.indices.size() == 1) e.regression = regression;
    if (regression != e.regression) {
      fail("{}: {} feature 'prediction' (a regression model's), earlier records {}", where(), regression ? "has" : "lacks",
           e.regression ? "have it" : "have class probabilities");
    }
    if (regression) {
      auto one_float = [&](const char* name) {
        auto it = f.find(name);
        if (it == f.end() || it->second.float_list().value_size() != 1) fail("{}: expected one float in feature '{}' (a regression model's)", where(), name);
        return it->second.float_list().value(0);
      };
      e.targets.push_back(one_float("label"));
      e.values.push_back(one_float("prediction"));
      continue;
    }
    auto p = f.find("probabilities");
    if (p == f.end() || p->second.float_list().value_size() == 0) fail("{}: expected a float list in feature 'probabilities'", where());
    int64_t classes = p->second.float_list().value_size();
    if (e.num_classes == 0) e.num_classes = classes;
    if (classes != e.num_classes) fail("{}: feature 'probabilities' has {} values; earlier records {}", where(), classes, e.num_classes);
    e.labels.push_back(one_int("label"));
    e.probabilities.insert(e.probabilities.end(), p->second.float_list().value().begin(), p->second.float_list().value().end());
  }
  if (e.indices.empty()) fail("{}: no predictions", e.predictions_file.string());
}

Evaluation read_evaluation(const fs::path& dir, const std::string& title) {
  if (!fs::is_directory(dir)) fail("{}: not an evaluation folder (expected the Evaluator's metrics.json, plots.json and predictions)", dir.string());
  Evaluation e;
  e.dir = dir;
  e.title = title.empty() ? evaluation_title(dir) : title;
  e.metrics = read_metrics_file(dir);
  fs::path metrics_file = dir / kMetricsFile;
  const json& model = field(e.metrics, "model", metrics_file, "metrics.json");
  for (const char* key : {"path", "model_type"})
    if (!field(model, key, metrics_file, "model").is_string()) fail("{}: model.{}: expected a string", metrics_file.string(), key);
  if (!field(model, "file_size_bytes", metrics_file, "model").is_number_unsigned()) {
    fail("{}: model.file_size_bytes: expected a byte count, got {}", metrics_file.string(), model["file_size_bytes"].dump());
  }
  e.plots = read_plots_file(dir);
  read_predictions(e);
  return e;
}

// ---------------------------------------------------------------- shape of metrics.json and plots.json

[[noreturn]] void bad_field(const fs::path& file, const std::string& at, const std::string& expected, const json& got) {
  fail("{}: {}: expected {}, got {}", file.string(), at, expected, got.dump());
}

void expect_number_or_null(const json& v, const fs::path& file, const std::string& at) {
  if (!v.is_number() && !v.is_null()) bad_field(file, at, "a number or null", v);
}

void expect_count(const json& v, const fs::path& file, const std::string& at) {
  if (!v.is_number() || v.get<double>() < 0) bad_field(file, at, "a count (a number >= 0)", v);
}

// The keys every slice entry of both files has: slice_key (text) and, optionally, slice (an object).
void check_slice_entry(const json& s, const fs::path& file, const std::string& at) {
  if (!s.is_object()) bad_field(file, at, "an object {slice_key, slice, ...}", s);
  if (!s.contains("slice_key") || !s["slice_key"].is_string()) bad_field(file, at + ".slice_key", "a string", s.value("slice_key", json(nullptr)));
  if (s.contains("slice") && !s["slice"].is_object()) bad_field(file, at + ".slice", "an object {feature: value}", s["slice"]);
}

void check_metrics_json(const json& metrics, const fs::path& file) {
  if (!metrics.is_object()) bad_field(file, "metrics.json", "an object {model, example_count, slices}", metrics);
  if (!metrics.contains("slices") || !metrics["slices"].is_array()) bad_field(file, "slices", "a list", metrics.value("slices", json(nullptr)));
  if (metrics.contains("example_count")) expect_count(metrics["example_count"], file, "example_count");
  for (size_t i = 0; i < metrics["slices"].size(); ++i) {
    const json& s = metrics["slices"][i];
    std::string at = fmt::format("slices[{}]", i);
    check_slice_entry(s, file, at);
    for (const char* group : {"metrics", "baseline_metrics"}) {
      if (!s.contains(group)) {
        if (group == std::string("metrics")) bad_field(file, at + ".metrics", "an object {metric name: {value, ...}}", nullptr);
        continue;
      }
      const json& m = s[group];
      if (!m.is_object()) bad_field(file, fmt::format("{}.{}", at, group), "an object {metric name: {value, ...}}", m);
      for (const auto& [name, v] : m.items()) {
        std::string mat = fmt::format("{}.{}.{}", at, group, name);
        if (!v.is_object() || !v.contains("value")) bad_field(file, mat, "an object {value, per_class?}", v);
        expect_number_or_null(v["value"], file, mat + ".value");
        if (v.contains("per_class")) {
          if (!v["per_class"].is_object()) bad_field(file, mat + ".per_class", "an object {class: value}", v["per_class"]);
          for (const auto& [c, pv] : v["per_class"].items()) expect_number_or_null(pv, file, fmt::format("{}.per_class.{}", mat, c));
        }
      }
    }
  }
}

void check_plots_json(const json& plots, const fs::path& file) {
  if (!plots.is_object()) bad_field(file, "plots.json", "an object {slices}", plots);
  if (!plots.contains("slices") || !plots["slices"].is_array()) bad_field(file, "slices", "a list", plots.value("slices", json(nullptr)));
  for (size_t i = 0; i < plots["slices"].size(); ++i) {
    const json& s = plots["slices"][i];
    std::string at = fmt::format("slices[{}]", i);
    check_slice_entry(s, file, at);
    if (!s.contains("plots") || !s["plots"].is_object()) bad_field(file, at + ".plots", "an object {plot name: plot}", s.value("plots", json(nullptr)));
    const json& p = s["plots"];
    if (p.contains("multi_class_confusion_matrix_plot")) {
      std::string cat = at + ".plots.multi_class_confusion_matrix_plot";
      const json& cm = p["multi_class_confusion_matrix_plot"];
      if (!cm.is_object() || !cm.contains("matrix") || !cm["matrix"].is_array()) bad_field(file, cat + ".matrix", "a list of rows", cm.is_object() ? cm.value("matrix", json(nullptr)) : cm);
      const json& matrix = cm["matrix"];
      for (size_t r = 0; r < matrix.size(); ++r) {
        if (!matrix[r].is_array() || matrix[r].size() != matrix.size()) {
          bad_field(file, fmt::format("{}.matrix[{}]", cat, r), fmt::format("a row of {} counts (the matrix is square)", matrix.size()), matrix[r]);
        }
        for (size_t c = 0; c < matrix[r].size(); ++c) expect_count(matrix[r][c], file, fmt::format("{}.matrix[{}][{}]", cat, r, c));
      }
      if (cm.contains("class_ids") && (!cm["class_ids"].is_array() || cm["class_ids"].size() != matrix.size())) {
        bad_field(file, cat + ".class_ids", fmt::format("a list of {} class ids", matrix.size()), cm["class_ids"]);
      }
    }
    if (p.contains("prediction_label_scatter")) {
      std::string sat = at + ".plots.prediction_label_scatter";
      const json& sc = p["prediction_label_scatter"];
      if (!sc.is_object() || !sc.contains("points") || !sc["points"].is_array()) bad_field(file, sat + ".points", "a list of points", sc.is_object() ? sc.value("points", json(nullptr)) : sc);
      for (size_t k = 0; k < sc["points"].size(); ++k) {
        const json& point = sc["points"][k];
        std::string pat = fmt::format("{}.points[{}]", sat, k);
        if (!point.is_object()) bad_field(file, pat, "an object {example_index, label, prediction}", point);
        for (const char* key : {"label", "prediction"})
          if (!point.contains(key) || !point[key].is_number()) bad_field(file, fmt::format("{}.{}", pat, key), "a number", point.value(key, json(nullptr)));
      }
    }
    if (p.contains("residual_histogram")) {
      std::string hat = at + ".plots.residual_histogram";
      const json& h = p["residual_histogram"];
      if (!h.is_object() || !h.contains("buckets") || !h["buckets"].is_array()) bad_field(file, hat + ".buckets", "a list of buckets", h.is_object() ? h.value("buckets", json(nullptr)) : h);
      for (size_t b = 0; b < h["buckets"].size(); ++b) {
        const json& bucket = h["buckets"][b];
        std::string bat = fmt::format("{}.buckets[{}]", hat, b);
        if (!bucket.is_object()) bad_field(file, bat, "an object {lower_bound, upper_bound, count}", bucket);
        for (const char* key : {"lower_bound", "upper_bound"})
          if (!bucket.contains(key) || !bucket[key].is_number()) bad_field(file, fmt::format("{}.{}", bat, key), "a number", bucket.value(key, json(nullptr)));
        if (!bucket.contains("count")) bad_field(file, bat + ".count", "a count (a number >= 0)", nullptr);
        expect_count(bucket["count"], file, bat + ".count");
      }
    }
    if (p.contains("calibration_plot")) {
      std::string cat = at + ".plots.calibration_plot";
      const json& cal = p["calibration_plot"];
      if (!cal.is_object() || !cal.contains("buckets") || !cal["buckets"].is_array()) bad_field(file, cat + ".buckets", "a list of buckets", cal.is_object() ? cal.value("buckets", json(nullptr)) : cal);
      for (size_t b = 0; b < cal["buckets"].size(); ++b) {
        const json& bucket = cal["buckets"][b];
        std::string bat = fmt::format("{}.buckets[{}]", cat, b);
        if (!bucket.is_object()) bad_field(file, bat, "an object {lower_threshold, upper_threshold, count, mean_confidence, accuracy}", bucket);
        for (const char* key : {"count", "mean_confidence", "accuracy"})
          if (!bucket.contains(key)) bad_field(file, fmt::format("{}.{}", bat, key), "a number or null", nullptr);
        expect_count(bucket["count"], file, bat + ".count");
        expect_number_or_null(bucket["mean_confidence"], file, bat + ".mean_confidence");
        expect_number_or_null(bucket["accuracy"], file, bat + ".accuracy");
      }
    }
  }
}

json delta_entry(const json& a, const json& b) {
  json d = {{"a", a}, {"b", b}, {"delta", nullptr}};
  if (a.is_number_integer() && b.is_number_integer()) d["delta"] = b.get<int64_t>() - a.get<int64_t>();  // counts stay integers
  else if (a.is_number() && b.is_number()) d["delta"] = b.get<double>() - a.get<double>();
  return d;
}

// Every metric present in both, per slice present in both (B - A); per-class values too.
void metric_deltas(const Evaluation& a, const Evaluation& b, json& out) {
  std::map<std::string, const json*> b_slices;
  for (const auto& s : b.metrics["slices"]) b_slices[s.value("slice_key", "")] = &s;
  json deltas = json::array(), only_a = json::array(), only_b = json::array();
  std::set<std::string> seen;
  for (const auto& sa : a.metrics["slices"]) {
    std::string key = sa.value("slice_key", "");
    seen.insert(key);
    auto it = b_slices.find(key);
    if (it == b_slices.end()) {
      only_a.push_back(key);
      continue;
    }
    const json& ma = sa.value("metrics", json::object());
    const json& mb = it->second->value("metrics", json::object());
    json metrics = json::object();
    for (const auto& [name, va] : ma.items()) {
      if (!mb.contains(name)) continue;
      const json& vb = mb[name];
      json d = delta_entry(va.value("value", json(nullptr)), vb.value("value", json(nullptr)));
      if (va.contains("per_class") && vb.contains("per_class")) {
        json per_class = json::object();
        for (const auto& [c, pa] : va["per_class"].items())
          if (vb["per_class"].contains(c)) per_class[c] = delta_entry(pa, vb["per_class"][c]);
        d["per_class"] = per_class;
      }
      metrics[name] = d;
    }
    deltas.push_back({{"slice_key", key}, {"slice", sa.value("slice", json::object())}, {"metrics", metrics}});
  }
  for (const auto& [key, _] : b_slices)
    if (!seen.count(key)) only_b.push_back(key);
  out["metric_deltas"] = deltas;
  out["slices_only_in_a"] = only_a;
  out["slices_only_in_b"] = only_b;
}

struct Tally {
  int64_t count = 0, flips = 0, a_right = 0, b_right = 0, a_right_b_wrong = 0, a_wrong_b_right = 0;
  double max_abs_delta = 0;

  json to_json() const {
    auto rate = [&](int64_t n) { return count ? json(static_cast<double>(n) / static_cast<double>(count)) : json(nullptr); };
    return {{"example_count", count}, {"top1_flips", flips}, {"agreement_rate", rate(count - flips)},
            {"accuracy_a", rate(a_right)}, {"accuracy_b", rate(b_right)}, {"a_right_b_wrong", a_right_b_wrong},
            {"a_wrong_b_right", a_wrong_b_right}, {"max_abs_probability_delta", max_abs_delta}};
  }
};

// Regression, example by example: the largest |prediction delta| (and where) and the mean, and
// each model's mean absolute and root mean squared error.
json regression_agreement(const Evaluation& a, const Evaluation& b) {
  double sum_abs_delta = 0, max_abs_delta = 0, abs_error_a = 0, abs_error_b = 0, squared_a = 0, squared_b = 0;
  json max_at = nullptr;
  for (size_t ra = 0; ra < a.indices.size(); ++ra) {
    size_t rb = b.position.at(a.indices[ra]);
    double label = a.targets[ra];
    if (b.targets[rb] != label) {
      fail("example_index {} has label {} in {} but {} in {}", a.indices[ra], label, a.predictions_file.string(), b.targets[rb],
           b.predictions_file.string());
    }
    double va = a.values[ra], vb = b.values[rb], d = std::abs(vb - va);
    sum_abs_delta += d;
    if (d > max_abs_delta || max_at.is_null()) {
      max_abs_delta = d;
      max_at = {{"example_index", a.indices[ra]}, {"label", label}, {"a", va}, {"b", vb}};
    }
    abs_error_a += std::abs(va - label);
    abs_error_b += std::abs(vb - label);
    squared_a += (va - label) * (va - label);
    squared_b += (vb - label) * (vb - label);
  }
  auto n = static_cast<double>(a.indices.size());
  return {{"problem_type", problem_type_name(ProblemType::Regression)},
          {"example_count", a.indices.size()},
          {"max_abs_prediction_delta", max_abs_delta},
          {"max_abs_prediction_delta_at", max_at},
          {"mean_abs_prediction_delta", sum_abs_delta / n},
          {"mae_a", abs_error_a / n},
          {"mae_b", abs_error_b / n},
          {"rmse_a", std::sqrt(squared_a / n)},
          {"rmse_b", std::sqrt(squared_b / n)}};
}

// Example by example (matched by example_index): top-1 flips overall and per class (by label),
// and the largest and mean |probability delta|; for regression models regression_agreement().
json agreement(const Evaluation& a, const Evaluation& b) {
  std::vector<int64_t> missing_in_b, missing_in_a;
  for (int64_t index : a.indices)
    if (!b.position.count(index)) missing_in_b.push_back(index);
  for (int64_t index : b.indices)
    if (!a.position.count(index)) missing_in_a.push_back(index);
  if (!missing_in_a.empty() || !missing_in_b.empty()) {
    auto first = [](const std::vector<int64_t>& v) { return v.empty() ? std::string("none") : fmt::format("{} (e.g. example_index {})", v.size(), v.front()); };
    fail("the two evaluations are of different examples: {} has {} examples, {} has {}; only in the first: {}; only in the second: {}",
         a.predictions_file.string(), a.indices.size(), b.predictions_file.string(), b.indices.size(), first(missing_in_b), first(missing_in_a));
  }
  if (a.regression != b.regression) {
    const Evaluation& r = a.regression ? a : b;
    const Evaluation& c = a.regression ? b : a;
    fail("{} holds a regression model's predictions (label, prediction), {} a classifier's (label, probabilities); a regression model "
         "compares only with another",
         r.predictions_file.string(), c.predictions_file.string());
  }
  if (a.regression) return regression_agreement(a, b);
  if (a.num_classes != b.num_classes) {
    fail("{} gives {} class probabilities per example, {} gives {}", a.predictions_file.string(), a.num_classes, b.predictions_file.string(),
         b.num_classes);
  }
  const int64_t classes = a.num_classes;
  Tally overall;
  std::map<int64_t, Tally> per_class;
  double sum_abs_delta = 0;
  json max_at = nullptr;
  for (size_t ra = 0; ra < a.indices.size(); ++ra) {
    size_t rb = b.position.at(a.indices[ra]);
    int64_t label = a.labels[ra];
    if (b.labels[rb] != label) {
      fail("example_index {} has label {} in {} but {} in {}", a.indices[ra], label, a.predictions_file.string(), b.labels[rb],
           b.predictions_file.string());
    }
    const float *pa = a.row(ra), *pb = b.row(rb);
    int64_t top_a = argmax(pa, classes), top_b = argmax(pb, classes);
    double row_max = 0;
    int64_t row_max_class = 0;
    for (int64_t c = 0; c < classes; ++c) {
      double d = std::abs(static_cast<double>(pb[c]) - static_cast<double>(pa[c]));
      sum_abs_delta += d;
      if (d > row_max) row_max = d, row_max_class = c;
    }
    if (row_max > overall.max_abs_delta || max_at.is_null()) {
      max_at = {{"example_index", a.indices[ra]}, {"class", row_max_class}, {"label", label}, {"a", pa[row_max_class]}, {"b", pb[row_max_class]}};
    }
    for (Tally* t : {&overall, &per_class[label]}) {
      t->count++;
      t->flips += top_a != top_b;
      t->a_right += top_a == label;
      t->b_right += top_b == label;
      t->a_right_b_wrong += top_a == label && top_b != label;
      t->a_wrong_b_right += top_a != label && top_b == label;
      t->max_abs_delta = std::max(t->max_abs_delta, row_max);
    }
  }
  json result = overall.to_json();
  result["problem_type"] = classes == 2 && a.metrics.value("problem_type", "") == problem_type_name(ProblemType::Binary)
                               ? problem_type_name(ProblemType::Binary)
                               : problem_type_name(ProblemType::MultiClass);
  result["num_classes"] = classes;
  result["mean_abs_probability_delta"] = sum_abs_delta / static_cast<double>(overall.count * classes);
  result["max_abs_probability_delta_at"] = max_at;
  json classes_json = json::array();
  for (const auto& [label, tally] : per_class) {
    json c = tally.to_json();
    c["class"] = label;
    classes_json.push_back(c);
  }
  result["per_class"] = classes_json;
  return result;
}

// The Overall slice's plots.
json overall_plots(const Evaluation& e) {
  for (const auto& s : e.plots.value("slices", json::array()))
    if (s.value("slice_key", "") == kOverallSliceKey) return s.value("plots", json::object());
  return json::object();
}

// The model an evaluation evaluated, as its eval_config.json specifies it.
std::unique_ptr<EvalModel> load_evaluated_model(const Evaluation& e) {
  fs::path metrics_file = e.dir / kMetricsFile;
  fs::path path = e.metrics["model"]["path"].get<std::string>();
  if (!fs::is_regular_file(path)) fail("{}: model.path: {} does not exist (was the model moved?); latency needs the model file", metrics_file.string(), path.string());
  if (path.parent_path().filename() != "Format-Serving") {
    fail("{}: model.path: {} is not in a Format-Serving folder of a Model artifact", metrics_file.string(), path.string());
  }
  ModelSpec spec;
  if (fs::exists(e.dir / kEvalConfigFile)) spec = parse_eval_config(read_json_file(e.dir / kEvalConfigFile), (e.dir / kEvalConfigFile).string()).candidate_spec();
  spec.model_type = e.metrics["model"]["model_type"].get<std::string>();
  return EvalModel::load(path.parent_path().parent_path(), spec);
}

struct LatencyInput {
  std::map<std::string, nn::Tensor> batch;  // feature -> [1, width]
  std::string origin;
};

// One example (the first record of the example files) holding every feature the models take.
LatencyInput latency_input(const std::vector<const EvalModel*>& models, const std::vector<fs::path>& files) {
  LatencyInput input;
  tensorflow::Example example;
  if (!files.empty()) {
    TFRecordReader reader(files.front());
    std::string record;
    if (!reader.next(record)) fail("{}: no examples; latency needs one", files.front().string());
    if (!example.ParseFromString(record)) fail("{}: record 0 is not a tf.Example", files.front().string());
    input.origin = fmt::format("{} record 0", files.front().string());
  } else {
    input.origin = "zeros (no examples given)";
  }
  for (const EvalModel* m : models) {
    for (const auto& i : m->inputs()) {
      if (input.batch.count(i.feature)) continue;
      nn::Tensor t({1, i.width});
      if (!files.empty()) {
        const auto& f = example.features().feature();
        auto it = f.find(i.feature);
        if (it == f.end()) fail("{}: record 0: the model input '{}' needs feature '{}', which the example lacks", files.front().string(), i.tensor_name, i.feature);
        feature_as_floats(it->second, i.feature, i.width, t.data(), files.front().string() + ": record 0");
      }
      input.batch[i.feature] = t;
    }
  }
  return input;
}

json latency_stats(std::vector<double> micros) {
  std::sort(micros.begin(), micros.end());
  auto pct = [&](double p) { return micros[std::min(micros.size() - 1, static_cast<size_t>(p * static_cast<double>(micros.size())))]; };
  double mean = 0;
  for (double v : micros) mean += v / static_cast<double>(micros.size());
  return {{"p50_us", pct(0.5)}, {"p90_us", pct(0.9)}, {"min_us", micros.front()}, {"max_us", micros.back()}, {"mean_us", mean}};
}

// What one timed run covers, the same for both models (EvalModel::time_predictions).
constexpr const char* kLatencyTimed =
    "one whole batch-1 prediction through the Evaluator's predict path, the same for both models: input mapping, "
    "feeding the input (TFLite: resize check and int8 quantization), running the model, copying out the probabilities "
    "(TFLite: int8 dequantization)";

json measure_latency(const Evaluation& a, const Evaluation& b, const ComparisonRequest& r) {
  if (r.latency_runs <= 0) return nullptr;
  auto model_a = load_evaluated_model(a), model_b = load_evaluated_model(b);
  LatencyInput input = latency_input({model_a.get(), model_b.get()}, r.example_files);
  json stats_a = latency_stats(model_a->time_predictions(input.batch, r.latency_warmup, r.latency_runs));
  json stats_b = latency_stats(model_b->time_predictions(input.batch, r.latency_warmup, r.latency_runs));
  double p50_a = stats_a["p50_us"].get<double>();
  return {{"batch_size", 1}, {"runs", r.latency_runs}, {"warmup", r.latency_warmup}, {"input", input.origin},
          {"threads", omp_get_max_threads()}, {"timed", kLatencyTimed}, {"a", stats_a}, {"b", stats_b},
          {"ratio_b_to_a_p50", p50_a > 0 ? json(stats_b["p50_us"].get<double>() / p50_a) : json(nullptr)}};
}

json side(const Evaluation& e) {
  return {{"title", e.title}, {"evaluation", e.dir.string()}, {"model", e.metrics["model"]},
          {"example_count", e.metrics.value("example_count", json(nullptr))}};
}

}  // namespace

json read_metrics_file(const fs::path& dir) {
  fs::path file = dir / kMetricsFile;
  if (!fs::exists(file)) fail("{}: no such file; expected the Evaluator's metrics", file.string());
  json metrics = read_json_file(file);
  check_metrics_json(metrics, file);
  return metrics;
}

json read_plots_file(const fs::path& dir) {
  fs::path file = dir / kPlotsFile;
  if (!fs::exists(file)) return {{"slices", json::array()}};
  json plots = read_json_file(file);
  check_plots_json(plots, file);
  return plots;
}

std::string evaluation_title(const fs::path& dir) {
  fs::path path = dir.lexically_normal();
  if (path.filename().empty()) path = path.parent_path();
  bool artifact = path.parent_path().filename() == "evaluation";
  return artifact ? path.parent_path().parent_path().filename().string() : path.filename().string();
}

json compare_evaluations(const ComparisonRequest& request) {
  Evaluation a = read_evaluation(request.evaluation_a, request.title_a);
  Evaluation b = read_evaluation(request.evaluation_b, request.title_b);
  json out = {{"a", side(a)}, {"b", side(b)}};
  metric_deltas(a, b, out);
  out["agreement"] = agreement(a, b);
  uint64_t size_a = a.metrics["model"]["file_size_bytes"].get<uint64_t>(), size_b = b.metrics["model"]["file_size_bytes"].get<uint64_t>();
  out["size"] = {{"a_bytes", size_a}, {"b_bytes", size_b},
                 {"ratio_b_to_a", size_a ? json(static_cast<double>(size_b) / static_cast<double>(size_a)) : json(nullptr)}};
  out["latency"] = measure_latency(a, b, request);
  out["plots"] = {{"a", overall_plots(a)}, {"b", overall_plots(b)}};
  // The classes' names (the label vocabulary both were evaluated with), for the report.
  for (const Evaluation* e : {&a, &b}) {
    const json names = e->metrics.value("class_names", json());
    if (names.is_null() || out.contains("class_names")) continue;
    if (!names.is_array() || !std::all_of(names.begin(), names.end(), [](const json& n) { return n.is_string(); })) {
      fail("{}: metrics.json field class_names must be a list of strings", e->dir.string());
    }
    out["class_names"] = names;
  }
  if (request.output_dir) {
    fs::create_directories(*request.output_dir);
    write_json_file_atomic(*request.output_dir / kComparisonFile, out);
    write_file_atomic(*request.output_dir / kReportFile, comparison_report_html(out));
  }
  return out;
}

}  // namespace litepipe::eval
