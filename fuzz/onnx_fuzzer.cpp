// ONNX load + run: litepipe's ONNX runner on an arbitrary model file.
//
// As the Evaluator and `litepipe predict` use it: the bytes are parsed as an onnx::ModelProto
// (onnxio::load_model's parse, without the file), OnnxRunner is built from it (initializers, op
// support, the litepipe.signature_def metadata), the class names are read from its metadata, and
// every graph input is fed a tensor of its declared shape (dynamic dimensions -> 1) for run().
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "core/error.h"
#include "fuzz_util.h"
#include "nn/tensor.h"
#include "onnx/onnx_model.h"
#include "tflite/metadata.h"

using namespace litepipe;

namespace {

constexpr int64_t kMaxInputElements = 1 << 20;

float value_at(int64_t i) { return static_cast<float>(static_cast<int>((i * 2654435761u) % 511u)) * 0.5f - 127.0f; }

// The declared shape of graph input `name` (dynamic or unknown dimensions -> 1); false when it is
// too large to feed.
bool input_shape(const onnx::GraphProto& graph, const std::string& name, nn::Shape& shape) {
  shape = {1};
  for (const auto& input : graph.input()) {
    if (input.name() != name || !input.type().has_tensor_type() || !input.type().tensor_type().has_shape()) continue;
    shape.clear();
    int64_t elements = 1;
    for (const auto& dim : input.type().tensor_type().shape().dim()) {
      int64_t d = dim.has_dim_value() && dim.dim_value() > 0 ? dim.dim_value() : 1;
      if (d > kMaxInputElements / elements) return false;
      elements *= d;
      shape.push_back(d);
    }
    break;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size))) return 0;  // load_model: "not an ONNX model"
  try {
    (void)tfl::onnx_class_names(model, "fuzz.onnx");
  } catch (const Error&) {
  }
  try {
    onnxio::OnnxRunner runner(model, "fuzz.onnx");
    (void)runner.signature_def();
    (void)runner.output_names();
    std::map<std::string, nn::Tensor> feeds;
    for (const auto& name : runner.input_names()) {
      nn::Shape shape;
      if (!input_shape(runner.model().graph(), name, shape)) return 0;
      nn::Tensor x(shape);
      for (int64_t k = 0; k < x.size(); ++k) x[k] = value_at(k);
      feeds[name] = std::move(x);
    }
    auto outputs = runner.run(feeds);
    double sum = 0;
    for (const auto& [name, t] : outputs)
      for (int64_t k = 0; k < t.size(); ++k) sum += t[k];
    (void)sum;
  } catch (const Error&) {
  }
  return 0;
}
