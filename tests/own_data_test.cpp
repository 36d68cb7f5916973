// A user's own tabular data: CSV with missing values and string labels, chained Transform ops,
// multi-input models saved with their preprocessing, the Evaluator on raw examples with the
// model's Transform graph, no-code trainers and the penguin example end to end.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <set>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <random>

#include <fmt/format.h>

#include "components/builtin.h"
#include "pipeline/runner.h"
#include "data/example_sources.h"
#include "data/tfrecord.h"
#include "nn/dataset.h"
#include "nn/model.h"
#include "onnx/onnx_model.h"
#include "tflite/interpreter.h"
#include "tflite/rewriter.h"
#include "test_helpers.h"
#include "transform/transform_graph.h"

namespace litepipe {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kPenguinsCsv = "/usr/lib/R/site-library/palmerpenguins/extdata/penguins.csv";

class OwnDataTest : public testing::TempDirTest {
 protected:
  std::vector<tensorflow::Example> read_csv(const fs::path& path, const CsvOptions& options = {}, std::vector<CsvColumn>* columns = nullptr) {
    std::vector<tensorflow::Example> out;
    auto info = read_csv_file(path, "", [&](const std::string&, std::string&& s) {
      tensorflow::Example e;
      e.ParseFromString(s);
      out.push_back(e);
    }, options);
    if (columns) *columns = info;
    return out;
  }
  fs::path write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }
  fs::path write_examples(const std::string& name, const std::vector<tensorflow::Example>& examples) {
    fs::path p = dir_ / name;
    TFRecordWriter w(p);
    for (const auto& e : examples) w.write(e.SerializeAsString());
    w.close();
    return p;
  }
  int run(const std::string& args) {
    std::string cmd = fmt::format("{} {} > {} 2>&1", LITEPIPE_BINARY, args, (dir_ / "cli.log").string());
    return std::system(cmd.c_str());
  }
  std::string log() { return read_file(dir_ / "cli.log"); }
};

TEST_F(OwnDataTest, CsvMissingMarkersKeepColumnsNumeric) {
  fs::path csv = write("data.csv", "a,b,c,d\n1,2.5,x,7\nNA,NaN,null,8\n3, ,y,NA\n4,1e3,z,9\n");
  std::vector<CsvColumn> columns;
  auto rows = read_csv(csv, {}, &columns);
  ASSERT_EQ(rows.size(), 4u);
  ASSERT_EQ(columns.size(), 4u);
  EXPECT_EQ(columns[0].type, CsvColumnType::Int);
  EXPECT_EQ(columns[0].missing, 1u);
  EXPECT_EQ(columns[1].type, CsvColumnType::Float);
  EXPECT_EQ(columns[1].missing, 2u);  // NaN and a blank cell
  EXPECT_EQ(columns[2].type, CsvColumnType::Bytes);
  EXPECT_EQ(columns[3].type, CsvColumnType::Int);
  const auto& f = rows[1].features().feature();
  EXPECT_TRUE(f.at("a").has_int64_list());
  EXPECT_EQ(f.at("a").int64_list().value_size(), 0);  // missing: an empty list of the column's type
  EXPECT_TRUE(f.at("c").has_bytes_list());
  EXPECT_EQ(f.at("c").bytes_list().value_size(), 0);

  // Without NA as a marker, column a is BYTES, and mostly numbers: the first offender is named.
  read_csv(csv, {.null_values = {""}}, &columns);
  EXPECT_EQ(columns[0].type, CsvColumnType::Bytes);
  EXPECT_EQ(columns[0].first_non_number, "NA");
  EXPECT_EQ(columns[0].numbers, 3u);

  // Forced types; a value that does not fit is named with its line and column.
  read_csv(csv, {.column_types = {{"a", CsvColumnType::Float}}}, &columns);
  EXPECT_EQ(columns[0].type, CsvColumnType::Float);
  EXPECT_TRUE(columns[0].forced);
  testing::expect_error([&] { read_csv(csv, {.column_types = {{"c", CsvColumnType::Int}}}); }, {"line 2", "column 'c'", "'x'", "INT"});
  testing::expect_error([&] { read_csv(csv, {.column_types = {{"nope", CsvColumnType::Int}}}); }, {"column_types", "'nope'"});
  fs::path dup = write("dup.csv", "a,b,a\n1,2,3\n");
  testing::expect_error([&] { read_csv(dup); }, {dup.string(), "'a' twice", "columns 1 and 3"});
}

