// The Evaluator beyond multi-class: regression models (one value per example, float labels) and
// binary classifiers (one sigmoid output, or two softmax outputs, with binary metrics), and the
// comparison and report of two regression evaluations.
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "cli/eval_commands.h"
#include "components/builtin.h"
#include "data/tfrecord.h"
#include "eval/compare.h"
#include "eval/evaluate.h"
#include "eval/metrics.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "tflite/rewriter.h"
#include "tensorflow/core/example/example.pb.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using nlohmann::json;
using testing::expect_error;
using namespace eval;

std::vector<MetricConfig> configs(std::vector<std::pair<std::string, json>> classes) {
  std::vector<MetricConfig> m;
  for (auto& [name, config] : classes) m.push_back({name, config, std::nullopt, {}});
  return m;
}

std::set<std::string> names_of(const std::vector<MetricConfig>& metrics) {
  std::set<std::string> names;
  for (const auto& m : metrics) names.insert(m.name());
  return names;
}

const json kRegressionModelSpec = {{"label_key", "y"}};

// ---------------------------------------------------------------- config: names, defaults, kinds

TEST(EvalRegressionConfigTest, TfmaAndKerasMetricNamesAndDefaultsPerKindOfModel) {
  const auto& classes = known_metric_classes();
  // TFMA's own (tfma.metrics) names, and Keras's for the classes TFMA takes from tf.keras.metrics.
  for (const auto& [c, name] : std::vector<std::pair<std::string, std::string>>{
           {"MeanSquaredError", "mean_squared_error"},       {"MeanAbsoluteError", "mean_absolute_error"},
           {"RootMeanSquaredError", "root_mean_squared_error"}, {"MeanAbsolutePercentageError", "mean_absolute_percentage_error"},
           {"R2Score", "r2_score"},                          {"CoefficientOfDetermination", "r2_score"},
           {"MeanLabel", "mean_label"},                      {"MeanPrediction", "mean_prediction"},
           {"BinaryAccuracy", "binary_accuracy"},            {"ConfusionMatrixAtThresholds", "confusion_matrix_at_thresholds"},
           {"ConfusionMatrixPlot", "confusion_matrix_plot"}, {"ExampleCount", "example_count"}}) {
    EXPECT_EQ(classes.at(c), name) << c;
  }
  EvalConfig c = parse_eval_config({{"model_specs", {kRegressionModelSpec}}});
  EXPECT_EQ(names_of(c.all_metrics(ProblemType::Regression)),
            (std::set<std::string>{"example_count", "mean_squared_error", "mean_absolute_error", "root_mean_squared_error", "r2_score", "mean_label",
                                   "mean_prediction", "prediction_label_scatter", "residual_histogram"}));
  EXPECT_EQ(names_of(c.all_metrics(ProblemType::Binary)),
            (std::set<std::string>{"example_count", "binary_accuracy", "sparse_categorical_crossentropy", "precision", "recall", "f1_score", "auc",
                                   "mean_label", "mean_prediction", "expected_calibration_error", "multi_class_confusion_matrix_plot",
                                   "calibration_plot"}));
  // The multi-class set is unchanged, and the default.
  EXPECT_EQ(names_of(c.all_metrics()), names_of(c.all_metrics(ProblemType::MultiClass)));
  EXPECT_FALSE(names_of(c.all_metrics()).count("mean_squared_error"));

  // The model's output width decides; binary metrics make a width of 1 or 2 binary.
  EXPECT_EQ(c.problem_type_for(1, "m"), ProblemType::Regression);
  EXPECT_EQ(c.problem_type_for(2, "m"), ProblemType::MultiClass);
  EXPECT_EQ(c.problem_type_for(3, "m"), ProblemType::MultiClass);
  auto with_metric = [](const json& metric) {
    return parse_eval_config({{"model_specs", {kRegressionModelSpec}}, {"metrics_specs", {{{"metrics", {metric}}}}}});
  };
  EvalConfig binary = with_metric({{"class_name", "Precision"}, {"config", {{"thresholds", {0.3}}}}});
  EXPECT_TRUE(binary.has_binary_metrics());
  EXPECT_EQ(binary.problem_type_for(1, "m"), ProblemType::Binary);
  EXPECT_EQ(binary.problem_type_for(2, "m"), ProblemType::Binary);
  EXPECT_EQ(binary.metrics_specs[0].metrics[0].thresholds(), std::vector<double>{0.3});
  EXPECT_EQ(with_metric({{"class_name", "BinaryAccuracy"}}).metrics_specs[0].metrics[0].thresholds(), std::vector<double>{0.5});
  // Precision without thresholds stays litepipe's multi-class one.
  EXPECT_FALSE(with_metric({{"class_name", "Precision"}}).has_binary_metrics());
}

