// Mobile model families through nn -> ONNX -> TFLite (float32 and full-integer int8), judged by
// the ONNX runner, litepipe's interpreter and the real TensorFlow Lite runtime on its builtin
// kernels (no XNNPACK: see testing::with_builtin_kernels_only).
#include <gtest/gtest.h>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>
#include <initializer_list>
#include <random>
#include <set>

#include "core/files.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "onnx/onnx_model.h"
#include "test_helpers.h"
#include "tflite/interpreter.h"
#include "tflite/rewriter.h"
#include "tflite_subset_generated.h"

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

  // The saved dir_/model with float16 weights, and with dynamic-range int8 weights (float
  // activations): litepipe's interpreter against the real runtime's builtin kernels on the first
  // `rows` of `x` (1e-5; 1e-4 for the hybrid kernels, which quantize inputs at run time), and near
  // the float model (`reference`) in top-1.
  void expect_float16_and_dynamic_range_agree(const std::string& input, const nn::Tensor& x, const nn::Tensor& reference, int64_t rows) {
    for (const bool fp16 : {true, false}) {
      SCOPED_TRACE(fp16 ? "float16" : "dynamic range");
      rewriting::TFLiteRewriterOptions options{.quantization_optimizations = {"DEFAULT"}};
      if (fp16) options.quantization_supported_types = {"float16"};
      const fs::path dst = dir_ / (fp16 ? "lite_fp16" : "lite_dynamic");
      auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_rewriter", options);
      rewriting::rewrite_saved_model(dir_ / "model", dst, *rewriter, rewriting::ModelType::TFLITE_MODEL);
      nn::Tensor ours = run_interpreter(dst / "tflite", input, x);
      EXPECT_LE(top1_flips(ours, reference), x.dim(0) / 50);
      std::string nodes;
      nn::Tensor real = run_builtin(dst / "tflite", x.slice_rows(0, rows), &nodes);
      EXPECT_LE(max_abs_diff(real, ours.slice_rows(0, rows)), fp16 ? 1e-5 : 1e-4) << nodes;
    }
  }

  static std::set<std::string> ops(const fs::path& model) {
    std::set<std::string> names;
    auto interpreter = tfl::Interpreter::from_file(model);
    for (const auto& node : interpreter->nodes()) names.insert(node.op_name);
    return names;
  }

  // `model` in the real TFLite runtime on its builtin kernels; `nodes` gets the op types that ran.
  nn::Tensor run_builtin(const fs::path& model, const nn::Tensor& x, std::string* nodes) {
    fs::path copy = model.parent_path() / "builtin_kernels_only.tflite";
    return run_real_tflite(testing::with_builtin_kernels_only(model, copy), x, dir_, nodes);
  }
  // The real runtime's builtin kernels on the first `rows` of `x` against `ours` (litepipe's
  // interpreter on all of `x`): within 1e-5 (float) or identical (int8), having run `op_types`.
  void expect_real_runtime_agrees(const fs::path& model, const nn::Tensor& x, const nn::Tensor& ours, int64_t rows, bool exact,
                                  std::initializer_list<const char*> op_types) {
    std::string nodes;
    nn::Tensor real = run_builtin(model, x.slice_rows(0, rows), &nodes);
    if (exact) {
      EXPECT_EQ(count_different(real, ours.slice_rows(0, rows)), 0) << nodes;
    } else {
      EXPECT_LE(max_abs_diff(real, ours.slice_rows(0, rows)), 1e-5) << nodes;
    }
    expect_ran(nodes, op_types);
  }
  static void expect_ran(const std::string& nodes, std::initializer_list<const char*> op_types) {
    for (const char* op : op_types) EXPECT_NE(nodes.find(std::string("\"") + op + "\""), std::string::npos) << op << " " << nodes;
  }
  // Examples whose top class differs between two [n, classes] outputs.
  static int64_t top1_flips(const nn::Tensor& a, const nn::Tensor& b) {
    const int64_t rows = a.dim(0), classes = a.size() / rows;
    int64_t flips = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* pa = a.data() + r * classes;
      const float* pb = b.data() + r * classes;
      flips += std::max_element(pa, pa + classes) - pa != std::max_element(pb, pb + classes) - pb;
    }
    return flips;
  }

  // `model` trained on (x, y) (Adam at `learning_rate`, sparse categorical cross-entropy, batches of
  // 32) to a final accuracy above `accuracy`, saved to dir_/model; returns the saved ONNX model's
  // answers on x fed to `input`.
  nn::Tensor train_and_save(nn::Model& model, const nn::Tensor& x, const nn::Tensor& y, int epochs, float learning_rate, double accuracy,
                            const std::string& input) {
    model.compile(nn::Adam({.learning_rate = learning_rate}), nn::SparseCategoricalCrossentropy());
    auto history = model.fit(x, y, {.epochs = epochs, .batch_size = 32, .verbose = 0});
    EXPECT_GT(history.history["sparse_categorical_accuracy"].back(), accuracy);
    model.save(dir_ / "model");
    return onnxio::OnnxRunner(dir_ / "model" / onnxio::kModelFileName).run({{input, x}}).begin()->second;
  }

  // `rows` sentences of `steps` token ids in [0, vocabulary) and their labels: 1 when "good" words
  // (ids below `good_below`) outnumber "bad" ones (ids from `bad_from`).
  static std::pair<nn::Tensor, nn::Tensor> sentiment_data(int64_t rows, int64_t steps, int vocabulary, int good_below, int bad_from, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> token(0, vocabulary - 1);
    nn::Tensor x({rows, steps}), y({rows});
    for (int64_t r = 0; r < rows; ++r) {
      int positive = 0;
      for (int64_t k = 0; k < steps; ++k) {
        const int t = token(rng);
        x[r * steps + k] = static_cast<float>(t);
        positive += t < good_below ? 1 : t >= bad_from ? -1 : 0;
      }
      y[r] = positive > 0 ? 1.0f : 0.0f;
    }
    return {x, y};
  }

  // OpenCV's DNN module, an ONNX importer of its own, on `x` ([n, features]).
  static nn::Tensor run_opencv(const fs::path& onnx_model, const nn::Tensor& x) {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(onnx_model.string());
    cv::Mat blob(static_cast<int>(x.dim(0)), static_cast<int>(x.size() / x.dim(0)), CV_32F, const_cast<float*>(x.data()));
    net.setInput(blob);
    cv::Mat out = net.forward();
    nn::Tensor result({static_cast<int64_t>(out.total())});
    std::copy_n(out.ptr<float>(0), out.total(), result.data());
    return result;
  }

  // train_and_save (Adam 0.01, accuracy above 0.85), the ONNX answers checked against the model's
  // and OpenCV's.
  nn::Tensor train_and_export(nn::Model& model, const nn::Tensor& x, const nn::Tensor& y, const std::string& input, int epochs) {
    nn::Tensor onnx = train_and_save(model, x, y, epochs, 0.01f, 0.85, input);
    nn::Tensor keras = model.predict(x);
    EXPECT_LE(max_abs_diff(onnx, keras), 1e-5);
    EXPECT_LE(max_abs_diff(run_opencv(dir_ / "model" / onnxio::kModelFileName, x), keras.reshaped({keras.size()})), 1e-4);
    return onnx;
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
  const int64_t n = 600;
  const auto [x, y] = sentiment_data(n, kSteps, kVocabulary, 10, 40, 4);
  auto in = nn::Input({kSteps}, "tokens");
  auto h = nn::Dense(16, {.activation = "relu"})(nn::GlobalAveragePooling1D()(nn::Embedding(kVocabulary, 16)(in)));
  nn::Model model({in}, nn::Dense(2, {.activation = "softmax"})(h));
  nn::Tensor onnx = train_and_save(model, x, y, 20, 0.01f, 0.85, "tokens");

  // float32: CAST (float ids -> int32), GATHER, MEAN, FULLY_CONNECTED, SOFTMAX; the ONNX answers.
  fs::path lite = rewrite(dir_ / "model", dir_ / "lite", "tokens", nullptr);
  EXPECT_EQ(ops(lite), (std::set<std::string>{"CAST", "GATHER", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}));
  nn::Tensor ours = run_interpreter(lite, "tokens", x);
  EXPECT_LE(max_abs_diff(ours, onnx), 1e-5);
  expect_real_runtime_agrees(lite, x, ours, 200, false, {"CAST", "GATHER", "MEAN"});
  expect_float16_and_dynamic_range_agree("tokens", x, onnx, 200);

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
  EXPECT_LE(top1_flips(ours8, onnx), n / 50) << "int8 top-1 agrees with float on 98% of the examples";
  expect_real_runtime_agrees(int8, x, ours8, 200, true, {"CAST", "GATHER", "MEAN", "FULLY_CONNECTED", "SOFTMAX"});

  // An id outside the table is an error of the run, not a read outside it.
  nn::Tensor bad({1, kSteps}, 75.0f);
  testing::expect_error([&] { run_interpreter(lite, "tokens", bad); }, {"GATHER", "index 75", "[0, 50)"});
}