TEST_F(OwnDataTest, ExampleGenParametersAreCheckedWhenThePipelineIsBuilt) {
  testing::expect_error([&] { ExampleGen({.input_base = "x", .output_config = {{"split_config", {{"splits", {{{"name", "train"}, {"hash_bucket", 2}}}}}}}}); },
                        {"ExampleGen", "output_config.split_config.splits[0].hash_bucket", "unknown field"});
  testing::expect_error([&] { ExampleGen({.input_base = "x", .output_config = {{"split_config", {{"splits", {{{"name", "../x"}, {"hash_buckets", 2}}}}}}}}); },
                        {"splits[0].name", "'../x'"});
  testing::expect_error([&] { ExampleGen({.input_base = "x", .column_types = {{"a", "STRING"}}}); }, {"column_types.a", "INT, FLOAT or BYTES"});
  testing::expect_error([&] { ExampleGen({.input_base = "x", .input_format = "parquet"}); }, {"input_format", "'parquet'"});
  testing::expect_error(
      [&] { Transform({.examples = ExampleGen({.input_base = "x"})->outputs("examples"),
                       .preprocessing_fn = json::array({{{"output", "y"}, {"op", "fill_missing"}, {"input", "x"}, {"strategy", "median"}}})}); },
      {"Transform", "preprocessing_fn[0].strategy", "'median'"});
  testing::expect_error(
      [&] { Transform({.examples = ExampleGen({.input_base = "x"})->outputs("examples"),
                       .preprocessing_fn = json::array({{{"output", "y"}, {"op", "scale_to_z_score"}, {"input", "x"}, {"num_buckets", 3}}})}); },
      {"preprocessing_fn[0]", "unknown field 'num_buckets'", "scale_to_z_score"});
}

// Examples with x (float, missing in every 5th), n (int) and a string label.
std::vector<tensorflow::Example> tabular_examples(int count) {
  std::vector<tensorflow::Example> out;
  const char* labels[] = {"cat", "dog", "dog", "eel"};
  for (int i = 0; i < count; ++i) {
    tensorflow::Example e;
    auto& f = *e.mutable_features()->mutable_feature();
    auto* x = f["x"].mutable_float_list();
    if (i % 5 != 0) x->add_value(static_cast<float>(i));
    f["n"].mutable_int64_list()->add_value(i % 3);
    f["label"].mutable_bytes_list()->add_value(labels[i % 4]);
    out.push_back(e);
  }
  return out;
}

