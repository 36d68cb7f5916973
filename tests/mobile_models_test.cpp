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

}  // namespace
}  // namespace litepipe