// A text classifier with GlobalMaxPooling1D (Embedding -> max over the steps -> Dense): CAST +
// GATHER + REDUCE_MAX (keep_dims false, as TFLite's converter writes it), float32 and int8 (REDUCE_MAX
// at the GATHER's parameters), judged by the real runtime's builtin kernels.
TEST_F(MobileModelsTest, GlobalMaxPooling1DTextClassifierConvertsToFloatAndInt8AndMatchesTheRealRuntime) {
  nn::set_random_seed(15);
  constexpr int64_t kSteps = 8, kVocabulary = 40;
  std::mt19937 rng(8);
  std::uniform_int_distribution<int> token(0, kVocabulary - 1);
  const int64_t n = 400;
  // Class 1 when one of the "keywords" 0..4 occurs.
  nn::Tensor x({n, kSteps}), y({n});
  for (int64_t r = 0; r < n; ++r) {
    bool keyword = false;
    for (int64_t k = 0; k < kSteps; ++k) {
      int t = token(rng);
      if (r % 2 == 0 && k == r % kSteps) t = static_cast<int>(r % 5);
      if (r % 2 == 1 && t < 5) t += 5;
      x[r * kSteps + k] = static_cast<float>(t);
      keyword |= t < 5;
    }
    y[r] = keyword ? 1.0f : 0.0f;
  }
  auto in = nn::Input({kSteps}, "tokens");
  auto h = nn::Dense(8, {.activation = "relu"})(nn::GlobalMaxPooling1D()(nn::Embedding(kVocabulary, 8)(in)));
  nn::Model model({in}, nn::Dense(2, {.activation = "softmax"})(h));
  nn::Tensor onnx = train_and_save(model, x, y, 20, 0.02f, 0.9, "tokens");
  EXPECT_LE(max_abs_diff(onnx, model.predict(x)), 1e-6);

  fs::path lite = rewrite(dir_ / "model", dir_ / "lite", "tokens", nullptr);
  EXPECT_EQ(ops(lite), (std::set<std::string>{"CAST", "GATHER", "REDUCE_MAX", "FULLY_CONNECTED", "SOFTMAX"}));
  nn::Tensor ours = run_interpreter(lite, "tokens", x);
  EXPECT_LE(max_abs_diff(ours, onnx), 1e-5);
  expect_real_runtime_agrees(lite, x, ours, 200, false, {"CAST", "GATHER", "REDUCE_MAX"});
  expect_float16_and_dynamic_range_agree("tokens", x, onnx, 200);

  fs::path int8 = rewrite(dir_ / "model", dir_ / "lite_int8", "tokens", &x);
  auto interpreter = tfl::Interpreter::from_file(int8);
  bool reduce_max = false;
  for (const auto& node : interpreter->nodes()) {
    if (node.op_name != "REDUCE_MAX") continue;
    reduce_max = true;
    EXPECT_EQ(node.version, 2);
    EXPECT_EQ(interpreter->tensor(node.inputs[0]).scale, interpreter->tensor(node.outputs[0]).scale);
    EXPECT_EQ(interpreter->tensor(node.inputs[0]).zero_point, interpreter->tensor(node.outputs[0]).zero_point);
  }
  EXPECT_TRUE(reduce_max);
  nn::Tensor ours8 = run_interpreter(int8, "tokens", x);
  EXPECT_LE(top1_flips(ours8, onnx), n / 50);
  expect_real_runtime_agrees(int8, x, ours8, 200, true, {"CAST", "GATHER", "REDUCE_MAX", "FULLY_CONNECTED", "SOFTMAX"});
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
  nn::Tensor onnx = train_and_save(model, x, y, 8, 0.01f, 0.8, "image");

  fs::path lite = rewrite(dir_ / "model", dir_ / "lite", "image", nullptr);
  std::set<std::string> float_ops = ops(lite);
  for (const char* op : {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}) EXPECT_TRUE(float_ops.count(op)) << op;
  nn::Tensor ours = run_interpreter(lite, "image", x);
  EXPECT_LE(max_abs_diff(ours, onnx), 1e-4);
  expect_real_runtime_agrees(lite, x, ours, 100, false, {"DEPTHWISE_CONV_2D"});
  expect_float16_and_dynamic_range_agree("image", x, onnx, 100);

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
  EXPECT_LE(top1_flips(ours8, onnx), n / 25);
  expect_real_runtime_agrees(int8, x, ours8, 100, true, {"QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX", "DEQUANTIZE"});
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
  nn::Tensor onnx = train_and_save(model, x, y, 15, 0.01f, 0.9, "features");
  EXPECT_LE(max_abs_diff(onnx, model.predict(x)), 1e-5);

  fs::path lite = rewrite(dir_ / "model", dir_ / "lite", "features", nullptr);
  std::set<std::string> float_ops = ops(lite);
  for (const char* op : {"HARD_SWISH", "LOGISTIC", "MUL", "TANH", "ADD", "FULLY_CONNECTED", "SOFTMAX"}) EXPECT_TRUE(float_ops.count(op)) << op;
  nn::Tensor ours = run_interpreter(lite, "features", x);
  EXPECT_LE(max_abs_diff(ours, onnx), 1e-5);
  expect_real_runtime_agrees(lite, x, ours, 100, false, {"HARD_SWISH"});
  expect_float16_and_dynamic_range_agree("features", x, onnx, 100);

  fs::path int8 = rewrite(dir_ / "model", dir_ / "lite_int8", "features", &x);
  auto interpreter = tfl::Interpreter::from_file(int8);
  for (const auto& node : interpreter->nodes()) {
    if (node.op_name == "HARD_SWISH") {
      EXPECT_EQ(node.version, 1);
      EXPECT_EQ(interpreter->tensor(node.outputs[0]).type, tfl::DType::Int8);
    }
  }
  nn::Tensor ours8 = run_interpreter(int8, "features", x);
  EXPECT_LE(top1_flips(ours8, onnx), n / 20);
  expect_real_runtime_agrees(int8, x, ours8, 100, true, {"HARD_SWISH", "LOGISTIC", "MUL", "TANH"});
}