TEST(EvalRegressionConfigTest, MetricsThatDoNotFitTheModelAreErrorsNamingMetricAndShape) {
  auto config = [](const json& metrics) {
    return parse_eval_config({{"model_specs", {kRegressionModelSpec}}, {"metrics_specs", {{{"metrics", metrics}}}}});
  };
  EvalConfig classification = config({{{"class_name", "ExampleCount"}}, {{"class_name", "SparseCategoricalAccuracy"}}});
  expect_error([&] { classification.problem_type_for(1, "model m.onnx: output 'y' has shape [batch, 1]"); },
               {"eval_config.metrics_specs[0].metrics[1]: SparseCategoricalAccuracy (sparse_categorical_accuracy) is a classification metric",
                "model m.onnx: output 'y' has shape [batch, 1]", "a regression model", "BinaryAccuracy"});
  EXPECT_EQ(classification.problem_type_for(3, "m"), ProblemType::MultiClass);
  EvalConfig regression = config({{{"class_name", "MeanSquaredError"}}});
  expect_error([&] { regression.problem_type_for(3, "model m.onnx: output 'p' has shape [batch, 3]"); },
               {"metrics[0]: MeanSquaredError (mean_squared_error) is a regression metric", "[batch, 3]", "a 3-class classifier"});
  EvalConfig binary = config({{{"class_name", "BinaryAccuracy"}}});
  expect_error([&] { binary.problem_type_for(10, "model m: output 'p' has shape [batch, 10]"); },
               {"BinaryAccuracy (binary_accuracy) is a binary classification metric", "[batch, 10]", "one sigmoid output or two softmax outputs"});
  EvalConfig mean_label = config({{{"class_name", "MeanLabel"}}});
  EXPECT_EQ(mean_label.problem_type_for(1, "m"), ProblemType::Regression);
  expect_error([&] { mean_label.problem_type_for(4, "m"); }, {"MeanLabel (mean_label) is a regression or binary classification metric"});

  // A config cannot ask for both: the error names both metrics' fields.
  expect_error([&] { config({{{"class_name", "MeanAbsoluteError"}}, {{"class_name", "AUC"}}}); },
               {"eval_config.metrics_specs[0].metrics[0]: MeanAbsoluteError is a regression metric",
                "eval_config.metrics_specs[0].metrics[1] (AUC) is a classification metric"});
  // A threshold by name must name a metric computed for the model.
  EvalConfig by_name = parse_eval_config(
      {{"model_specs", {kRegressionModelSpec}}, {"metrics_specs", {{{"thresholds", {{"mean_squared_error", {{"value_threshold", {{"upper_bound", 1}}}}}}}}}}});
  EXPECT_EQ(by_name.problem_type_for(1, "m"), ProblemType::Regression);
  expect_error([&] { by_name.problem_type_for(3, "model m: output 'p' has shape [batch, 3]"); },
               {"eval_config.metrics_specs[0].thresholds.mean_squared_error: no metric named 'mean_squared_error' is computed", "[batch, 3]",
                "sparse_categorical_accuracy"});

  // Binary thresholds: in [0, 1]; one per metric value (ConfusionMatrixAtThresholds takes a list).
  expect_error([&] { config({{{"class_name", "Precision"}, {"config", {{"thresholds", {0.3, 0.5}}}}}}); },
               {"eval_config.metrics_specs[0].metrics[0].config.thresholds: Precision has one value per metric", "[0.3,0.5]", "config.name"});
  expect_error([&] { config({{{"class_name", "BinaryAccuracy"}, {"config", {{"threshold", 1.5}}}}}); },
               {"metrics[0].config.threshold: expected a threshold in [0, 1], got 1.5"});
  expect_error([&] { config({{{"class_name", "BinaryAccuracy"}, {"config", {{"thresholds", {0.5}}}}}}); },
               {"metrics[0].config: unknown field 'thresholds'", "threshold"});
  expect_error([&] { config({{{"class_name", "ResidualHistogramPlot"}, {"config", {{"num_buckets", 0}}}}}); },
               {"metrics[0].config.num_buckets: expected an integer >= 1"});
  EXPECT_NO_THROW(config({{{"class_name", "ConfusionMatrixAtThresholds"}, {"config", {{"thresholds", {0.3, 0.5}}}}}}));
  expect_error([&] { config({{{"class_name", "R2Score"}}, {{"class_name", "CoefficientOfDetermination"}}}); },
               {"metric 'r2_score' is configured twice"});
}

// ---------------------------------------------------------------- regression metrics by hand

// Labels 1, 2, 4, 8; predictions 1.5, 2, 3, 10: errors 0.5, 0, 1, 2 (binary fractions: exact).
Predictions four_regression_examples() {
  Predictions p;
  p.problem_type = ProblemType::Regression;
  p.targets = {1, 2, 4, 8};
  p.values = {1.5f, 2, 3, 10};
  return p;
}

TEST(EvalRegressionMetricsTest, MatchHandComputedValues) {
  Predictions p = four_regression_examples();
  auto metrics = configs({{"ExampleCount", json::object()}, {"MeanSquaredError", json::object()}, {"MeanAbsoluteError", json::object()},
                          {"RootMeanSquaredError", json::object()}, {"MeanAbsolutePercentageError", json::object()},
                          {"R2Score", json::object()}, {"MeanLabel", json::object()}, {"MeanPrediction", json::object()}});
  auto v = compute_metrics(p, {0, 1, 2, 3}, metrics);
  EXPECT_EQ(v["example_count"].value, 4);
  EXPECT_TRUE(v["example_count"].integer);
  EXPECT_EQ(v["mean_squared_error"].value, (0.25 + 0 + 1 + 4) / 4);  // 1.3125
  EXPECT_EQ(v["mean_absolute_error"].value, 3.5 / 4);
  EXPECT_EQ(v["root_mean_squared_error"].value, std::sqrt(1.3125));
  EXPECT_EQ(v["mean_absolute_percentage_error"].value, 100 * (0.5 / 1 + 0 / 2.0 + 1 / 4.0 + 2 / 8.0) / 4);  // 25
  // Mean label 3.75: SS_tot = 2.75² + 1.75² + 0.25² + 4.25² = 28.75, SS_res = 5.25.
  EXPECT_DOUBLE_EQ(v["r2_score"].value, 1 - 5.25 / 28.75);
  EXPECT_EQ(v["mean_label"].value, 3.75);
  EXPECT_EQ(v["mean_prediction"].value, 16.5 / 4);
  EXPECT_TRUE(v["r2_score"].per_class.empty());
  EXPECT_EQ(metric_json(v["mean_squared_error"], nullptr, 0), json({{"value", 1.3125}}));

  // Keras's definitions at the edges: MAPE divides by max(|label|, 1e-7); R2 of labels that are all
  // equal is 0 (or undefined when the predictions are exact too).
  Predictions edge;
  edge.problem_type = ProblemType::Regression;
  edge.targets = {0, 3, 3};
  edge.values = {0.5f, 3, 3};
  auto e = compute_metrics(edge, {0}, configs({{"MeanAbsolutePercentageError", json::object()}, {"R2Score", json::object()}}));
  EXPECT_DOUBLE_EQ(e["mean_absolute_percentage_error"].value, 100 * 0.5 / 1e-7);
  EXPECT_EQ(e["r2_score"].value, 0.0);
  EXPECT_TRUE(std::isnan(compute_metrics(edge, {1, 2}, configs({{"R2Score", json::object()}}))["r2_score"].value));
  EXPECT_TRUE(metric_json(compute_metrics(edge, {1, 2}, configs({{"R2Score", json::object()}}))["r2_score"], nullptr, 0)["value"].is_null());
}

