#pragma once
// Loading, checking and running ONNX models. litepipe's serving model is a standard ONNX file;
// the runner here executes it on the CPU (what the Evaluator uses for the full-precision model).
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include "nn/tensor.h"

namespace litepipe::onnxio {

inline constexpr int kOpsetVersion = 13;
inline constexpr const char* kSignatureMetadataKey = "litepipe.signature_def";
inline constexpr const char* kModelFileName = "model.onnx";

// ONNX's checker and strict shape inference (as onnx.checker.check_model(full_check=True)).
// Throws an Error naming `what` and the checker's message.
void check_model(const onnx::ModelProto& model, const std::string& what);

onnx::ModelProto load_model(const std::filesystem::path& path);

// Runs an ONNX graph made of the ops litepipe exports (and common others): Gemm, MatMul, Add,
// Sub, Mul, Div, Relu, Clip, Sigmoid, Tanh, Sqrt, Softmax, Reshape, Flatten, Transpose, Conv,
// MaxPool, AveragePool (2-D, and 1-D on [N, C, L]), GlobalAveragePool, GlobalMaxPool,
// BatchNormalization, Identity, Dropout, Concat, IsNaN, Where, Cast, Gather, ReduceMean,
// ReduceMax, HardSigmoid, Pad (constant), Resize (nearest, 4-D). Values are float tensors (a bool
// tensor is held as 1 / 0). The kernels live in runtime/ (one file per op or family, resolved and
// prepared when the model is loaded); unsupported ops and bad attributes are reported then,
// naming the node. run() is thread-safe: concurrent calls share no mutable state but the caches.
class OnnxRunner {
 public:
  explicit OnnxRunner(const std::filesystem::path& path);
  explicit OnnxRunner(onnx::ModelProto model, std::string origin = "model");
  ~OnnxRunner();

  // Feeds by graph input name; returns every graph output by name.
  std::map<std::string, nn::Tensor> run(const std::map<std::string, nn::Tensor>& inputs) const;
  // Threads each run() may use (its kernels' OpenMP teams); -1, the default: the caller's setting
  // (every core, as ONNX Runtime's intra-op default). Small GEMMs always run on one thread.
  void set_num_threads(int threads);
  int num_threads() const { return num_threads_; }
  // The signature recorded by litepipe (serving_default), or one derived from the graph.
  const nlohmann::json& signature_def() const { return signature_def_; }
  std::vector<std::string> input_names() const;
  std::vector<std::string> output_names() const;
  const onnx::ModelProto& model() const { return model_; }

 private:
  struct Impl;
  onnx::ModelProto model_;
  std::string origin_;
  nlohmann::json signature_def_;
  int num_threads_ = -1;
  std::unique_ptr<Impl> impl_;
};

}  // namespace litepipe::onnxio
