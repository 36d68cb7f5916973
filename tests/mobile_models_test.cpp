// Mobile model families through nn -> ONNX -> TFLite (float32 and full-integer int8), judged by
// the ONNX runner, litepipe's interpreter and the real TensorFlow Lite runtime on its builtin
// kernels (no XNNPACK: see testing::with_builtin_kernels_only).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "core/files.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "onnx/onnx_model.h"
#include "test_helpers.h"
#include "tflite/interpreter.h"
#include "tflite/rewriter.h"

namespace litepipe {
namespace {

using testing::run_real_tflite;

class MobileModelsTest : public testing::TempDirTest {
 protected:
  // `src` (a folder with model.onnx) rewritten into `dst`/tflite: float32, or full-integer int8
  // calibrated on `calibration` fed to `input`.
  static fs::path rewrite(const fs::path& src, const fs::path& dst, const std::string& input, const nn::Tensor* calibration) {
    rewriting::TFLiteRewriterOptions options;
    if (calibration) {
      nn::Tensor batch = *calibration;
      options.quantization_optimizations = {"DEFAULT"};
      options.quantization_enable_full_integer = true;
      options.representative_dataset = [batch, input] { return std::vector<tfl::RepresentativeBatch>{{{input, batch}}}; };
    }
    auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_rewriter", options);
    rewriting::rewrite_saved_model(src, dst, *rewriter, rewriting::ModelType::TFLITE_MODEL);
    return dst / "tflite";
  }

  static nn::Tensor run_interpreter(const fs::path& model, const std::string& input, const nn::Tensor& x) {
    auto interpreter = tfl::Interpreter::from_file(model);
    tfl::SignatureRunner runner(*interpreter, "serving_default");
    return runner.run({{input, x}}).begin()->second;
  }

  static std::set<std::string> ops(const fs::path& model) {
    std::set<std::string> names;
    auto interpreter = tfl::Interpreter::from_file(model);
    for (const auto& node : interpreter->nodes()) names.insert(node.op_name);
    return names;
  }