TEST(EvalRegressionMetricsTest, ScatterSampleAndResidualHistogram) {
  Predictions p = four_regression_examples();
  json plots = compute_plots(p, {0, 1, 2, 3}, configs({{"PredictionLabelScatterPlot", json::object()}, {"ResidualHistogramPlot", {{"num_buckets", 3}}}}));
  const json& scatter = plots["prediction_label_scatter"];
  EXPECT_EQ(scatter["example_count"], 4);
  ASSERT_EQ(scatter["points"].size(), 4u);
  EXPECT_EQ(scatter["points"][3], json({{"example_index", 3}, {"label", 8.0}, {"prediction", 10.0}}));
  // Residuals (prediction - label) 0.5, 0, -1, 2: three buckets of width 1 from -1 to 2.
  const json& histogram = plots["residual_histogram"];
  EXPECT_EQ(histogram["mean_residual"], 0.375);
  ASSERT_EQ(histogram["buckets"].size(), 3u);
  EXPECT_EQ(histogram["buckets"][0], json({{"lower_bound", -1.0}, {"upper_bound", 0.0}, {"count", 1}}));
  EXPECT_EQ(histogram["buckets"][1]["count"], 2);
  EXPECT_EQ(histogram["buckets"][2], json({{"lower_bound", 1.0}, {"upper_bound", 2.0}, {"count", 1}}));  // the largest is in the last

  // The scatter keeps at most max_points, evenly spaced and the same on every run.
  Predictions many;
  many.problem_type = ProblemType::Regression;
  std::vector<int64_t> rows;
  for (int i = 0; i < 10; ++i) {
    many.targets.push_back(i);
    many.values.push_back(static_cast<float>(i) + 1);
    rows.push_back(i);
  }
  json capped = compute_plots(many, rows, configs({{"PredictionLabelScatterPlot", {{"max_points", 4}}}}))["prediction_label_scatter"];
  ASSERT_EQ(capped["points"].size(), 4u);
  std::vector<int64_t> picked;
  for (const auto& point : capped["points"]) picked.push_back(point["example_index"]);
  EXPECT_EQ(picked, (std::vector<int64_t>{0, 2, 5, 7}));
  EXPECT_EQ(capped["example_count"], 10);
  // Every residual the same: one unit around it.
  json flat = compute_plots(many, rows, configs({{"ResidualHistogramPlot", {{"num_buckets", 1}}}}))["residual_histogram"];
  EXPECT_EQ(flat["buckets"][0], json({{"lower_bound", 0.5}, {"upper_bound", 1.5}, {"count", 10}}));

  // Bootstrap intervals of regression metrics: seeded, around the value.
  auto metrics = configs({{"MeanAbsoluteError", json::object()}, {"R2Score", json::object()}});
  auto a = bootstrap_intervals(many, rows, metrics, 3), b = bootstrap_intervals(many, rows, metrics, 3);
  EXPECT_EQ(a["mean_absolute_error"].lower, 1.0);  // every error is 1
  EXPECT_EQ(a["mean_absolute_error"].upper, 1.0);
  EXPECT_EQ(a["r2_score"].lower, b["r2_score"].lower);
  EXPECT_LT(a["r2_score"].lower, a["r2_score"].upper);
}

// ---------------------------------------------------------------- evaluate() on regression models

// y = scale * x + offset on a 1-wide input `x`: ONNX, or rewritten into TFLite.
fs::path linear_model(const fs::path& dir, const std::string& name, float scale, float offset, bool tflite) {
  return testing::write_model_artifact(dir, name, nn::Sequential(nn::Input({1}), {nn::Rescaling(scale, offset)}), "x", tflite);
}

// A model whose `width` outputs come from its input through `activation` (sigmoid: [N, 1]; softmax:
// [N, 2]).
fs::path activation_model(const fs::path& dir, const std::string& name, int64_t width, const std::string& activation) {
  fs::path uri = dir / name;
  nn::Model model = nn::Sequential(nn::Input({width}), {nn::ActivationLayer(activation)});
  model.save(uri / "Format-Serving", {.input_name = "x"});
  return uri;
}

struct RegressionRow {
  float x;
  double label;
  bool int_label;
  std::string group;
};

// With the model 2x + 1: predictions 1.5, 2, 3, 10 for group a (the hand-computed case above),
// exact ones (5, 7) for group b.
const std::vector<RegressionRow> kRegressionRows = {{0.25f, 1, false, "a"}, {0.5f, 2, true, "a"}, {1, 4, false, "a"},
                                                    {4.5f, 8, true, "a"},   {2, 5, false, "b"},   {3, 7, false, "b"}};

class RegressionEvaluateTest : public testing::TempDirTest {
 protected:
  fs::path write_examples(const std::vector<RegressionRow>& rows = kRegressionRows) {
    fs::path path = dir_ / "examples" / "Split-eval" / "data.tfrecord.gz";
    fs::create_directories(path.parent_path());
    TFRecordWriter writer(path);
    for (const auto& r : rows) {
      tensorflow::Example e;
      auto& f = *e.mutable_features()->mutable_feature();
      f["x"].mutable_float_list()->add_value(r.x);
      // Integer labels work for regression too.
      if (r.int_label) f["y"].mutable_int64_list()->add_value(static_cast<int64_t>(r.label));
      else f["y"].mutable_float_list()->add_value(static_cast<float>(r.label));
      f["group"].mutable_bytes_list()->add_value(r.group);
      writer.write(e.SerializeAsString());
    }
    writer.close();
    return path;
  }

  json config(json metrics = json::array(), json thresholds = json::object(), bool tflite = false) {
    json model = kRegressionModelSpec;
    if (tflite) model["model_type"] = "tf_lite";
    json spec = {{"metrics", metrics}};
    if (!thresholds.empty()) spec["thresholds"] = thresholds;
    return {{"model_specs", {model}}, {"slicing_specs", {json::object(), {{"feature_keys", {"group"}}}}}, {"metrics_specs", {spec}}};
  }

  EvaluationResult run(const json& c, const fs::path& model, std::optional<fs::path> baseline = {}, const std::string& out = "out") {
    EvaluationRequest r;
    r.config = parse_eval_config(c);
    r.example_files = {write_examples()};
    r.model_uri = model;
    r.baseline_model_uri = baseline;
    r.output_dir = dir_ / out;
    r.batch_size = 4;  // two batches, the second smaller
    return evaluate(r);
  }