TEST_F(OwnDataTest, TransformChainsFillMissingScalingVocabularyAndOneHot) {
  fs::path train = write_examples("train.tfrecord", tabular_examples(20));
  auto fn = transform::parse_preprocessing_fn(
      json::parse(R"([
        {"output": "x_filled", "op": "fill_missing", "input": "x", "strategy": "mean"},
        {"output": "x_xf", "op": "scale_to_z_score", "input": "x_filled"},
        {"output": "x_zero", "op": "fill_missing", "input": "x", "value": 0},
        {"output": "n_hot", "op": "one_hot", "input": "n"},
        {"output": "label_xf", "op": "compute_and_apply_vocabulary", "input": "label"},
        {"output": "label_hot", "op": "one_hot", "input": "label_xf"},
        {"output": "label_mode", "op": "fill_missing", "input": "label", "strategy": "most_frequent"}])"),
      "test");
  auto graph = transform::TransformGraph::analyze(fn, {train});
  // Mean of the present x (i not a multiple of 5, i < 20): (190 - 30) / 16 = 10.
  EXPECT_DOUBLE_EQ(graph.to_json()["ops"][0]["constants"]["fill"].get<double>(), 10.0);
  // The z-score is learned on the filled values, a level later.
  EXPECT_NEAR(graph.to_json()["ops"][1]["constants"]["mean"].get<double>(), 10.0, 1e-9);
  EXPECT_EQ(graph.vocabulary("label_xf"), (std::vector<std::string>{"dog", "eel", "cat"}));  // most frequent first, ties by value
  EXPECT_EQ(graph.raw_feature_of("x_xf"), "x");
  EXPECT_EQ(graph.to_json()["ops"][5]["constants"]["depth"], 3);

  auto examples = tabular_examples(20);
  tensorflow::Example out = graph.apply(examples[0]);  // x missing
  const auto& f = out.features().feature();
  EXPECT_FLOAT_EQ(f.at("x_filled").float_list().value(0), 10.0f);
  EXPECT_FLOAT_EQ(f.at("x_xf").float_list().value(0), 0.0f);
  EXPECT_FLOAT_EQ(f.at("x_zero").float_list().value(0), 0.0f);
  ASSERT_EQ(f.at("n_hot").float_list().value_size(), 3);
  EXPECT_EQ(f.at("n_hot").float_list().value(0), 1.0f);
  EXPECT_EQ(f.at("label_xf").int64_list().value(0), 2);  // cat
  EXPECT_EQ(f.at("label_hot").float_list().value(2), 1.0f);
  EXPECT_EQ(f.at("label_mode").bytes_list().value(0), "cat");

  // The serving form of x_xf: a NaN (missing) input is filled, then scaled, in ONNX.
  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.add_opset_import()->set_version(onnxio::kOpsetVersion);
  model.mutable_graph()->set_name("x_xf");
  onnxio::GraphBuilder g(model.mutable_graph());
  auto* in = model.mutable_graph()->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("batch");
  in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(1);
  std::string y = graph.to_onnx(g, "x", "x_xf");
  auto* o = model.mutable_graph()->add_output();
  o->set_name(y);
  o->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  o->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("batch");
  o->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(1);
  onnxio::check_model(model, "test");
  fs::path path = dir_ / "x.onnx";
  write_file_atomic(path, model.SerializeAsString());
  onnxio::OnnxRunner runner(path);
  auto result = runner.run({{"x", nn::Tensor::from({2, 1}, {std::numeric_limits<float>::quiet_NaN(), 4.0f})}});
  const nn::Tensor& r = result.begin()->second;
  EXPECT_FLOAT_EQ(r[0], f.at("x_xf").float_list().value(0));
  EXPECT_FLOAT_EQ(r[1], graph.apply(examples[4]).features().feature().at("x_xf").float_list().value(0));
}