// A keyword-spotting-shaped DS-CNN on spectrogram-like inputs: Conv2D, an asymmetric ZeroPadding2D,
// a strided SeparableConv2D (depth multiplier 2), GlobalMaxPooling2D and a Multiply gate.
// TFLite: PAD, DEPTHWISE_CONV_2D + CONV_2D, one REDUCE_MAX with keep_dims false (as TFLite's
// converter writes GlobalMaxPooling2D), MUL; float32 and int8 (PAD and REDUCE_MAX at their
// input's parameters, PAD padding with the zero point), judged by the real runtime's builtin kernels.
TEST_F(MobileModelsTest, SeparableConvPaddingGlobalMaxAndMultiplyConvertToFloatAndInt8AndMatchTheRealRuntime) {
  nn::set_random_seed(14);
  constexpr int64_t kTime = 16, kBands = 10;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> noise(0.0f, 0.5f);
  const int64_t n = 256;
  // Class: a rising or a falling "chirp" (a bright diagonal) somewhere in the spectrogram.
  nn::Tensor x({n, kTime * kBands}), y({n});
  for (int64_t r = 0; r < n; ++r) {
    const bool rising = r % 2 == 0;
    for (int64_t i = 0; i < kTime * kBands; ++i) x[r * kTime * kBands + i] = noise(rng);
    const int64_t start = (r / 2) % (kTime - 6);
    for (int64_t k = 0; k < 6; ++k) {
      const int64_t band = rising ? 2 + k : 7 - k;
      x[r * kTime * kBands + (start + k) * kBands + band] += 1.0f;
    }
    y[r] = rising ? 1.0f : 0.0f;
  }
  auto in = nn::Input({kTime * kBands}, "spectrogram");
  auto h = nn::Conv2D(8, {3, 3}, {.activation = "relu"})(nn::Reshape({kTime, kBands, 1})(in));  // [14, 8, 8]
  h = nn::ZeroPadding2D({1, 1, 0, 2})(h);                                                         // [16, 10, 8]
  h = nn::SeparableConv2D(12, {3, 3}, {.strides = {2, 2}, .depth_multiplier = 2, .activation = "relu"})(h);
  auto pooled = nn::GlobalMaxPooling2D()(h);
  auto gated = nn::Multiply()({nn::Dense(8, {.activation = "relu"})(pooled), nn::Dense(8, {.activation = "sigmoid"})(pooled)});
  nn::Model model({in}, nn::Dense(2, {.activation = "softmax"})(gated));
  nn::Tensor onnx = train_and_save(model, x, y, 10, 0.01f, 0.85, "spectrogram");
  EXPECT_LE(max_abs_diff(onnx, model.predict(x)), 1e-5);

  // float32: one RESHAPE (the input's), the Flatten after the pooling folded into REDUCE_MAX.
  fs::path lite = rewrite(dir_ / "model", dir_ / "lite", "spectrogram", nullptr);
  EXPECT_EQ(ops(lite), (std::set<std::string>{"RESHAPE", "CONV_2D", "PAD", "DEPTHWISE_CONV_2D", "REDUCE_MAX", "FULLY_CONNECTED", "LOGISTIC", "MUL",
                                               "SOFTMAX"}));
  {
    auto interpreter = tfl::Interpreter::from_file(lite);
    int reshapes = 0;
    for (const auto& node : interpreter->nodes()) {
      reshapes += node.op_name == "RESHAPE";
      if (node.op_name == "PAD") {
        EXPECT_EQ(node.version, 1);
        const auto& paddings = interpreter->tensor(node.inputs[1]);
        ASSERT_EQ(paddings.shape, (std::vector<int32_t>{4, 2}));
        EXPECT_EQ(std::vector<int32_t>(paddings.as<int32_t>(), paddings.as<int32_t>() + 8), (std::vector<int32_t>{0, 0, 1, 1, 0, 2, 0, 0}));
      }
      if (node.op_name == "REDUCE_MAX") {
        EXPECT_EQ(node.version, 1);
        EXPECT_EQ(interpreter->tensor(node.outputs[0]).shape.size(), 2u);
      }
      if (node.op_name == "DEPTHWISE_CONV_2D") {
        EXPECT_EQ(node.inputs.size(), 3u);
        EXPECT_GE(node.inputs[2], 0) << "a bias-less depthwise convolution gets a zero bias";
      }
    }
    EXPECT_EQ(reshapes, 1);
  }
  nn::Tensor ours = run_interpreter(lite, "spectrogram", x);
  EXPECT_LE(max_abs_diff(ours, onnx), 1e-5);
  expect_real_runtime_agrees(lite, x, ours, 100, false, {"PAD", "DEPTHWISE_CONV_2D", "CONV_2D", "REDUCE_MAX", "MUL", "LOGISTIC"});
  expect_float16_and_dynamic_range_agree("spectrogram", x, onnx, 100);

  // int8: TFLite's versions (PAD 2, REDUCE_MAX 2, DEPTHWISE_CONV_2D 3) and same-scale constraints.
  fs::path int8 = rewrite(dir_ / "model", dir_ / "lite_int8", "spectrogram", &x);
  auto interpreter = tfl::Interpreter::from_file(int8);
  std::set<std::string> same_scale;
  for (const auto& node : interpreter->nodes()) {
    if (node.op_name == "PAD" || node.op_name == "REDUCE_MAX") {
      EXPECT_EQ(node.version, 2) << node.op_name;
      const auto& in8 = interpreter->tensor(node.inputs[0]);
      const auto& out8 = interpreter->tensor(node.outputs[0]);
      EXPECT_EQ(in8.type, tfl::DType::Int8);
      EXPECT_EQ(in8.scale, out8.scale) << node.op_name;
      EXPECT_EQ(in8.zero_point, out8.zero_point) << node.op_name;
      same_scale.insert(node.op_name);
    }
    if (node.op_name == "DEPTHWISE_CONV_2D") {
      EXPECT_EQ(node.version, 3);
    }
  }
  EXPECT_EQ(same_scale, (std::set<std::string>{"PAD", "REDUCE_MAX"}));
  nn::Tensor ours8 = run_interpreter(int8, "spectrogram", x);
  EXPECT_LE(top1_flips(ours8, onnx), n / 25);
  expect_real_runtime_agrees(int8, x, ours8, 100, true, {"QUANTIZE", "CONV_2D", "PAD", "DEPTHWISE_CONV_2D", "REDUCE_MAX", "FULLY_CONNECTED", "LOGISTIC", "MUL", "SOFTMAX", "DEQUANTIZE"});
}

