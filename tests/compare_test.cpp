// Comparison of two evaluations (litepipe compare, ModelComparator) and its HTML report.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli/eval_commands.h"
#include "components/builtin.h"
#include "data/tfrecord.h"
#include "eval/compare.h"
#include "eval/evaluate.h"
#include "eval/report.h"
#include "tensorflow/core/example/example.pb.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using nlohmann::json;
using testing::expect_error;
using namespace eval;

struct Row {
  int64_t index, label;
  std::vector<float> a, b;
};

// Hand-made: top-1 of A is 0, 1, 2, 0; of B 0, 0, 2, 2; labels 0, 1, 2, 2. Two flips: example 1
// (A right, B wrong) and example 3 (A wrong, B right); the largest |dp| is 0.5 (example 3, class 2).
const std::vector<Row> kRows = {{0, 0, {0.7f, 0.2f, 0.1f}, {0.6f, 0.3f, 0.1f}},
                                {1, 1, {0.3f, 0.5f, 0.2f}, {0.5f, 0.4f, 0.1f}},
                                {2, 2, {0.4f, 0.1f, 0.5f}, {0.1f, 0.1f, 0.8f}},
                                {3, 2, {0.6f, 0.3f, 0.1f}, {0.2f, 0.2f, 0.6f}}};

class CompareTest : public testing::TempDirTest {
 protected:
  // An evaluation folder as the Evaluator writes it, with the given rows' probabilities of side `which`.
  fs::path hand_evaluation(const std::string& name, char which, const std::vector<Row>& rows, double accuracy, double loss,
                           bool extra_slice) {
    fs::path dir = dir_ / name;
    fs::create_directories(dir);
    json overall = {{"example_count", {{"value", rows.size()}}},
                    {"sparse_categorical_accuracy", {{"value", accuracy}}},
                    {"sparse_categorical_crossentropy", {{"value", loss}}},
                    {"auc", {{"value", nullptr}}},
                    {"expected_calibration_error", {{"value", which == 'a' ? 0.125 : 0.0625}}},
                    {"recall", {{"value", accuracy}, {"per_class", {{"0", 1.0}, {"1", which == 'a' ? 1.0 : 0.0}, {"2", which == 'a' ? 0.5 : 1.0}}}}}};
    if (which == 'b') overall["only_in_b"] = {{"value", 1.0}};
    json slices = {{{"slice_key", "Overall"}, {"slice", json::object()}, {"metrics", overall}},
                   {{"slice_key", "group:x"}, {"slice", {{"group", "x"}}}, {"metrics", {{"sparse_categorical_accuracy", {{"value", accuracy / 2}}}}}}};
    if (extra_slice) slices.push_back({{"slice_key", "group:y"}, {"slice", {{"group", "y"}}}, {"metrics", json::object()}});
    json model = {{"name", "candidate"}, {"model_type", which == 'a' ? "onnx" : "tf_lite"},
                  {"path", (dir / "Format-Serving" / "model").string()}, {"file_size_bytes", which == 'a' ? 4000 : 1000}};
    write_json_file_atomic(dir / kMetricsFile, {{"model", model}, {"example_count", rows.size()}, {"slices", slices}});
    json confusion = {{"class_ids", {0, 1, 2}}, {"matrix", which == 'a' ? json{{1, 0, 0}, {0, 1, 0}, {1, 0, 1}} : json{{1, 0, 0}, {1, 0, 0}, {0, 0, 2}}},
                      {"rows", "actual"}, {"columns", "predicted"}};
    json calibration = {{"buckets", {{{"lower_threshold", 0.5}, {"upper_threshold", 0.6}, {"count", 2}, {"mean_confidence", 0.55}, {"accuracy", 0.5}},
                                     {{"lower_threshold", 0.7}, {"upper_threshold", 0.8}, {"count", 2}, {"mean_confidence", 0.75}, {"accuracy", 0.5}}}}};
    write_json_file_atomic(dir / kPlotsFile, {{"slices", {{{"slice_key", "Overall"}, {"slice", json::object()},
                                                           {"plots", {{"multi_class_confusion_matrix_plot", confusion}, {"calibration_plot", calibration}}}}}}});
    TFRecordWriter writer(dir / kPredictionsFile);
    for (const auto& r : rows) {
      tensorflow::Example e;
      auto& f = *e.mutable_features()->mutable_feature();
      f["example_index"].mutable_int64_list()->add_value(r.index);
      f["label"].mutable_int64_list()->add_value(r.label);
      for (float p : which == 'a' ? r.a : r.b) f["probabilities"].mutable_float_list()->add_value(p);
      writer.write(e.SerializeAsString());
    }
    writer.close();
    return dir;
  }