// Two named inputs, concatenated: fit, predict, save with both raw inputs, and the TFLite model
// keeps both as serving_default_<feature>:0.
TEST_F(OwnDataTest, MultiInputModelTrainsSavesAndConverts) {
  nn::set_random_seed(3);
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0, 1);
  int64_t n = 300;
  nn::Tensor a({n, 1}), b({n, 2}), y({n});
  for (int64_t i = 0; i < n; ++i) {
    a[i] = noise(rng);
    b[2 * i] = noise(rng);
    b[2 * i + 1] = noise(rng);
    y[i] = a[i] + b[2 * i] > 0 ? 1.0f : 0.0f;
  }
  auto ia = nn::Input({1}, "a_xf"), ib = nn::Input({2}, "b_xf");
  auto h = nn::Dense(8, {.activation = "relu"})(nn::Concatenate()({ia, ib}));
  nn::Model model({ia, ib}, nn::Dense(2, {.activation = "softmax"})(h));
  model.compile(nn::Adam({.learning_rate = 0.05f}), nn::SparseCategoricalCrossentropy());
  nn::NamedTensors x = {{"a_xf", a}, {"b_xf", b}};
  auto history = model.fit(x, y, {.epochs = 20, .batch_size = 30, .verbose = 0});
  EXPECT_GT(history.history["sparse_categorical_accuracy"].back(), 0.9);
  testing::expect_error([&] { model.fit(nn::NamedTensors{{"a_xf", a}}, y); }, {"needs input 'b_xf'"});
  nn::Tensor expected = model.predict(x);

  // Raw serving inputs "a" (doubled by its preprocessing) and "b".
  std::map<std::string, onnxio::ServingInput> serving;
  serving["a_xf"] = {"a", [](onnxio::GraphBuilder& g, const std::string& raw) {
                       float two = 2.0f;
                       std::string out = g.unique("a_doubled");
                       g.add_node("Mul", {raw, g.add_initializer("two", &two, {})}, {out});
                       return out;
                     }};
  serving["b_xf"] = {"b", {}};
  fs::path saved = dir_ / "saved";
  model.save(saved, {.inputs = serving, .class_names = {"no", "yes"}});
  nn::Tensor half_a({n, 1});
  for (int64_t i = 0; i < n; ++i) half_a[i] = a[i] / 2;
  onnxio::OnnxRunner onnx(saved / "model.onnx");
  EXPECT_EQ(onnx.input_names(), (std::vector<std::string>{"a", "b"}));
  nn::Tensor got = onnx.run({{"a", half_a}, {"b", b}}).begin()->second;
  for (int64_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expected[i], 1e-5);

  auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "lite");
  rewriting::rewrite_saved_model(saved, dir_ / "lite", *rewriter, rewriting::ModelType::TFLITE_MODEL);
  auto interpreter = tfl::Interpreter::from_file(dir_ / "lite" / "tflite");
  const auto& sig = interpreter->signatures().at("serving_default");
  ASSERT_EQ(sig.inputs.size(), 2u);
  EXPECT_EQ(interpreter->tensor(sig.inputs.at("a")).name, "serving_default_a:0");
  EXPECT_EQ(interpreter->tensor(sig.inputs.at("b")).name, "serving_default_b:0");
  tfl::SignatureRunner lite(*interpreter, "serving_default");
  nn::Tensor lite_out = lite.run({{"a", half_a}, {"b", b}}).at("output_0");
  for (int64_t i = 0; i < lite_out.size(); ++i) ASSERT_NEAR(lite_out[i], expected[i], 1e-5);
}