  static const json& slice(const json& metrics, const std::string& key) {
    for (const auto& s : metrics["slices"])
      if (s["slice_key"] == key) return s;
    throw std::runtime_error("no slice " + key);
  }
  static double value(const json& metrics, const std::string& key, const std::string& metric) {
    return slice(metrics, key)["metrics"][metric]["value"].get<double>();
  }
};

TEST_F(RegressionEvaluateTest, MetricsPerSliceMatchHandValuesAndFilesAreWritten) {
  fs::path model = linear_model(dir_, "linear", 2, 1, false);
  EvaluationResult r = run(config(json::array({{{"class_name", "MeanAbsolutePercentageError"}}})), model);
  EXPECT_EQ(r.problem_type, ProblemType::Regression);
  EXPECT_EQ(r.metrics["problem_type"], "regression");
  ASSERT_EQ(r.metrics["slices"].size(), 3u);
  // group:a is the hand-computed case.
  EXPECT_EQ(value(r.metrics, "group:a", "mean_squared_error"), 1.3125);
  EXPECT_EQ(value(r.metrics, "group:a", "mean_absolute_error"), 0.875);
  EXPECT_EQ(value(r.metrics, "group:a", "root_mean_squared_error"), std::sqrt(1.3125));
  EXPECT_EQ(value(r.metrics, "group:a", "mean_absolute_percentage_error"), 25.0);
  EXPECT_DOUBLE_EQ(value(r.metrics, "group:a", "r2_score"), 1 - 5.25 / 28.75);
  EXPECT_EQ(value(r.metrics, "group:a", "mean_label"), 3.75);
  EXPECT_EQ(value(r.metrics, "group:a", "mean_prediction"), 4.125);
  // group:b is predicted exactly.
  EXPECT_EQ(value(r.metrics, "group:b", "mean_squared_error"), 0.0);
  EXPECT_EQ(value(r.metrics, "group:b", "r2_score"), 1.0);
  // Overall: errors 0.5, 0, 1, 2, 0, 0; labels' mean 4.5, SS_tot 37.5.
  EXPECT_EQ(slice(r.metrics, "Overall")["metrics"]["example_count"], json({{"value", 6}}));
  EXPECT_DOUBLE_EQ(value(r.metrics, "Overall", "mean_squared_error"), 5.25 / 6);
  EXPECT_DOUBLE_EQ(value(r.metrics, "Overall", "mean_absolute_error"), 3.5 / 6);
  EXPECT_DOUBLE_EQ(value(r.metrics, "Overall", "r2_score"), 1 - 5.25 / 37.5);
  EXPECT_DOUBLE_EQ(value(r.metrics, "Overall", "mean_absolute_percentage_error"), 100.0 / 6);
  EXPECT_DOUBLE_EQ(value(r.metrics, "Overall", "mean_prediction"), 28.5 / 6);
  // No classification metric was computed.
  EXPECT_FALSE(slice(r.metrics, "Overall")["metrics"].contains("sparse_categorical_accuracy"));

  const json& plots = r.plots["slices"][0]["plots"];
  EXPECT_EQ(plots["prediction_label_scatter"]["points"].size(), 6u);
  EXPECT_EQ(plots["residual_histogram"]["buckets"].size(), static_cast<size_t>(kDefaultResidualBuckets));
  EXPECT_FALSE(plots.contains("multi_class_confusion_matrix_plot"));
  EXPECT_EQ(read_json_file(dir_ / "out" / kMetricsFile), r.metrics);
  EXPECT_EQ(read_json_file(dir_ / "out" / kPlotsFile), r.plots);

  // Predictions: label (float) and prediction per example.
  TFRecordReader reader(dir_ / "out" / kPredictionsFile);
  std::string record;
  std::vector<tensorflow::Example> read;
  while (reader.next(record)) read.emplace_back().ParseFromString(record);
  ASSERT_EQ(read.size(), 6u);
  const auto& f = read[3].features().feature();
  EXPECT_EQ(f.at("example_index").int64_list().value(0), 3);
  EXPECT_EQ(f.at("label").float_list().value(0), 8.0f);  // an int64 label, written as the float it was evaluated as
  EXPECT_EQ(f.at("prediction").float_list().value(0), 10.0f);
  EXPECT_FALSE(f.contains("probabilities"));
  EXPECT_EQ(f.at("group").bytes_list().value(0), "a");
}

TEST_F(RegressionEvaluateTest, ValueThresholdsBlessAndConfidenceIntervalsArePresent) {
  fs::path model = linear_model(dir_, "linear", 2, 1, false);
  // MAE per slice: Overall 0.583, group:a 0.875, group:b 0.
  auto mae_at_most = [&](double upper) {
    json c = config(json::array({{{"class_name", "MeanAbsoluteError"}, {"threshold", {{"value_threshold", {{"upper_bound", upper}}}}}}}));
    c["options"] = {{"compute_confidence_intervals", true}};
    return c;
  };
  EvaluationResult ok = run(mae_at_most(0.875), model);  // inclusive
  EXPECT_TRUE(ok.thresholds_configured);
  EXPECT_TRUE(ok.validation_ok) << ok.validations.dump();
  EvaluationResult strict = run(mae_at_most(0.8), model, {}, "strict");
  EXPECT_FALSE(strict.validation_ok);
  const json& failures = strict.validations["metric_validations_per_slice"];
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0]["slice_key"], "group:a");
  EXPECT_EQ(failures[0]["failures"][0]["metric_key"], "mean_absolute_error");
  EXPECT_NE(failures[0]["failures"][0]["message"].get<std::string>().find("0.875 is above the upper bound 0.8"), std::string::npos);

  // Bootstrap intervals on every regression metric of every slice, bracketing the value, and the
  // same on a second run.
  for (const auto& s : ok.metrics["slices"]) {
    for (const char* m : {"mean_squared_error", "mean_absolute_error", "root_mean_squared_error", "mean_label", "mean_prediction"}) {
      SCOPED_TRACE(s["slice_key"].get<std::string>() + " " + m);
      const json& v = s["metrics"][m];
      ASSERT_TRUE(v.contains("lower_bound") && v.contains("upper_bound")) << v;
      EXPECT_LE(v["lower_bound"].get<double>(), v["value"].get<double>() + 1e-12);
      EXPECT_GE(v["upper_bound"].get<double>(), v["value"].get<double>() - 1e-12);
    }
  }
  EXPECT_EQ(slice(run(mae_at_most(0.875), model, {}, "again").metrics, "Overall"), slice(ok.metrics, "Overall"));

  // The Evaluator writes the blessing, and says what the model was evaluated as.
  fs::path examples = dir_ / "examples";
  write_examples();
  Artifact ex{1, artifact_types::kExamples, examples.string()};
  ex.set_split_names({"eval"});
  for (const auto& [upper, file] : std::vector<std::pair<double, std::string>>{{0.875, "BLESSED"}, {0.8, "NOT_BLESSED"}}) {
    fs::path out = dir_ / ("component-" + file);
    ArtifactMap inputs = {{"examples", {ex}}, {"model", {Artifact{2, artifact_types::kModel, model.string()}}}};
    ArtifactMap outputs = {{"evaluation", {Artifact{0, artifact_types::kModelEvaluation, (out / "evaluation").string()}}},
                           {"blessing", {Artifact{0, artifact_types::kModelBlessing, (out / "blessing").string()}}}};
    for (auto& [_, list] : outputs) fs::create_directories(list[0].uri);
    auto component = Evaluator({.eval_config = mae_at_most(upper)});
    evaluator_registration().executor()->Do(inputs, outputs, component->exec_properties(), {});
    EXPECT_TRUE(fs::exists(out / "blessing" / file)) << file;
    EXPECT_EQ(outputs["evaluation"][0].properties["problem_type"], "regression");
  }
}