// A 1-D CNN on multichannel sequences (sensor / audio-feature shaped): Conv1D, MaxPooling1D,
// GlobalAveragePooling1D. TFLite: RESHAPE around CONV_2D and MAX_POOL_2D on a [1, steps] image, as
// TFLite's converter writes Keras's 1-D layers; float32 and int8 judged by the real runtime's
// builtin kernels, the ONNX model by OpenCV.
TEST_F(MobileModelsTest, Conv1DAndMaxPooling1DConvertToFloatAndInt8AndMatchTheRealRuntime) {
  nn::set_random_seed(15);
  constexpr int64_t kSteps = 24, kChannels = 3;
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> noise(-0.3f, 0.3f);
  const int64_t n = 256;
  // Class: a slow or a fast oscillation on channel 0, the others noise.
  nn::Tensor x({n, kSteps * kChannels}), y({n});
  for (int64_t r = 0; r < n; ++r) {
    const bool fast = r % 2 == 1;
    for (int64_t t = 0; t < kSteps; ++t)
      for (int64_t c = 0; c < kChannels; ++c)
        x[(r * kSteps + t) * kChannels + c] = noise(rng) + (c == 0 ? std::sin(static_cast<float>(t) * (fast ? 2.0f : 0.4f) + static_cast<float>(r)) : 0.0f);
    y[r] = fast ? 1.0f : 0.0f;
  }
  auto in = nn::Input({kSteps * kChannels}, "signal");
  auto h = nn::Conv1D(8, 3, {.padding = "same", .activation = "relu"})(nn::Reshape({kSteps, kChannels})(in));
  h = nn::MaxPooling1D(2)(h);
  h = nn::Conv1D(8, 3, {.strides = 2, .activation = "relu"})(h);
  nn::Model model({in}, nn::Dense(2, {.activation = "softmax"})(nn::GlobalAveragePooling1D()(h)));
  nn::Tensor onnx = train_and_export(model, x, y, "signal", 15);

  fs::path lite = rewrite(dir_ / "model", dir_ / "lite", "signal", nullptr);
  EXPECT_EQ(ops(lite), (std::set<std::string>{"RESHAPE", "CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}));
  nn::Tensor ours = run_interpreter(lite, "signal", x);
  EXPECT_LE(max_abs_diff(ours, onnx), 1e-5);
  expect_real_runtime_agrees(lite, x, ours, 100, false, {"RESHAPE", "CONV_2D", "MAX_POOL_2D", "MEAN"});
  expect_float16_and_dynamic_range_agree("signal", x, onnx, 100);

  fs::path int8 = rewrite(dir_ / "model", dir_ / "lite_int8", "signal", &x);
  auto interpreter = tfl::Interpreter::from_file(int8);
  for (const auto& node : interpreter->nodes()) {
    if (node.op_name == "CONV_2D" || node.op_name == "MAX_POOL_2D" || node.op_name == "RESHAPE" || node.op_name == "MEAN") {
      EXPECT_EQ(interpreter->tensor(node.inputs[0]).type, tfl::DType::Int8) << node.op_name;
    }
  }
  nn::Tensor ours8 = run_interpreter(int8, "signal", x);
  EXPECT_LE(top1_flips(ours8, onnx), n / 20);
  expect_real_runtime_agrees(int8, x, ours8, 100, true, {"QUANTIZE", "RESHAPE", "CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED"});
}

// An encoder-decoder-shaped image model with UpSampling2D: ONNX Resize (nearest) becomes
// RESIZE_NEAREST_NEIGHBOR (versions 1 and 2, int8 at its input's parameters), judged by the real
// runtime's builtin kernels; OpenCV reads the ONNX Resize.
TEST_F(MobileModelsTest, UpSamplingConvertsToResizeNearestNeighborFloatAndInt8AndMatchesTheRealRuntime) {
  nn::set_random_seed(16);
  constexpr int64_t kSide = 8;
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> noise(0.0f, 0.4f);
  const int64_t n = 256;
  // Class: a bright square in the top or the bottom half.
  nn::Tensor x({n, kSide * kSide}), y({n});
  for (int64_t r = 0; r < n; ++r) {
    const bool top = r % 2 == 0;
    for (int64_t i = 0; i < kSide * kSide; ++i) x[r * kSide * kSide + i] = noise(rng);
    const int64_t row = (top ? 0 : 4) + (r / 2) % 3, col = (r / 6) % 6;
    for (int64_t dy = 0; dy < 2; ++dy)
      for (int64_t dx = 0; dx < 2; ++dx) x[r * kSide * kSide + (std::min<int64_t>(row + dy, kSide - 1)) * kSide + col + dx] += 1.0f;
    y[r] = top ? 1.0f : 0.0f;
  }
  auto in = nn::Input({kSide * kSide}, "image");
  auto h = nn::Conv2D(4, {3, 3}, {.padding = "same", .activation = "relu"})(nn::Reshape({kSide, kSide, 1})(in));
  h = nn::UpSampling2D({2, 2})(nn::MaxPooling2D({2, 2})(h));
  h = nn::Conv2D(4, {3, 3}, {.strides = {2, 2}, .activation = "relu"})(h);
  nn::Model model({in}, nn::Dense(2, {.activation = "softmax"})(nn::Flatten()(h)));
  nn::Tensor onnx = train_and_export(model, x, y, "image", 15);

  fs::path lite = rewrite(dir_ / "model", dir_ / "lite", "image", nullptr);
  EXPECT_EQ(ops(lite), (std::set<std::string>{"RESHAPE", "CONV_2D", "MAX_POOL_2D", "RESIZE_NEAREST_NEIGHBOR", "FULLY_CONNECTED", "SOFTMAX"}));
  nn::Tensor ours = run_interpreter(lite, "image", x);
  EXPECT_LE(max_abs_diff(ours, onnx), 1e-5);
  expect_real_runtime_agrees(lite, x, ours, 100, false, {"RESIZE_NEAREST_NEIGHBOR", "CONV_2D", "MAX_POOL_2D"});
  expect_float16_and_dynamic_range_agree("image", x, onnx, 100);

  fs::path int8 = rewrite(dir_ / "model", dir_ / "lite_int8", "image", &x);
  auto interpreter = tfl::Interpreter::from_file(int8);
  bool resized = false;
  for (const auto& node : interpreter->nodes()) {
    if (node.op_name != "RESIZE_NEAREST_NEIGHBOR") continue;
    resized = true;
    EXPECT_EQ(node.version, 2);
    const auto& in8 = interpreter->tensor(node.inputs[0]);
    const auto& out8 = interpreter->tensor(node.outputs[0]);
    EXPECT_EQ(in8.type, tfl::DType::Int8);
    EXPECT_EQ(in8.scale, out8.scale);
    EXPECT_EQ(in8.zero_point, out8.zero_point);
  }
  EXPECT_TRUE(resized);
  nn::Tensor ours8 = run_interpreter(int8, "image", x);
  EXPECT_LE(top1_flips(ours8, onnx), n / 20);
  expect_real_runtime_agrees(int8, x, ours8, 100, true, {"RESIZE_NEAREST_NEIGHBOR", "CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED"});
}

// Keras's LayerNormalization in a small transformer-style text classifier: token vectors
// normalized per step ([steps, features], a 3-D MEAN in TFLite), averaged, a Dense, normalized
// again ([features]), a softmax head. TFLite: MEAN, SUB, MUL (d * d), MEAN, ADD (epsilon), RSQRT,
// MUL, MUL (gamma), ADD (beta) — TensorFlow's moments and rsqrt with the square as MUL (the
// judged runtime has no int8 SQUARED_DIFFERENCE); float32 and int8 (RSQRT version 2), judged by the
// real runtime's builtin kernels, and RSQRT's checks of hostile files.
TEST_F(MobileModelsTest, LayerNormalizationConvertsToFloatAndInt8AndMatchesTheRealRuntime) {
  nn::set_random_seed(16);
  constexpr int64_t kSteps = 8, kVocabulary = 40;
  const int64_t n = 400;
  // Named tensors, not a structured binding: the lambdas below capture x (clang 14 cannot).
  const std::pair<nn::Tensor, nn::Tensor> data = sentiment_data(n, kSteps, kVocabulary, 8, 32, 9);
  const nn::Tensor& x = data.first;
  const nn::Tensor& y = data.second;
  auto in = nn::Input({kSteps}, "tokens");
  auto h = nn::LayerNormalization()(nn::Embedding(kVocabulary, 8)(in));
  h = nn::LayerNormalization()(nn::Dense(16)(nn::GlobalAveragePooling1D()(h)));
  nn::Model model({in}, nn::Dense(2, {.activation = "softmax"})(h));
  nn::Tensor onnx = train_and_save(model, x, y, 15, 0.01f, 0.85, "tokens");
  EXPECT_LE(max_abs_diff(onnx, model.predict(x)), 1e-5);

  fs::path lite = rewrite(dir_ / "model", dir_ / "lite", "tokens", nullptr);
  EXPECT_EQ(ops(lite), (std::set<std::string>{"CAST", "GATHER", "MEAN", "SUB", "MUL", "ADD", "RSQRT", "FULLY_CONNECTED", "SOFTMAX"}));
  nn::Tensor ours = run_interpreter(lite, "tokens", x);
  EXPECT_LE(max_abs_diff(ours, onnx), 1e-5);
  expect_real_runtime_agrees(lite, x, ours, 200, false, {"MEAN", "SUB", "MUL", "ADD", "RSQRT"});
  expect_float16_and_dynamic_range_agree("tokens", x, onnx, 200);

  // int8: RSQRT version 2 reads a non-negative range (zero point -128, so no input is "negative").
  fs::path int8 = rewrite(dir_ / "model", dir_ / "lite_int8", "tokens", &x);
  auto interpreter = tfl::Interpreter::from_file(int8);
  int rsqrts = 0;
  for (const auto& node : interpreter->nodes()) {
    if (node.op_name == "RSQRT") {
      ++rsqrts;
      EXPECT_EQ(node.version, 2);
      EXPECT_EQ(interpreter->tensor(node.inputs[0]).type, tfl::DType::Int8);
      EXPECT_EQ(interpreter->tensor(node.inputs[0]).zero_point, std::vector<int64_t>{-128});
    }
    if (node.op_name == "MEAN" || node.op_name == "SUB" || node.op_name == "ADD") {
      EXPECT_EQ(node.version, 2) << node.op_name;
    }
  }
  EXPECT_EQ(rsqrts, 2);
  nn::Tensor ours8 = run_interpreter(int8, "tokens", x);
  EXPECT_LE(top1_flips(ours8, onnx), n / 25) << "int8 top-1 agrees with float on 96% of the examples";
  expect_real_runtime_agrees(int8, x, ours8, 200, true, {"CAST", "GATHER", "MEAN", "SUB", "MUL", "ADD", "RSQRT", "FULLY_CONNECTED", "SOFTMAX", "DEQUANTIZE"});

  // Hostile files: RSQRT's Init / Prepare reject what its kernel cannot run, naming the operator.
  const std::string bytes = read_file(int8);
  auto edited = [&](const std::function<void(::tflite::ModelT&, ::tflite::OperatorT&)>& edit) {
    auto m = ::tflite::UnPackModel(bytes.data());
    for (auto& op : m->subgraphs[0]->operators) {
      if (m->operator_codes[op->opcode_index]->builtin_code != ::tflite::BuiltinOperator_RSQRT) continue;
      edit(*m, *op);
      break;
    }
    flatbuffers::FlatBufferBuilder fbb;
    fbb.Finish(::tflite::Model::Pack(fbb, m.get()), ::tflite::ModelIdentifier());
    return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
  };
  auto run_bytes = [&](const std::string& model_bytes) {
    tfl::Interpreter hostile(model_bytes, "hostile.tflite");
    tfl::SignatureRunner runner(hostile, "serving_default");
    return runner.run({{"tokens", x.slice_rows(0, 4)}}).begin()->second;
  };
  auto tensor_of = [](::tflite::ModelT& m, int32_t index) -> ::tflite::TensorT& { return *m.subgraphs[0]->tensors.at(static_cast<size_t>(index)); };
  // Types: an int8 input with a float32 or int32 output, an int32 input (MEAN's constant axes).
  testing::expect_error([&] { run_bytes(edited([&](auto& m, auto& op) { tensor_of(m, op.outputs[0]).type = ::tflite::TensorType_FLOAT32; tensor_of(m, op.outputs[0]).quantization.reset(); })); },
                        {"(RSQRT)", "float32"});
  testing::expect_error([&] { run_bytes(edited([&](auto& m, auto& op) { tensor_of(m, op.outputs[0]).type = ::tflite::TensorType_INT32; })); },
                        {"(RSQRT)", "int32"});
  testing::expect_error([&] {
    run_bytes(edited([&](auto& m, auto& op) {
      for (auto& other : m.subgraphs[0]->operators)
        if (m.operator_codes[other->opcode_index]->builtin_code == ::tflite::BuiltinOperator_MEAN) op.inputs[0] = other->inputs[1];
    }));
  }, {"(RSQRT)", "int32", "expected float32 or int8"});
  // Operand counts.
  testing::expect_error([&] { run_bytes(edited([&](auto&, auto& op) { op.inputs.push_back(op.inputs[0]); })); }, {"(RSQRT)", "input"});
  testing::expect_error([&] { run_bytes(edited([&](auto&, auto& op) { op.inputs.clear(); })); }, {"(RSQRT)", "input"});
  // Scales whose multiplier TFLite's fixed point cannot hold.
  testing::expect_error([&] { run_bytes(edited([&](auto& m, auto& op) { tensor_of(m, op.outputs[0]).quantization->scale = {1e-30f}; })); },
                        {"(RSQRT)", "multiplier", "too large"});
  testing::expect_error([&] { run_bytes(edited([&](auto& m, auto& op) { tensor_of(m, op.outputs[0]).quantization->scale = {1e8f}; })); },
                        {"(RSQRT)", "below 2^-31"});
  // Negative inputs (RSQRT fed the centered values instead of the variance) are an error of the
  // run, as in TFLite.
  testing::expect_error([&] {
    run_bytes(edited([&](auto& m, auto& op) {
      for (auto& other : m.subgraphs[0]->operators) {
        if (m.operator_codes[other->opcode_index]->builtin_code != ::tflite::BuiltinOperator_SUB) continue;
        op.inputs[0] = other->outputs[0];  // the first normalization's, as the first RSQRT
        break;
      }
    }));
  }, {"RSQRT", "below its zero point", "only defined for positive values"});
}


}  // namespace
}  // namespace litepipe