// An integer id one-hot encoded in the model: the same in training, ONNX and TFLite (float and int8).
TEST_F(OwnDataTest, CategoryEncodingMatchesAcrossRuntimes) {
  nn::set_random_seed(4);
  auto id = nn::Input({1}, "island_id"), x = nn::Input({1}, "mass");
  auto h = nn::Dense(6, {.activation = "relu"})(nn::Concatenate()({nn::CategoryEncoding(3)(id), x}));
  nn::Model model({id, x}, nn::Dense(2, {.activation = "softmax"})(h));
  model.compile(nn::Adam({.learning_rate = 0.05f}), nn::SparseCategoricalCrossentropy());
  int64_t n = 120;
  nn::Tensor ids({n, 1}), mass({n, 1}), y({n});
  for (int64_t i = 0; i < n; ++i) {
    ids[i] = static_cast<float>(i % 3);
    mass[i] = static_cast<float>(i % 7) / 7.0f;
    y[i] = (i % 3 == 1) != (i % 7 > 3) ? 1.0f : 0.0f;
  }
  nn::NamedTensors batch = {{"island_id", ids}, {"mass", mass}};
  model.fit(batch, y, {.epochs = 30, .batch_size = 20, .verbose = 0});
  nn::Tensor expected = model.predict(batch);
  model.save(dir_ / "saved");
  onnxio::OnnxRunner onnx(dir_ / "saved" / "model.onnx");
  nn::Tensor got = onnx.run({{"island_id", ids}, {"mass", mass}}).begin()->second;
  for (int64_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expected[i], 1e-5);
  auto lite = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "lite");
  rewriting::rewrite_saved_model(dir_ / "saved", dir_ / "lite", *lite, rewriting::ModelType::TFLITE_MODEL);
  auto interpreter = tfl::Interpreter::from_file(dir_ / "lite" / "tflite");
  tfl::SignatureRunner runner(*interpreter, "serving_default");
  nn::Tensor ours = runner.run({{"island_id", ids}, {"mass", mass}}).at("output_0");
  for (int64_t i = 0; i < ours.size(); ++i) ASSERT_NEAR(ours[i], expected[i], 1e-5);
  std::string nodes;
  nn::Tensor real = testing::run_real_tflite(dir_ / "lite" / "tflite", {{"serving_default_island_id:0", ids}, {"serving_default_mass:0", mass}}, dir_, &nodes);
  for (int64_t i = 0; i < ours.size(); ++i) ASSERT_NEAR(real[i], ours[i], 1e-5) << nodes;
  // Full-integer int8 with a representative dataset of both features.
  auto int8 = rewriting::create_rewriter(
      rewriting::TFLITE_REWRITER, "int8",
      {.quantization_optimizations = {"DEFAULT"}, .quantization_enable_full_integer = true,
       .representative_dataset = [&] { return std::vector<tfl::RepresentativeBatch>{{{"island_id", ids}, {"mass", mass}}}; }});
  rewriting::rewrite_saved_model(dir_ / "saved", dir_ / "int8", *int8, rewriting::ModelType::TFLITE_MODEL);
  auto quantized = tfl::Interpreter::from_file(dir_ / "int8" / "tflite");
  tfl::SignatureRunner int8_runner(*quantized, "serving_default");
  nn::Tensor q = int8_runner.run({{"island_id", ids}, {"mass", mass}}).at("output_0");
  int64_t agree = 0;
  for (int64_t r = 0; r < n; ++r) agree += nn::sparse_categorical_accuracy(q.slice_rows(r, r + 1), nn::Tensor::from({1}, {expected[2 * r + 1] > expected[2 * r] ? 1.0f : 0.0f})) == 1.0;
  EXPECT_GE(agree, n - 3);
}