TEST_F(RegressionEvaluateTest, ChangeThresholdsLowerIsBetterAgainstTheBaseline) {
  fs::path good = linear_model(dir_, "good", 2, 1, false), worse = linear_model(dir_, "worse", 2.5f, 1, false);
  json thresholds = {{"mean_squared_error", {{"change_threshold", {{"direction", "LOWER_IS_BETTER"}, {"absolute", 0}}}}},
                     {"r2_score", {{"change_threshold", {{"direction", "HIGHER_IS_BETTER"}, {"absolute", 0}}}}}};
  json c = config(json::array(), thresholds);
  c["slicing_specs"] = json::array({json::object()});
  EvaluationResult better = run(c, good, worse);
  EXPECT_TRUE(better.validation_ok) << better.validations.dump(2);
  EXPECT_TRUE(slice(better.metrics, "Overall").contains("baseline_metrics"));
  EvaluationResult regressed = run(c, worse, good, "regressed");
  EXPECT_FALSE(regressed.validation_ok);
  std::set<std::string> failed;
  const json& overall = regressed.metrics["slices"][0];
  for (const auto& f : regressed.validations["metric_validations_per_slice"][0]["failures"]) {
    std::string metric = f["metric_key"];
    failed.insert(metric);
    EXPECT_EQ(f["baseline_value"], overall["baseline_metrics"][metric]["value"]) << metric;
    EXPECT_EQ(f["metric_value"], overall["metrics"][metric]["value"]) << metric;
  }
  EXPECT_EQ(failed, (std::set<std::string>{"mean_squared_error", "r2_score"}));
}

TEST_F(RegressionEvaluateTest, TfLiteModelGivesTheSameNumbersAndKeys) {
  json c = config();
  c["options"] = {{"compute_confidence_intervals", true}};
  EvaluationResult full = run(c, linear_model(dir_, "full", 2, 1, false), {}, "full");
  json lite_config = c;
  lite_config["model_specs"][0]["model_type"] = "tf_lite";
  EvaluationResult lite = run(lite_config, linear_model(dir_, "lite", 2, 1, true), {}, "lite");
  EXPECT_EQ(lite.model.model_type, "tf_lite");
  for (const char* f : {kMetricsFile, kPlotsFile, kValidationsFile, kEvalConfigFile}) {
    SCOPED_TRACE(f);
    testing::expect_same_keys(read_json_file(dir_ / "full" / f), read_json_file(dir_ / "lite" / f), f);
  }
  for (const char* m : {"mean_squared_error", "mean_absolute_error", "r2_score", "mean_prediction"}) {
    EXPECT_NEAR(value(full.metrics, "Overall", m), value(lite.metrics, "Overall", m), 1e-5) << m;
  }
}

TEST_F(RegressionEvaluateTest, FeaturesNotInTheSchemaAreErrorsWhenTheSchemaIsKnown) {
  fs::path model = linear_model(dir_, "linear", 2, 1, false);
  auto run_with_schema = [&](const json& c) {
    EvaluationRequest r;
    r.config = parse_eval_config(c);
    r.example_files = {write_examples()};
    r.model_uri = model;
    r.output_dir = dir_ / "schema_out";
    r.schema_features = std::set<std::string>{"x", "y", "group"};
    r.schema_origin = "schema.json";
    return evaluate(r);
  };
  // The config's own features are all there: evaluated as without a schema.
  EXPECT_EQ(run_with_schema(config()).example_count, 6);
  fs::remove_all(dir_ / "schema_out");
  json typo = config();
  typo["slicing_specs"][1]["feature_keys"] = {"gruop"};
  expect_error([&] { run_with_schema(typo); },
               {"eval_config.slicing_specs[1].feature_keys: feature 'gruop' is not in the schema schema.json (group, x, y)"});
  json threshold = config(json::array({{{"class_name", "MeanSquaredError"},
                                        {"per_slice_thresholds",
                                         {{{"slicing_specs", {{{"feature_values", {{"region", "a"}}}}}},
                                           {"threshold", {{"value_threshold", {{"upper_bound", 10}}}}}}}}}}));
  expect_error([&] { run_with_schema(threshold); },
               {"eval_config.metrics_specs[0].metrics[0].per_slice_thresholds[0].slicing_specs[0].feature_values: feature 'region'"});
  json label = config();
  label["model_specs"][0]["label_key"] = "target";
  expect_error([&] { run_with_schema(label); }, {"eval_config.model_specs.label_key: feature 'target' is not in the schema"});
  EXPECT_FALSE(fs::exists(dir_ / "schema_out" / kMetricsFile));
}