  json hand_comparison(const std::string& out = "") {
    std::vector<Row> reversed(kRows.rbegin(), kRows.rend());  // B in another order: matched by example_index
    ComparisonRequest r{.evaluation_a = hand_evaluation("a", 'a', kRows, 0.5, 0.9, true),
                        .evaluation_b = hand_evaluation("b", 'b', reversed, 0.75, 0.7, false),
                        .title_a = "A <full>",
                        .title_b = "B & lite",
                        .latency_runs = 0};
    if (!out.empty()) r.output_dir = dir_ / out;
    return compare_evaluations(r);
  }
};

TEST_F(CompareTest, DeltasAndAgreementMatchHandValues) {
  json c = hand_comparison("out");
  const json& ag = c["agreement"];
  EXPECT_EQ(ag["example_count"], 4);
  EXPECT_EQ(ag["num_classes"], 3);
  EXPECT_EQ(ag["top1_flips"], 2);
  EXPECT_DOUBLE_EQ(ag["agreement_rate"].get<double>(), 0.5);
  EXPECT_EQ(ag["a_right_b_wrong"], 1);
  EXPECT_EQ(ag["a_wrong_b_right"], 1);
  EXPECT_DOUBLE_EQ(ag["accuracy_a"].get<double>(), 0.75);  // from the predictions: A misses example 3, B example 1
  EXPECT_DOUBLE_EQ(ag["accuracy_b"].get<double>(), 0.75);
  EXPECT_NEAR(ag["max_abs_probability_delta"].get<double>(), 0.5, 1e-6);
  EXPECT_EQ(ag["max_abs_probability_delta_at"]["example_index"], 3);
  EXPECT_EQ(ag["max_abs_probability_delta_at"]["class"], 2);
  EXPECT_NEAR(ag["mean_abs_probability_delta"].get<double>(), 2.2 / 12, 1e-6);
  // Per class, by label: class 1 flips A-right to B-wrong, class 2 (two examples) the other way.
  ASSERT_EQ(ag["per_class"].size(), 3u);
  EXPECT_EQ(ag["per_class"][0]["top1_flips"], 0);
  EXPECT_EQ(ag["per_class"][1]["top1_flips"], 1);
  EXPECT_EQ(ag["per_class"][1]["a_right_b_wrong"], 1);
  EXPECT_EQ(ag["per_class"][2]["example_count"], 2);
  EXPECT_EQ(ag["per_class"][2]["top1_flips"], 1);
  EXPECT_EQ(ag["per_class"][2]["a_wrong_b_right"], 1);
  EXPECT_DOUBLE_EQ(ag["per_class"][2]["accuracy_a"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(ag["per_class"][2]["accuracy_b"].get<double>(), 1.0);
  EXPECT_NEAR(ag["per_class"][0]["max_abs_probability_delta"].get<double>(), 0.1, 1e-6);

  // Metric deltas: B - A for every metric both have, per slice both have.
  const json& overall = c["metric_deltas"][0];
  EXPECT_EQ(overall["slice_key"], "Overall");
  EXPECT_DOUBLE_EQ(overall["metrics"]["sparse_categorical_accuracy"]["delta"].get<double>(), 0.25);
  EXPECT_NEAR(overall["metrics"]["sparse_categorical_crossentropy"]["delta"].get<double>(), -0.2, 1e-12);
  EXPECT_TRUE(overall["metrics"]["auc"]["delta"].is_null());  // undefined on both
  EXPECT_FALSE(overall["metrics"].contains("only_in_b"));
  EXPECT_DOUBLE_EQ(overall["metrics"]["recall"]["per_class"]["2"]["delta"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(c["metric_deltas"][1]["metrics"]["sparse_categorical_accuracy"]["delta"].get<double>(), 0.125);
  EXPECT_EQ(c["metric_deltas"].size(), 2u);
  EXPECT_EQ(c["slices_only_in_a"], json({"group:y"}));
  EXPECT_EQ(c["slices_only_in_b"], json::array());
  // Sizes from metrics.json; latency not asked for.
  EXPECT_EQ(c["size"]["a_bytes"], 4000);
  EXPECT_DOUBLE_EQ(c["size"]["ratio_b_to_a"].get<double>(), 0.25);
  EXPECT_TRUE(c["latency"].is_null());
  EXPECT_EQ(read_json_file(dir_ / "out" / kComparisonFile), c);
  EXPECT_TRUE(fs::exists(dir_ / "out" / kReportFile));
}

TEST_F(CompareTest, DifferentExampleSetsOrBrokenFilesAreNamed) {
  fs::path a = hand_evaluation("a", 'a', kRows, 0.5, 0.9, false);
  fs::path b = hand_evaluation("b", 'b', {kRows[0], kRows[1], kRows[2]}, 0.75, 0.7, false);
  ComparisonRequest r{.evaluation_a = a, .evaluation_b = b, .latency_runs = 0};
  expect_error([&] { compare_evaluations(r); }, {"different examples", (a / kPredictionsFile).string(), "has 4 examples",
                                                 (b / kPredictionsFile).string(), "has 3", "example_index 3"});
  std::vector<Row> relabeled = kRows;
  relabeled[2].label = 1;
  r.evaluation_b = hand_evaluation("c", 'b', relabeled, 0.75, 0.7, false);
  expect_error([&] { compare_evaluations(r); }, {"example_index 2 has label 2", "but 1 in", (r.evaluation_b / kPredictionsFile).string()});
  json metrics = read_json_file(a / kMetricsFile);
  metrics["model"].erase("file_size_bytes");
  write_json_file_atomic(a / kMetricsFile, metrics);
  expect_error([&] { compare_evaluations(r); }, {(a / kMetricsFile).string(), "model: missing field 'file_size_bytes'"});
  r.evaluation_a = dir_ / "nowhere";
  expect_error([&] { compare_evaluations(r); }, {"nowhere", "not an evaluation folder"});
}

TEST_F(CompareTest, MalformedEvaluationFilesAreNamedByFileAndField) {
  fs::path a = hand_evaluation("a", 'a', kRows, 0.5, 0.9, false);
  fs::path b = hand_evaluation("b", 'b', kRows, 0.75, 0.7, false);
  ComparisonRequest r{.evaluation_a = a, .evaluation_b = b, .latency_runs = 0};
  json plots = read_json_file(b / kPlotsFile);
  auto corrupt = [&](const std::string& pointer, const json& value, bool erase = false) {
    json broken = plots;
    if (erase) broken[json::json_pointer(pointer).parent_pointer()].erase(json::json_pointer(pointer).back());
    else broken[json::json_pointer(pointer)] = value;
    write_json_file_atomic(b / kPlotsFile, broken);
  };
  const std::string plots_file = (b / kPlotsFile).string();
  // A calibration bucket without its count (the report would have read a missing key).
  corrupt("/slices/0/plots/calibration_plot/buckets/1/count", nullptr, true);
  expect_error([&] { compare_evaluations(r); }, {plots_file, "slices[0].plots.calibration_plot.buckets[1].count", "expected a number or null"});
  corrupt("/slices/0/plots/calibration_plot/buckets/0/accuracy", "high");
  expect_error([&] { compare_evaluations(r); }, {plots_file, "buckets[0].accuracy: expected a number or null, got \"high\""});
  corrupt("/slices/0/plots/multi_class_confusion_matrix_plot/matrix/2", 7);
  expect_error([&] { compare_evaluations(r); }, {plots_file, "multi_class_confusion_matrix_plot.matrix[2]", "a row of 3 counts"});
  corrupt("/slices/0", json::array({1, 2}));
  expect_error([&] { compare_evaluations(r); }, {plots_file, "slices[0]: expected an object"});
  corrupt("/slices", json::object());
  expect_error([&] { compare_evaluations(r); }, {plots_file, "slices: expected a list"});
  write_json_file_atomic(b / kPlotsFile, plots);
  EXPECT_NO_THROW(compare_evaluations(r));

  json metrics = read_json_file(a / kMetricsFile);
  auto corrupt_metrics = [&](const std::string& pointer, const json& value) {
    json broken = metrics;
    broken[json::json_pointer(pointer)] = value;
    write_json_file_atomic(a / kMetricsFile, broken);
  };
  const std::string metrics_file = (a / kMetricsFile).string();
  corrupt_metrics("/slices/1", "group:x");
  expect_error([&] { compare_evaluations(r); }, {metrics_file, "slices[1]: expected an object"});
  corrupt_metrics("/slices/0/metrics/recall/per_class/1", "one");
  expect_error([&] { compare_evaluations(r); }, {metrics_file, "slices[0].metrics.recall.per_class.1: expected a number or null"});
  corrupt_metrics("/slices/0/metrics/auc", 0.5);
  expect_error([&] { compare_evaluations(r); }, {metrics_file, "slices[0].metrics.auc: expected an object {value, per_class?}"});
  corrupt_metrics("/slices/0/slice_key", 3);
  expect_error([&] { compare_evaluations(r); }, {metrics_file, "slices[0].slice_key: expected a string"});
  // `litepipe metrics` reads the same checks.
  std::ostringstream table;
  expect_error([&] { print_metrics({.evaluations = {a.string()}}, table); }, {metrics_file, "slices[0].slice_key"});

  // A zero-byte model A: the size ratio is stored as null and printed as "-".
  metrics["model"]["file_size_bytes"] = 0;
  write_json_file_atomic(a / kMetricsFile, metrics);
  std::ostringstream text;
  compare_command({.evaluations = {a.string(), b.string()}, .runs = 0}, text);
  EXPECT_NE(text.str().find("0 -> 1000 B (-x)"), std::string::npos) << text.str();
}

std::string report_text(const fs::path& path) { return read_file(path); }

TEST_F(CompareTest, ReportIsSelfContainedEscapedAndHoldsTheKeyNumbers) {
  hand_comparison("out");
  std::string html = report_text(dir_ / "out" / kReportFile);
  // Titles are escaped wherever they appear.
  EXPECT_NE(html.find("A &lt;full&gt;"), std::string::npos);
  EXPECT_NE(html.find("B &amp; lite"), std::string::npos);
  EXPECT_EQ(html.find("<full>"), std::string::npos);
  for (const char* number : {"0.5000", "0.7500", "+0.2500", "-0.2000", "0.1250", "0.0625", "0.500000", "4000 B", "0.250×"}) {
    EXPECT_NE(html.find(number), std::string::npos) << number;
  }
  for (const char* part : {"<svg", "<polyline", "stroke-dasharray", "class=\"cm\"", "Top-1 flips per class", "Latency not measured", "group:y"}) {
    EXPECT_NE(html.find(part), std::string::npos) << part;
  }
  // Nothing is fetched: no scripts, stylesheets, images or fonts from elsewhere.
  for (const char* external : {"<script", "<link", "src=", "@import", "url("}) EXPECT_EQ(html.find(external), std::string::npos) << external;
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

// Softmax models (as eval_test's): A the ONNX model, B its TFLite rewrite with a sharper softmax
// (scale 2): the same top-1 everywhere, different probabilities.
class CompareModelsTest : public testing::TempDirTest {
 protected:
  fs::path softmax_model(const std::string& name, float scale, bool tflite) { return testing::write_softmax_model(dir_, name, scale, tflite); }

  const std::vector<std::pair<std::vector<float>, int64_t>> rows_ = {
      {{0.75f, 0.15f, 0.10f}, 0}, {{0.15f, 0.55f, 0.30f}, 2}, {{0.15f, 0.20f, 0.65f}, 2}, {{0.25f, 0.45f, 0.30f}, 1}};

  fs::path write_examples() {
    fs::path path = dir_ / "examples" / "Split-eval" / "data_tfrecord-00000-of-00001.gz";
    fs::create_directories(path.parent_path());
    TFRecordWriter writer(path);
    for (const auto& [probs, label] : rows_) {
      tensorflow::Example e;
      auto& f = *e.mutable_features()->mutable_feature();
      for (float q : probs) f["logits"].mutable_float_list()->add_value(std::log(q));
      f["y"].mutable_int64_list()->add_value(label);
      writer.write(e.SerializeAsString());
    }
    writer.close();
    return path;
  }

  // Evaluates a model into <root>/Evaluator.<id>/evaluation/1 (an artifact's layout).
  fs::path evaluate_into(const std::string& id, const fs::path& model, bool tflite) {
    json spec = {{"label_key", "y"}};
    if (tflite) spec["model_type"] = "tf_lite";
    EvaluationRequest r;
    r.config = parse_eval_config({{"model_specs", {spec}}, {"slicing_specs", json::array({json::object()})}});
    r.example_files = {write_examples()};
    r.model_uri = model;
    r.output_dir = dir_ / "root" / ("Evaluator." + id) / "evaluation" / "1";
    evaluate(r);
    return r.output_dir;
  }
};

TEST_F(CompareModelsTest, ComparatorMeasuresLatencyOnARealExampleAndWritesTheReport) {
  fs::path eval_a = evaluate_into("full", softmax_model("full", 1, false), false);
  fs::path eval_b = evaluate_into("lite", softmax_model("lite", 2, true), true);
  fs::path out = dir_ / "root" / "ModelComparator" / "comparison" / "3";
  fs::create_directories(out);
  Artifact examples{1, artifact_types::kExamples, (dir_ / "examples").string()};
  examples.set_split_names({"eval"});
  ArtifactMap inputs = {{"evaluation_a", {Artifact{4, artifact_types::kModelEvaluation, eval_a.string()}}},
                        {"evaluation_b", {Artifact{5, artifact_types::kModelEvaluation, eval_b.string()}}},
                        {"examples", {examples}}};
  ArtifactMap outputs = {{"comparison", {Artifact{0, artifact_types::kModelComparison, out.string()}}}};
  auto component = ModelComparator({.latency_runs = 20, .latency_warmup = 2});
  model_comparator_registration().executor()->Do(inputs, outputs, component->exec_properties(), {});

  json c = read_json_file(out / kComparisonFile);
  EXPECT_EQ(c["a"]["title"], "Evaluator.full");
  EXPECT_EQ(c["b"]["title"], "Evaluator.lite");
  // Squaring the probabilities (scale 2) keeps every top-1; the largest change, by hand.
  double max_delta = 0;
  for (const auto& [p, _] : rows_) {
    double sum = 0;
    for (float q : p) sum += static_cast<double>(q) * q;
    for (float q : p) max_delta = std::max(max_delta, std::abs(static_cast<double>(q) * q / sum - q));
  }
  EXPECT_EQ(c["agreement"]["top1_flips"], 0);
  EXPECT_DOUBLE_EQ(c["agreement"]["agreement_rate"].get<double>(), 1.0);
  EXPECT_NEAR(c["agreement"]["max_abs_probability_delta"].get<double>(), max_delta, 1e-5);
  EXPECT_EQ(c["size"]["a_bytes"], fs::file_size(dir_ / "full" / "Format-Serving" / "model.onnx"));
  EXPECT_EQ(c["size"]["b_bytes"], fs::file_size(dir_ / "lite" / "Format-Serving" / "tflite"));
  ASSERT_TRUE(c["latency"].is_object());
  EXPECT_EQ(c["latency"]["runs"], 20);
  EXPECT_GT(c["latency"]["a"]["p50_us"].get<double>(), 0);
  EXPECT_GT(c["latency"]["b"]["p50_us"].get<double>(), 0);
  EXPECT_NE(c["latency"]["input"].get<std::string>().find("data_tfrecord-00000-of-00001.gz record 0"), std::string::npos);
  const Artifact& comparison = outputs["comparison"][0];
  EXPECT_EQ(comparison.properties["top1_flips"], 0);
  EXPECT_EQ(comparison.properties["report_file"], kReportFile);
  EXPECT_NE(read_file(out / kReportFile).find("batch-1 latency p50"), std::string::npos);

  // `litepipe compare` on the two folders prints the summary; from the pipeline root, the newest result.
  std::ostringstream text;
  compare_command({.evaluations = {eval_a.string(), eval_b.string()}, .runs = 5, .warmup = 1}, text);
  EXPECT_NE(text.str().find("Evaluator.full (onnx) vs Evaluator.lite (tf_lite), 4 examples"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("agreement"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("batch-1 latency p50"), std::string::npos) << text.str();
  expect_error([&] { compare_command({.evaluations = {eval_a.string()}}, text); }, {"expected two evaluation folders"});
  expect_error([&] { ModelComparator({.latency_runs = -1}); }, {"ModelComparator", "latency_runs", "expected a count >= 0"});
}

// Runs a shell command; its exit status.
int shell(const std::string& command) { return std::system(command.c_str()); }

TEST_F(CompareTest, ReportRendersInHeadlessChromium) {
  if (shell("command -v chromium >/dev/null 2>&1") != 0) GTEST_SKIP() << "chromium is not installed (scripts/install.sh installs Debian's chromium)";
  hand_comparison("out");
  fs::path report = dir_ / "out" / kReportFile, dom = dir_ / "dom.html";
  fs::path screenshot = fs::path(LITEPIPE_BINARY).parent_path() / "tests" / "compare_report.png";
  fs::remove(screenshot);
  std::string flags = fmt::format("--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --user-data-dir={}",
                                  (dir_ / "profile").string());
  ASSERT_EQ(shell(fmt::format("timeout 60 chromium {} --dump-dom file://{} > {} 2>{}", flags, report.string(), dom.string(), (dir_ / "err1").string())), 0)
      << read_file(dir_ / "err1");
  std::string rendered = read_file(dom);
  // The DOM as the browser built it holds the key numbers and the plots.
  for (const char* part : {"Model comparison", "0.5000", "0.7500", "+0.2500", "0.500000", "4000 B", "<svg", "<polyline", "A &lt;full&gt;"}) {
    EXPECT_NE(rendered.find(part), std::string::npos) << part;
  }
  ASSERT_EQ(shell(fmt::format("timeout 60 chromium {} --hide-scrollbars --screenshot={} --window-size=1280,2000 file://{} >/dev/null 2>{}", flags,
                              screenshot.string(), report.string(), (dir_ / "err2").string())),
            0)
      << read_file(dir_ / "err2");
  ASSERT_TRUE(fs::exists(screenshot));
  EXPECT_GT(fs::file_size(screenshot), 20000u) << "a near-empty screenshot: " << screenshot;
  EXPECT_EQ(read_file(screenshot).substr(1, 3), "PNG");
}

}  // namespace
}  // namespace litepipe