// TFX's penguin template on the Debian package's CSV, end to end through the CLI: both models
// blessed, accuracy >= 0.95, four named TFLite inputs that the real TFLite runtime runs as
// litepipe does.
TEST_F(OwnDataTest, PenguinPipelineRunsEndToEnd) {
  ASSERT_TRUE(fs::exists(kPenguinsCsv)) << "scripts/install.sh installs r-cran-palmerpenguins";
  fs::path pipeline = testing::source_dir() / "examples/penguin/pipeline.yaml";
  // A private copy of the pipeline file, rooted in the test's folder.
  std::string text = read_file(pipeline);
  auto replace = [&](const std::string& from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
  };
  replace("../../pipelines/penguin", (dir_ / "root").string());
  replace("../../build/", (fs::path(LITEPIPE_BINARY).parent_path() / "").string());
  fs::path copy = write("pipeline.yaml", text);
  ASSERT_EQ(run("run " + copy.string()), 0) << log();
  for (const char* id : {"penguin", "penguin_lite"}) {
    fs::path blessing_dir = dir_ / "root" / fmt::format("Evaluator.{}", id) / "blessing";
    ASSERT_TRUE(fs::exists(blessing_dir)) << log();
    fs::path execution = fs::directory_iterator(blessing_dir)->path();
    EXPECT_TRUE(fs::exists(execution / "BLESSED")) << id << "\n" << log();
    fs::path evaluation = dir_ / "root" / fmt::format("Evaluator.{}", id) / "evaluation";
    json metrics = read_json_file(fs::directory_iterator(evaluation)->path() / "metrics.json");
    double accuracy = metrics["slices"][0]["metrics"]["sparse_categorical_accuracy"]["value"];
    EXPECT_GE(accuracy, 0.95) << id;
    EXPECT_EQ(metrics["class_names"].size(), 3u);
    bool island_slices = false;
    for (const auto& s : metrics["slices"]) island_slices |= s["slice_key"].get<std::string>().rfind("island:", 0) == 0;
    EXPECT_TRUE(island_slices);
  }

  // The comparison report names the classes.
  fs::path comparison = fs::directory_iterator(dir_ / "root" / "ModelComparator.penguin_lite" / "comparison")->path();
  EXPECT_NE(read_file(comparison / "report.html").find("Gentoo"), std::string::npos);
  EXPECT_EQ(read_json_file(comparison / "comparison.json")["class_names"].size(), 3u);

  // Run 2: the Resolver finds run 1's blessed models, and each Evaluator compares with its own
  // baseline (TFX's LatestBlessedModelStrategy); the change threshold is now checked.
  ASSERT_EQ(run("run " + copy.string()), 0) << log();
  EXPECT_NE(log().find("[Resolver.latest_blessed_model] resolved: model="), std::string::npos) << log();
  {
    std::vector<fs::path> evaluations;
    for (const auto& e : fs::directory_iterator(dir_ / "root" / "Evaluator.penguin" / "evaluation")) evaluations.push_back(e.path());
    std::sort(evaluations.begin(), evaluations.end(), [](const fs::path& a, const fs::path& b) { return std::stoll(a.filename()) < std::stoll(b.filename()); });
    ASSERT_EQ(evaluations.size(), 2u);
    json second = read_json_file(evaluations.back() / "metrics.json");
    ASSERT_TRUE(second.contains("baseline_model")) << second.dump();
    EXPECT_NE(second["baseline_model"]["path"].get<std::string>().find("Trainer.penguin/model/"), std::string::npos);
    json validations = read_json_file(evaluations.back() / "validations.json");
    EXPECT_EQ(validations["change_thresholds_skipped"], 0);
    EXPECT_EQ(read_json_file(evaluations.front() / "validations.json")["change_thresholds_skipped"], 1);
  }

  fs::path model_dir = dir_ / "root" / "Trainer.penguin_lite" / "model";
  fs::path lite = fs::directory_iterator(model_dir)->path() / "Format-Serving" / "tflite";
  auto interpreter = tfl::Interpreter::from_file(lite);
  const auto& sig = interpreter->signatures().at("serving_default");
  std::set<std::string> names;
  for (const auto& [key, index] : sig.inputs) names.insert(interpreter->tensor(index).name);
  EXPECT_EQ(names, (std::set<std::string>{"serving_default_bill_length_mm:0", "serving_default_bill_depth_mm:0",
                                          "serving_default_flipper_length_mm:0", "serving_default_body_mass_g:0"}));
  // Real penguins (one with every measurement missing: NaN, filled in-graph) through both runtimes.
  std::vector<std::array<float, 4>> rows = {{39.1f, 18.7f, 181, 3750}, {NAN, NAN, NAN, NAN}, {46.5f, 17.9f, 192, 3500}, {50, 15.3f, 220, 5550}};
  std::map<std::string, nn::Tensor> feeds, by_tensor;
  const char* keys[] = {"bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"};
  for (size_t k = 0; k < 4; ++k) {
    nn::Tensor t({static_cast<int64_t>(rows.size()), 1});
    for (size_t r = 0; r < rows.size(); ++r) t[static_cast<int64_t>(r)] = rows[r][k];
    feeds[keys[k]] = t;
    by_tensor[fmt::format("serving_default_{}:0", keys[k])] = t;
  }
  tfl::SignatureRunner runner(*interpreter, "serving_default");
  nn::Tensor ours = runner.run(feeds).at("output_0");
  std::string nodes;
  nn::Tensor real = testing::run_real_tflite(lite, by_tensor, dir_, &nodes);
  ASSERT_EQ(real.size(), ours.size()) << nodes;
  for (int64_t i = 0; i < ours.size(); ++i) {
    EXPECT_TRUE(std::isfinite(ours[i]));
    EXPECT_NEAR(real[i], ours[i], 1e-5) << i << " " << nodes;
  }
}