TEST_F(RegressionEvaluateTest, ErrorsNameTheMetricTheShapeAndTheExample) {
  fs::path model = linear_model(dir_, "linear", 2, 1, false);
  fs::path onnx = model / "Format-Serving" / "model.onnx";
  // A classification metric on a regression model.
  expect_error([&] { run(config(json::array({{{"class_name", "SparseCategoricalAccuracy"}}})), model); },
               {"eval_config.metrics_specs[0].metrics[0]: SparseCategoricalAccuracy (sparse_categorical_accuracy) is a classification metric",
                "model " + onnx.string() + ": output '", "has shape [batch, 1]", "a regression model (one value per example)"});
  EXPECT_FALSE(fs::exists(dir_ / "out" / kMetricsFile));
  // A regression metric on a 3-class model.
  fs::path softmax = testing::write_softmax_model(dir_, "softmax", 1, false);
  EvaluationRequest r;
  r.config = parse_eval_config({{"model_specs", {{{"label_key", "y"}}}}, {"metrics_specs", {{{"metrics", {{{"class_name", "MeanSquaredError"}}}}}}}});
  fs::path three = dir_ / "three.tfrecord";
  {
    TFRecordWriter w(three);
    tensorflow::Example e;
    auto& f = *e.mutable_features()->mutable_feature();
    for (float v : {0.0f, -1.0f, -2.0f}) f["logits"].mutable_float_list()->add_value(v);
    f["y"].mutable_int64_list()->add_value(0);
    w.write(e.SerializeAsString());
    w.close();
  }
  r.example_files = {three};
  r.model_uri = softmax;
  r.output_dir = dir_ / "softmax-out";
  expect_error([&] { evaluate(r); }, {"MeanSquaredError (mean_squared_error) is a regression metric", "[batch, 3]", "a 3-class classifier"});
  // A label that is not a finite number.
  std::vector<RegressionRow> rows = kRegressionRows;
  rows[2].label = std::nan("");
  EvaluationRequest bad;
  bad.config = parse_eval_config(config());
  bad.example_files = {write_examples(rows)};
  bad.model_uri = model;
  bad.output_dir = dir_ / "bad";
  expect_error([&] { evaluate(bad); }, {"data.tfrecord.gz: record 2", "label 'y' is nan", "expected one finite number (a regression target)"});
}

// ---------------------------------------------------------------- binary classifiers

// Positive-class probabilities and labels: at 0.5, TP 2 (0.9, 0.6), FP 1 (0.8), FN 2 (0.4, 0.1),
// TN 3; at 0.3, TP 3, FP 3 (0.8, 0.35, 0.45), FN 1, TN 1.
const std::vector<std::pair<float, int64_t>> kBinaryRows = {{0.9f, 1}, {0.8f, 0}, {0.6f, 1}, {0.4f, 1},
                                                            {0.35f, 0}, {0.2f, 0}, {0.1f, 1}, {0.45f, 0}};

const json kBinaryMetrics = json::array({{{"class_name", "BinaryAccuracy"}},
                                         {{"class_name", "Precision"}, {"config", {{"thresholds", {0.5}}}}},
                                         {{"class_name", "Recall"}, {"config", {{"thresholds", {0.5}}}}},
                                         {{"class_name", "BinaryAccuracy"}, {"config", {{"threshold", 0.3}, {"name", "binary_accuracy_at_0.3"}}}},
                                         {{"class_name", "Precision"}, {"config", {{"thresholds", {0.3}}, {"name", "precision_at_0.3"}}}},
                                         {{"class_name", "Recall"}, {"config", {{"thresholds", 0.3}, {"name", "recall_at_0.3"}}}},
                                         {{"class_name", "ConfusionMatrixAtThresholds"}, {"config", {{"thresholds", {0.3, 0.5}}}}}});

class BinaryEvaluateTest : public testing::TempDirTest {
 protected:
  // Examples whose feature `x` makes the model give the probabilities above: the logit for a
  // sigmoid, [0, logit] for a two-way softmax (softmax(0, l) = [1 - p, p]).
  EvaluationResult run(const fs::path& model, int64_t width, const json& metrics, const std::vector<std::pair<float, int64_t>>& rows = kBinaryRows) {
    fs::path path = dir_ / "binary.tfrecord";
    TFRecordWriter writer(path);
    for (const auto& [p, label] : rows) {
      tensorflow::Example e;
      auto& f = *e.mutable_features()->mutable_feature();
      if (width == 2) f["x"].mutable_float_list()->add_value(0);
      f["x"].mutable_float_list()->add_value(std::log(p / (1 - p)));
      f["y"].mutable_int64_list()->add_value(label);
      writer.write(e.SerializeAsString());
    }
    writer.close();
    EvaluationRequest r;
    r.config = parse_eval_config({{"model_specs", {{{"label_key", "y"}}}}, {"metrics_specs", {{{"metrics", metrics}}}}});
    r.example_files = {path};
    r.model_uri = model;
    r.output_dir = dir_ / ("out" + std::to_string(width));
    r.batch_size = 3;
    return evaluate(r);
  }

  static void expect_hand_values(const EvaluationResult& r) {
    const json& m = r.metrics["slices"][0]["metrics"];
    auto v = [&](const char* name) { return m[name]["value"].get<double>(); };
    EXPECT_DOUBLE_EQ(v("binary_accuracy"), 5.0 / 8);
    EXPECT_DOUBLE_EQ(v("precision"), 2.0 / 3);
    EXPECT_DOUBLE_EQ(v("recall"), 0.5);
    EXPECT_DOUBLE_EQ(v("binary_accuracy_at_0.3"), 0.5);
    EXPECT_DOUBLE_EQ(v("precision_at_0.3"), 0.5);
    EXPECT_DOUBLE_EQ(v("recall_at_0.3"), 0.75);
    EXPECT_FALSE(m["precision"].contains("per_class"));
    // The defaults for a binary model: AUC (9 of 16 positive-negative pairs ranked right), mean
    // label and prediction, and the multi-class metrics on [1 - p, p].
    EXPECT_DOUBLE_EQ(v("auc"), 9.0 / 16);
    EXPECT_DOUBLE_EQ(v("mean_label"), 0.5);
    EXPECT_NEAR(v("mean_prediction"), 3.8 / 8, 1e-6);
    EXPECT_DOUBLE_EQ(v("f1_score"), 2.0 * 2 / (2 * 2 + 1 + 2));
    EXPECT_TRUE(m.contains("sparse_categorical_crossentropy"));
    const json& plots = r.plots["slices"][0]["plots"];
    const json& matrices = plots["confusion_matrix_at_thresholds"]["matrices"];
    ASSERT_EQ(matrices.size(), 2u);
    EXPECT_EQ(matrices[0], json({{"threshold", 0.3}, {"true_positives", 3}, {"false_positives", 3}, {"true_negatives", 1}, {"false_negatives", 1},
                                 {"precision", 0.5}, {"recall", 0.75}}));
    EXPECT_EQ(matrices[1]["true_positives"], 2);
    EXPECT_EQ(matrices[1]["true_negatives"], 3);
    EXPECT_EQ(plots["multi_class_confusion_matrix_plot"]["matrix"], json({{3, 1}, {2, 2}}));
  }
};