  static double max_abs_diff(const nn::Tensor& a, const nn::Tensor& b) {
    if (a.size() != b.size()) return 1e9;
    double d = 0;
    for (int64_t i = 0; i < a.size(); ++i) d = std::max(d, static_cast<double>(std::abs(a[i] - b[i])));
    return d;
  }
  static int64_t count_different(const nn::Tensor& a, const nn::Tensor& b) {
    if (a.size() != b.size()) return std::max(a.size(), b.size());
    int64_t n = 0;
    for (int64_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
    return n;
  }
};

// A text classifier (Embedding -> GlobalAveragePooling1D -> Dense): CAST + GATHER + MEAN in TFLite.
TEST_F(MobileModelsTest, TextClassifierConvertsToFloatAndInt8AndMatchesTheRealRuntime) {
  nn::set_random_seed(11);
  constexpr int64_t kSteps = 8, kVocabulary = 50;
  std::mt19937 rng(4);
  std::uniform_int_distribution<int> token(0, kVocabulary - 1);
  const int64_t n = 600;
  nn::Tensor x({n, kSteps}), y({n});
  for (int64_t r = 0; r < n; ++r) {
    int positive = 0;
    for (int64_t k = 0; k < kSteps; ++k) {
      const int t = token(rng);
      x[r * kSteps + k] = static_cast<float>(t);
      positive += t < 10 ? 1 : t >= 40 ? -1 : 0;  // "good" and "bad" words
    }
    y[r] = positive > 0 ? 1.0f : 0.0f;
  }
  auto in = nn::Input({kSteps}, "tokens");
  auto h = nn::Dense(16, {.activation = "relu"})(nn::GlobalAveragePooling1D()(nn::Embedding(kVocabulary, 16)(in)));
  nn::Model model({in}, nn::Dense(2, {.activation = "softmax"})(h));
  model.compile(nn::Adam({.learning_rate = 0.01f}), nn::SparseCategoricalCrossentropy());
  auto history = model.fit(x, y, {.epochs = 20, .batch_size = 32, .verbose = 0});
  EXPECT_GT(history.history["sparse_categorical_accuracy"].back(), 0.85);
  model.save(dir_ / "model");
  nn::Tensor onnx = onnxio::OnnxRunner(dir_ / "model" / onnxio::kModelFileName).run({{"tokens", x}}).begin()->second;

  // float32: CAST (float ids -> int32), GATHER, MEAN, FULLY_CONNECTED, SOFTMAX; the ONNX answers.
  fs::path lite = rewrite(dir_ / "model", dir_ / "lite", "tokens", nullptr);
  EXPECT_EQ(ops(lite), (std::set<std::string>{"CAST", "GATHER", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}));
  nn::Tensor ours = run_interpreter(lite, "tokens", x);
  EXPECT_LE(max_abs_diff(ours, onnx), 1e-5);
  nn::Tensor sample = x.slice_rows(0, 200);
  std::string nodes;
  nn::Tensor real = run_real_tflite(testing::with_builtin_kernels_only(lite, dir_ / "builtin.tflite"), sample, dir_, &nodes);
  EXPECT_LE(max_abs_diff(real, ours.slice_rows(0, 200)), 1e-5) << nodes;
  for (const char* op : {"CAST", "GATHER", "MEAN"}) EXPECT_NE(nodes.find(std::string("\"") + op + "\""), std::string::npos) << op << nodes;

  // int8: the ids stay float into CAST; GATHER's int8 table keeps its scale in its output.
  fs::path int8 = rewrite(dir_ / "model", dir_ / "lite_int8", "tokens", &x);
  EXPECT_EQ(ops(int8), (std::set<std::string>{"CAST", "GATHER", "MEAN", "FULLY_CONNECTED", "SOFTMAX", "DEQUANTIZE"}));
  auto interpreter = tfl::Interpreter::from_file(int8);
  for (const auto& node : interpreter->nodes()) {
    if (node.op_name == "GATHER") {
      EXPECT_EQ(node.version, 2);
      const auto& table = interpreter->tensor(node.inputs[0]);
      const auto& out = interpreter->tensor(node.outputs[0]);
      EXPECT_EQ(table.type, tfl::DType::Int8);
      EXPECT_EQ(table.scale, out.scale);
      EXPECT_EQ(table.zero_point, out.zero_point);
    }
    if (node.op_name == "CAST") {
      EXPECT_EQ(node.version, 1);
      EXPECT_EQ(interpreter->tensor(node.inputs[0]).type, tfl::DType::Float32);
    }
  }
  nn::Tensor ours8 = run_interpreter(int8, "tokens", x);
  int64_t flips = 0;
  for (int64_t r = 0; r < n; ++r) flips += (ours8[r * 2] > ours8[r * 2 + 1]) != (onnx[r * 2] > onnx[r * 2 + 1]);
  EXPECT_LE(flips, n / 50) << "int8 top-1 agrees with float on 98% of the examples";
  nn::Tensor real8 = run_real_tflite(testing::with_builtin_kernels_only(int8, dir_ / "builtin8.tflite"), sample, dir_, &nodes);
  EXPECT_EQ(count_different(real8, ours8.slice_rows(0, 200)), 0) << nodes;
  for (const char* op : {"CAST", "GATHER", "MEAN", "FULLY_CONNECTED", "SOFTMAX"})
    EXPECT_NE(nodes.find(std::string("\"") + op + "\""), std::string::npos) << op << nodes;

  // An id outside the table is an error of the run, not a read outside it.
  nn::Tensor bad({1, kSteps}, 75.0f);
  testing::expect_error([&] { run_interpreter(lite, "tokens", bad); }, {"GATHER", "index 75", "[0, 50)"});
}

// A MobileNet-style image classifier: a strided SAME convolution, an inverted-residual block
// (1x1 expansion, DepthwiseConv2D, 1x1 projection, each with BatchNormalization, relu6) with its
// residual Add, global average pooling and a softmax head; float32 and int8 in the real runtime.
TEST_F(MobileModelsTest, MobileNetStyleBlockConvertsToFloatAndInt8AndMatchesTheRealRuntime) {
  nn::set_random_seed(12);
  constexpr int64_t kSide = 16;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> pixel(0.0f, 255.0f);
  const int64_t n = 256;
  // Class: which image half is brighter (left / right), plus noise.
  nn::Tensor x({n, kSide * kSide}), y({n});
  for (int64_t r = 0; r < n; ++r) {
    const bool left = r % 2 == 0;
    for (int64_t i = 0; i < kSide * kSide; ++i) {
      const bool in_left = i % kSide < kSide / 2;
      x[r * kSide * kSide + i] = pixel(rng) * (in_left == left ? 1.0f : 0.4f);
    }
    y[r] = left ? 1.0f : 0.0f;
  }
  auto in = nn::Input({kSide * kSide}, "image");
  auto h = nn::Rescaling(1.0f / 255)(nn::Reshape({kSide, kSide, 1})(in));
  h = nn::Conv2D(8, {3, 3}, {.strides = {2, 2}, .padding = "same", .use_bias = false})(h);
  h = nn::ActivationLayer("relu6")(nn::BatchNormalization()(h));
  auto e = nn::ActivationLayer("relu6")(nn::BatchNormalization()(nn::Conv2D(16, {1, 1}, {.use_bias = false})(h)));
  e = nn::ActivationLayer("relu6")(nn::BatchNormalization()(nn::DepthwiseConv2D({3, 3}, {.padding = "same", .use_bias = false})(e)));
  auto p = nn::BatchNormalization()(nn::Conv2D(8, {1, 1}, {.use_bias = false})(e));
  h = nn::Add()({h, p});
  auto out = nn::Dense(2, {.activation = "softmax"})(nn::GlobalAveragePooling2D()(h));
  nn::Model model({in}, out);
  model.compile(nn::Adam({.learning_rate = 0.01f}), nn::SparseCategoricalCrossentropy());
  auto history = model.fit(x, y, {.epochs = 8, .batch_size = 32, .verbose = 0});
  EXPECT_GT(history.history["sparse_categorical_accuracy"].back(), 0.8);
  model.save(dir_ / "model");
  nn::Tensor onnx = onnxio::OnnxRunner(dir_ / "model" / onnxio::kModelFileName).run({{"image", x}}).begin()->second;

  fs::path lite = rewrite(dir_ / "model", dir_ / "lite", "image", nullptr);
  std::set<std::string> float_ops = ops(lite);
  for (const char* op : {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}) EXPECT_TRUE(float_ops.count(op)) << op;
  nn::Tensor ours = run_interpreter(lite, "image", x);
  EXPECT_LE(max_abs_diff(ours, onnx), 1e-4);
  nn::Tensor sample = x.slice_rows(0, 100);
  std::string nodes;
  nn::Tensor real = run_real_tflite(testing::with_builtin_kernels_only(lite, dir_ / "builtin.tflite"), sample, dir_, &nodes);
  EXPECT_LE(max_abs_diff(real, ours.slice_rows(0, 100)), 1e-5) << nodes;
  EXPECT_NE(nodes.find("\"DEPTHWISE_CONV_2D\""), std::string::npos) << nodes;

  // int8: DEPTHWISE_CONV_2D v3 with per-channel weights on axis 3; TFLite's builtin kernels give
  // the same int8 values for every op.
  fs::path int8 = rewrite(dir_ / "model", dir_ / "lite_int8", "image", &x);
  auto interpreter = tfl::Interpreter::from_file(int8);
  bool depthwise = false;
  for (const auto& node : interpreter->nodes()) {
    if (node.op_name != "DEPTHWISE_CONV_2D") continue;
    depthwise = true;
    EXPECT_EQ(node.version, 3);
    const auto& w = interpreter->tensor(node.inputs[1]);
    EXPECT_EQ(w.type, tfl::DType::Int8);
    EXPECT_EQ(w.quantized_dimension, 3);
    EXPECT_EQ(w.scale.size(), static_cast<size_t>(w.shape[3]));
  }
  EXPECT_TRUE(depthwise);
  nn::Tensor ours8 = run_interpreter(int8, "image", x);
  int64_t flips = 0;
  for (int64_t r = 0; r < n; ++r) flips += (ours8[r * 2] > ours8[r * 2 + 1]) != (onnx[r * 2] > onnx[r * 2 + 1]);
  EXPECT_LE(flips, n / 25);
  nn::Tensor real8 = run_real_tflite(testing::with_builtin_kernels_only(int8, dir_ / "builtin8.tflite"), sample, dir_, &nodes);
  EXPECT_EQ(count_different(real8, ours8.slice_rows(0, 100)), 0) << nodes;
  for (const char* op : {"QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX", "DEQUANTIZE"})
    EXPECT_NE(nodes.find(std::string("\"") + op + "\""), std::string::npos) << op << nodes;
}

// MobileNetV3's hard_swish, swish and gelu (tanh form): Keras's formulas in nn (checked against
// hand values), exported to ONNX (HardSigmoid*Mul, Sigmoid*Mul, a tanh polynomial), converted to
// TFLite (HARD_SWISH, LOGISTIC+MUL, MUL/ADD/TANH), float32 and int8, judged by the real runtime.
TEST_F(MobileModelsTest, HardSwishSwishAndGeluExportConvertAndMatchTheRealRuntime) {
  // Keras's values at a few points.
  auto apply = [](const std::string& activation, float v) {
    nn::Tensor t({1, 1}, v);
    auto in = nn::Input({1});
    nn::Model m({in}, nn::ActivationLayer(activation)(in));
    return m.predict(t)[0];
  };
  for (float v : {-4.0f, -1.5f, 0.0f, 0.7f, 3.5f}) {
    EXPECT_NEAR(apply("hard_swish", v), v * std::min(6.0f, std::max(0.0f, v + 3.0f)) / 6.0f, 1e-6) << v;
    EXPECT_NEAR(apply("swish", v), v / (1.0f + std::exp(-v)), 1e-6) << v;
    const double x = v;
    EXPECT_NEAR(apply("gelu", v), 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))), 1e-5) << v;
  }
  nn::set_random_seed(13);
  std::mt19937 rng(6);
  std::normal_distribution<float> feature(0.0f, 1.5f);
  const int64_t n = 300;
  nn::Tensor x({n, 8}), y({n});
  for (int64_t r = 0; r < n; ++r) {
    float s = 0;
    for (int64_t k = 0; k < 8; ++k) s += (x[r * 8 + k] = feature(rng)) * (k % 2 ? 1.0f : -0.5f);
    y[r] = s > 0 ? 1.0f : 0.0f;
  }
  auto in = nn::Input({8}, "features");
  auto h = nn::Dense(16, {.activation = "hard_swish"})(in);
  h = nn::Dense(16, {.activation = "swish"})(h);
  h = nn::Dense(16, {.activation = "gelu"})(h);
  nn::Model model({in}, nn::Dense(2, {.activation = "softmax"})(h));
  model.compile(nn::Adam({.learning_rate = 0.01f}), nn::SparseCategoricalCrossentropy());
  auto history = model.fit(x, y, {.epochs = 15, .batch_size = 32, .verbose = 0});
  EXPECT_GT(history.history["sparse_categorical_accuracy"].back(), 0.9);
  nn::Tensor keras = model.predict(x);
  model.save(dir_ / "model");
  nn::Tensor onnx = onnxio::OnnxRunner(dir_ / "model" / onnxio::kModelFileName).run({{"features", x}}).begin()->second;
  EXPECT_LE(max_abs_diff(onnx, keras), 1e-5);