// The no-code regression example: body mass from bill and flipper sizes, ONNX and TFLite
// evaluated with regression metrics; the penguins without a body mass are left out, and counted.
TEST_F(OwnDataTest, NoCodeRegressionExampleRunsEndToEnd) {
  ASSERT_TRUE(fs::exists(kPenguinsCsv)) << "scripts/install.sh installs r-cran-palmerpenguins";
  std::string text = read_file(testing::source_dir() / "examples/penguin/pipeline_body_mass.yaml");
  for (size_t at = text.find("../../pipelines/penguin_body_mass"); at != std::string::npos; at = text.find("../../pipelines/penguin_body_mass"))
    text.replace(at, std::string("../../pipelines/penguin_body_mass").size(), (dir_ / "root").string());
  fs::path pipeline = write("pipeline.yaml", text);
  ASSERT_EQ(run("run " + pipeline.string()), 0) << log();
  json full = read_json_file(fs::directory_iterator(dir_ / "root" / "Evaluator" / "evaluation")->path() / "metrics.json");
  json lite = read_json_file(fs::directory_iterator(dir_ / "root" / "Evaluator.lite" / "evaluation")->path() / "metrics.json");
  EXPECT_EQ(full["problem_type"], "regression");
  const json& overall = full["slices"][0]["metrics"];
  EXPECT_GT(overall["r2_score"]["value"].get<double>(), 0.6);
  EXPECT_LT(overall["mean_absolute_error"]["value"].get<double>(), 400);
  EXPECT_NEAR(lite["slices"][0]["metrics"]["mean_absolute_error"]["value"].get<double>(), overall["mean_absolute_error"]["value"].get<double>(), 1e-3);
  // Every eval example is either scored or counted as having no label (342 of the 344 penguins
  // were weighed).
  int64_t eval_examples = 0;
  for (const auto& f : fs::directory_iterator(fs::directory_iterator(dir_ / "root" / "ExampleGen" / "examples")->path() / "Split-eval")) {
    TFRecordReader reader(f.path());
    std::string record;
    while (reader.next(record)) ++eval_examples;
  }
  EXPECT_EQ(full["example_count"].get<int64_t>() + full["examples_without_label"].get<int64_t>(), eval_examples);
  EXPECT_LE(full["examples_without_label"].get<int64_t>(), 2);
  bool pushed = false;
  for (const auto& e : fs::directory_iterator(dir_ / "root" / "serving_model")) pushed |= fs::exists(e.path() / "tflite");
  EXPECT_TRUE(pushed) << log();
}

TEST_F(OwnDataTest, ResolverParametersAreCheckedWhenThePipelineIsBuilt) {
  testing::expect_error([&] { Resolver({.strategy = "latest_blessed"}); }, {"Resolver", "strategy is 'latest_blessed'"});
  testing::expect_error([&] { Resolver({.strategy = "latest_blessed_model"}); }, {"Resolver", "needs model_blessing"});
  auto resolver = Resolver({.model_blessing = "Evaluator.nope"});
  testing::expect_error([&] { LocalDagRunner().run(Pipeline{"p", dir_ / "root", {resolver}}); }, {"Resolver", "'Evaluator.nope'", "not in pipeline p"});
  EXPECT_FALSE(fs::exists(dir_ / "root" / "metadata.sqlite"));
}