TEST_F(BinaryEvaluateTest, SigmoidOutputWithBinaryMetricsMatchesHandValues) {
  EvaluationResult r = run(activation_model(dir_, "sigmoid", 1, "sigmoid"), 1, kBinaryMetrics);
  EXPECT_EQ(r.problem_type, ProblemType::Binary);
  EXPECT_EQ(r.metrics["problem_type"], "binary");
  expect_hand_values(r);
  // The predictions file holds [1 - p, p], so two binary evaluations compare like classifiers.
  TFRecordReader reader(dir_ / "out1" / kPredictionsFile);
  std::string record;
  ASSERT_TRUE(reader.next(record));
  tensorflow::Example first;
  ASSERT_TRUE(first.ParseFromString(record));
  const auto& probabilities = first.features().feature().at("probabilities").float_list();
  ASSERT_EQ(probabilities.value_size(), 2);
  EXPECT_NEAR(probabilities.value(1), 0.9f, 1e-6f);
  EXPECT_NEAR(probabilities.value(0), 0.1f, 1e-6f);
}

TEST_F(BinaryEvaluateTest, TwoSoftmaxOutputsWithBinaryMetricsGiveTheSameValues) {
  EvaluationResult r = run(activation_model(dir_, "softmax2", 2, "softmax"), 2, kBinaryMetrics);
  EXPECT_EQ(r.problem_type, ProblemType::Binary);
  expect_hand_values(r);
  // Without a binary metric the same model is a two-class multi-class model, as before.
  EvaluationResult multi = run(activation_model(dir_, "softmax2b", 2, "softmax"), 2, json::array());
  EXPECT_EQ(multi.problem_type, ProblemType::MultiClass);
  EXPECT_TRUE(multi.metrics["slices"][0]["metrics"]["precision"].contains("per_class"));
  EXPECT_FALSE(multi.metrics["slices"][0]["metrics"].contains("binary_accuracy"));
}

TEST_F(BinaryEvaluateTest, LabelsAndOutputsThatAreNotBinaryAreNamed) {
  fs::path sigmoid = activation_model(dir_, "sigmoid", 1, "sigmoid");
  std::vector<std::pair<float, int64_t>> rows = kBinaryRows;
  rows[4].second = 2;
  expect_error([&] { run(sigmoid, 1, kBinaryMetrics, rows); }, {"binary.tfrecord: record 4", "label 'y' is 2; a binary classifier's labels are 0 or 1"});
  // Without a binary metric a sigmoid model is a regression model: AUC alone is an error.
  expect_error([&] { run(sigmoid, 1, json::array({{{"class_name", "AUC"}}})); },
               {"AUC (auc) is a classification metric", "has shape [batch, 1]", "a regression model", "BinaryAccuracy"});
  // An output outside [0, 1] is not a probability.
  fs::path linear = linear_model(dir_, "linear", 2, 1, false);
  expect_error([&] { run(linear, 1, kBinaryMetrics); },
               {(linear / "Format-Serving" / "model.onnx").string(), "a binary classifier's single output is the positive class's probability, in [0, 1]"});
}

// ---------------------------------------------------------------- comparing two regression evaluations

class RegressionCompareTest : public RegressionEvaluateTest {
 protected:
  // A = 2x + 1 (ONNX), B = 2.5x + 1 (TFLite): B - A = 0.5x, largest at example 3 (x = 4.5).
  json compare(const fs::path& out) {
    fs::path a = evaluate_into("full", linear_model(dir_, "full", 2, 1, false), false);
    fs::path b = evaluate_into("lite", linear_model(dir_, "lite", 2.5f, 1, true), true);
    return compare_evaluations({.evaluation_a = a, .evaluation_b = b, .latency_runs = 3, .latency_warmup = 1, .output_dir = out});
  }

  fs::path evaluate_into(const std::string& id, const fs::path& model, bool tflite) {
    EvaluationRequest r;
    r.config = parse_eval_config(config(json::array(), json::object(), tflite));
    r.example_files = {write_examples()};
    r.model_uri = model;
    r.output_dir = dir_ / "root" / ("Evaluator." + id) / "evaluation" / "1";
    evaluate(r);
    return r.output_dir;
  }
};