  fs::path lite = rewrite(dir_ / "model", dir_ / "lite", "features", nullptr);
  std::set<std::string> float_ops = ops(lite);
  for (const char* op : {"HARD_SWISH", "LOGISTIC", "MUL", "TANH", "ADD", "FULLY_CONNECTED", "SOFTMAX"}) EXPECT_TRUE(float_ops.count(op)) << op;
  nn::Tensor ours = run_interpreter(lite, "features", x);
  EXPECT_LE(max_abs_diff(ours, onnx), 1e-5);
  nn::Tensor sample = x.slice_rows(0, 100);
  std::string nodes;
  nn::Tensor real = run_real_tflite(testing::with_builtin_kernels_only(lite, dir_ / "builtin.tflite"), sample, dir_, &nodes);
  EXPECT_LE(max_abs_diff(real, ours.slice_rows(0, 100)), 1e-5) << nodes;
  EXPECT_NE(nodes.find("\"HARD_SWISH\""), std::string::npos) << nodes;

  fs::path int8 = rewrite(dir_ / "model", dir_ / "lite_int8", "features", &x);
  auto interpreter = tfl::Interpreter::from_file(int8);
  for (const auto& node : interpreter->nodes()) {
    if (node.op_name == "HARD_SWISH") {
      EXPECT_EQ(node.version, 1);
      EXPECT_EQ(interpreter->tensor(node.outputs[0]).type, tfl::DType::Int8);
    }
  }
  nn::Tensor ours8 = run_interpreter(int8, "features", x);
  int64_t flips = 0;
  for (int64_t r = 0; r < n; ++r) flips += (ours8[r * 2] > ours8[r * 2 + 1]) != (onnx[r * 2] > onnx[r * 2 + 1]);
  EXPECT_LE(flips, n / 20);
  nn::Tensor real8 = run_real_tflite(testing::with_builtin_kernels_only(int8, dir_ / "builtin8.tflite"), sample, dir_, &nodes);
  EXPECT_EQ(count_different(real8, ours8.slice_rows(0, 100)), 0) << nodes;
  for (const char* op : {"HARD_SWISH", "LOGISTIC", "MUL", "TANH"}) EXPECT_NE(nodes.find(std::string("\"") + op + "\""), std::string::npos) << op << nodes;
}

}  // namespace
}  // namespace litepipe