// A pipeline made only of YAML, on a CSV litepipe has never seen: trains, converts, evaluates
// both models on raw examples with a string label, and pushes.
TEST_F(OwnDataTest, NoCodePipelineOnUnseenCsv) {
  std::mt19937 rng(9);
  std::normal_distribution<double> noise(0, 0.3);
  std::string csv = "temperature,humidity,wind,station,weather\n";
  const char* weather[] = {"sunny", "rainy", "stormy"};
  for (int i = 0; i < 600; ++i) {
    int k = i % 3;
    double t = 20 - 6 * k + noise(rng) * 3, h = 0.3 + 0.3 * k + noise(rng) * 0.1, w = 5 + 10 * k + noise(rng) * 4;
    std::string hs = i % 17 == 0 ? "NA" : fmt::format("{:.3f}", h);
    csv += fmt::format("{:.2f},{},{:.1f},st{},{}\n", t, hs, w, i % 4, weather[k]);
  }
  fs::path data = dir_ / "data";
  fs::create_directories(data);
  write("data/weather.csv", csv);
  std::string yaml = fmt::format(R"(pipeline_name: weather
pipeline_root: {root}
components:
  - component: ExampleGen
    parameters: {{input_base: {data}}}
  - component: StatisticsGen
    inputs: {{examples: ExampleGen.examples}}
  - component: SchemaGen
    inputs: {{statistics: StatisticsGen.statistics}}
  - component: Transform
    inputs: {{examples: ExampleGen.examples, schema: SchemaGen.schema}}
    parameters:
      preprocessing_fn:
        - {{output: temperature_xf, op: scale_to_z_score, input: temperature}}
        - {{output: humidity_filled, op: fill_missing, input: humidity, strategy: mean}}
        - {{output: humidity_xf, op: scale_to_0_1, input: humidity_filled}}
        - {{output: wind_xf, op: scale_to_z_score, input: wind}}
        - {{output: weather_xf, op: compute_and_apply_vocabulary, input: weather}}
  - component: Trainer
    inputs: {{examples: Transform.transformed_examples, transform_graph: Transform.transform_graph}}
    parameters:
      module_file: builtin
      run_fn: dnn_classifier
      train_args: {{num_steps: 300}}
      custom_config: {{features: [temperature, humidity, wind], label: weather, hidden_units: [16], learning_rate: 0.02, tflite: float}}
  - component: Evaluator
    id: lite
    inputs: {{examples: ExampleGen.examples, model: Trainer.model}}
    parameters:
      eval_config:
        model_specs: [{{label_key: weather_xf, model_type: tf_lite, preprocessing_function_names: [transform_features]}}]
        slicing_specs: [{{}}, {{feature_keys: [station]}}]
        metrics_specs: [{{metrics: [{{class_name: SparseCategoricalAccuracy, threshold: {{value_threshold: {{lower_bound: 0.8}}}}}}]}}]
  - component: Pusher
    inputs: {{model: Trainer.model, model_blessing: Evaluator.lite.blessing}}
    parameters:
      push_destination: {{filesystem: {{base_directory: {push}}}}}
)",
                                 fmt::arg("root", (dir_ / "root").string()), fmt::arg("data", data.string()),
                                 fmt::arg("push", (dir_ / "pushed").string()));
  fs::path pipeline = write("pipeline.yaml", yaml);
  ASSERT_EQ(run("run " + pipeline.string()), 0) << log();
  ASSERT_TRUE(fs::exists(dir_ / "pushed")) << log();
  fs::path version;
  for (const auto& e : fs::directory_iterator(dir_ / "pushed"))
    if (e.path().filename().string()[0] != '.') version = e.path();
  EXPECT_TRUE(fs::exists(version / "tflite"));
  EXPECT_TRUE(fs::exists(version / "model.onnx"));
  EXPECT_TRUE(fs::exists(version / "transform_fn" / "transform_graph.json"));
  fs::path evaluation = fs::directory_iterator(dir_ / "root" / "Evaluator.lite" / "evaluation")->path();
  json metrics = read_json_file(evaluation / "metrics.json");
  EXPECT_EQ(metrics["model"]["model_type"], "tf_lite");
  EXPECT_EQ(metrics["class_names"].size(), 3u);

  // A typo in the builtin trainer's config is an error before anything runs, naming the field.
  std::string typo = yaml;
  typo.replace(typo.find("hidden_units"), 12, "hiden_units");
  fs::path bad = write("bad.yaml", typo);
  EXPECT_NE(run("run " + bad.string()), 0);
  EXPECT_NE(log().find("custom_config.hiden_units"), std::string::npos) << log();
  EXPECT_FALSE(fs::exists(dir_ / "root" / "bad"));
}

}  // namespace
}  // namespace litepipe