TEST_F(RegressionCompareTest, AgreementIsPredictionDeltasAndErrorsByHand) {
  json c = compare(dir_ / "out");
  const json& ag = c["agreement"];
  EXPECT_EQ(ag["problem_type"], "regression");
  EXPECT_EQ(ag["example_count"], 6);
  EXPECT_DOUBLE_EQ(ag["max_abs_prediction_delta"].get<double>(), 2.25);
  EXPECT_EQ(ag["max_abs_prediction_delta_at"], json({{"example_index", 3}, {"label", 8.0}, {"a", 10.0}, {"b", 12.25}}));
  EXPECT_DOUBLE_EQ(ag["mean_abs_prediction_delta"].get<double>(), 5.625 / 6);
  EXPECT_DOUBLE_EQ(ag["mae_a"].get<double>(), 3.5 / 6);
  EXPECT_DOUBLE_EQ(ag["mae_b"].get<double>(), 8.125 / 6);
  EXPECT_DOUBLE_EQ(ag["rmse_a"].get<double>(), std::sqrt(5.25 / 6));
  EXPECT_DOUBLE_EQ(ag["rmse_b"].get<double>(), std::sqrt(22.015625 / 6));
  EXPECT_FALSE(ag.contains("top1_flips"));
  // Metric deltas per slice, as for classifiers.
  EXPECT_EQ(c["metric_deltas"][0]["slice_key"], "Overall");
  EXPECT_DOUBLE_EQ(c["metric_deltas"][0]["metrics"]["mean_absolute_error"]["delta"].get<double>(), (8.125 - 3.5) / 6);
  ASSERT_TRUE(c["latency"].is_object());
  EXPECT_TRUE(c["plots"]["a"].contains("prediction_label_scatter"));
  EXPECT_TRUE(c["plots"]["b"].contains("residual_histogram"));
  EXPECT_EQ(read_json_file(dir_ / "out" / kComparisonFile), c);

  // The report: a scatter of prediction against label and the residual histograms, no classes.
  std::string html = read_file(dir_ / "out" / kReportFile);
  for (const char* part : {"<svg", "Prediction vs label", "class=\"scatter\"", "<circle", "Residual histogram", "class=\"histogram\"",
                           "mean absolute error", "r2_score", "max |Δ prediction|", "2.250000", "Δ MAE", "batch-1 latency p50"}) {
    EXPECT_NE(html.find(part), std::string::npos) << part;
  }
  for (const char* absent : {"class=\"cm\"", "Reliability", "Top-1 flips per class", "<script"}) EXPECT_EQ(html.find(absent), std::string::npos) << absent;

  // `litepipe compare` prints the regression summary.
  std::ostringstream text;
  compare_command({.evaluations = {(dir_ / "root" / "Evaluator.full" / "evaluation" / "1").string(),
                                   (dir_ / "root" / "Evaluator.lite" / "evaluation" / "1").string()},
                   .runs = 0},
                  text);
  EXPECT_NE(text.str().find("|prediction delta|"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("max 2.25 (example_index 3)"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("mean_absolute_error"), std::string::npos) << text.str();
}

TEST_F(RegressionCompareTest, ComparatorSetsRegressionPropertiesAndMixedKindsAreNamed) {
  fs::path a = evaluate_into("full", linear_model(dir_, "full", 2, 1, false), false);
  fs::path b = evaluate_into("lite", linear_model(dir_, "lite", 2.5f, 1, true), true);
  fs::path out = dir_ / "root" / "ModelComparator" / "comparison" / "2";
  fs::create_directories(out);
  ArtifactMap inputs = {{"evaluation_a", {Artifact{4, artifact_types::kModelEvaluation, a.string()}}},
                        {"evaluation_b", {Artifact{5, artifact_types::kModelEvaluation, b.string()}}}};
  ArtifactMap outputs = {{"comparison", {Artifact{0, artifact_types::kModelComparison, out.string()}}}};
  auto component = ModelComparator({.latency_runs = 0});
  model_comparator_registration().executor()->Do(inputs, outputs, component->exec_properties(), {});
  const Artifact& comparison = outputs["comparison"][0];
  EXPECT_DOUBLE_EQ(comparison.properties["max_abs_prediction_delta"].get<double>(), 2.25);
  EXPECT_DOUBLE_EQ(comparison.properties["mae_b"].get<double>(), 8.125 / 6);
  EXPECT_FALSE(comparison.properties.contains("top1_flips"));
  EXPECT_TRUE(fs::exists(out / kReportFile));

  // A regression evaluation against a classifier's: both files named.
  EvaluationRequest r;
  r.config = parse_eval_config({{"model_specs", {{{"label_key", "y"}}}}, {"metrics_specs", {{{"metrics", kBinaryMetrics}}}}});
  fs::path path = dir_ / "binary.tfrecord";
  {
    TFRecordWriter writer(path);
    for (int i = 0; i < 6; ++i) {
      tensorflow::Example e;
      (*e.mutable_features()->mutable_feature())["x"].mutable_float_list()->add_value(static_cast<float>(i) - 3);
      (*e.mutable_features()->mutable_feature())["y"].mutable_int64_list()->add_value(i % 2);
      writer.write(e.SerializeAsString());
    }
    writer.close();
  }
  r.example_files = {path};
  r.model_uri = activation_model(dir_, "sigmoid", 1, "sigmoid");
  r.output_dir = dir_ / "binary-eval";
  evaluate(r);
  expect_error([&] { compare_evaluations({.evaluation_a = a, .evaluation_b = r.output_dir, .latency_runs = 0}); },
               {(a / kPredictionsFile).string(), "a regression model's predictions", (r.output_dir / kPredictionsFile).string(), "a classifier's"});
}

// Runs a shell command; its exit status.
int shell(const std::string& command) { return std::system(command.c_str()); }

TEST_F(RegressionCompareTest, ReportRendersInHeadlessChromium) {
  if (shell("command -v chromium >/dev/null 2>&1") != 0) GTEST_SKIP() << "chromium is not installed (scripts/install.sh installs Debian's chromium)";
  compare(dir_ / "out");
  fs::path report = dir_ / "out" / kReportFile, dom = dir_ / "dom.html";
  fs::path screenshot = fs::path(LITEPIPE_BINARY).parent_path() / "tests" / "compare_regression_report.png";
  fs::remove(screenshot);
  std::string flags = fmt::format("--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --user-data-dir={}",
                                  (dir_ / "profile").string());
  ASSERT_EQ(shell(fmt::format("timeout 60 chromium {} --dump-dom file://{} > {} 2>{}", flags, report.string(), dom.string(), (dir_ / "err1").string())), 0)
      << read_file(dir_ / "err1");
  std::string rendered = read_file(dom);
  for (const char* part : {"Model comparison", "Prediction vs label", "Residual histogram", "<circle", "<rect", "2.250000"}) {
    EXPECT_NE(rendered.find(part), std::string::npos) << part;
  }
  ASSERT_EQ(shell(fmt::format("timeout 60 chromium {} --hide-scrollbars --screenshot={} --window-size=1280,1600 file://{} >/dev/null 2>{}", flags,
                              screenshot.string(), report.string(), (dir_ / "err2").string())),
            0)
      << read_file(dir_ / "err2");
  ASSERT_TRUE(fs::exists(screenshot));
  EXPECT_GT(fs::file_size(screenshot), 20000u) << "a near-empty screenshot: " << screenshot;
}

}  // namespace
}  // namespace litepipe
