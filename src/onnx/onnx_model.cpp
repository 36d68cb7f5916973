#include "onnx/onnx_model.h"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <new>
#include <stdexcept>

#include "core/error.h"
#include "core/files.h"
#include "core/thread_count.h"
#include "onnx/runtime/graph.h"

namespace litepipe::onnxio {

using nn::Tensor;

void check_model(const onnx::ModelProto& model, const std::string& what) {
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto copy = model;
    onnx::ShapeInferenceOptions options{true, 1, false};
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    fail("{}: ONNX checker rejected the model: {}", what, e.what());
  }
}

onnx::ModelProto load_model(const std::filesystem::path& path) {
  std::string bytes = read_file(path);
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) fail("{}: not an ONNX model (protobuf parse failed)", path.string());
  return model;
}

// The runner is the graph of runtime/ (kernels resolved and prepared at load) and the signature.
struct OnnxRunner::Impl {
  Impl(const onnx::ModelProto& model, const std::string& origin) : graph(model, origin) {}
  runtime::Graph graph;
};

OnnxRunner::OnnxRunner(const std::filesystem::path& path) : OnnxRunner(load_model(path), path.string()) {}

OnnxRunner::OnnxRunner(onnx::ModelProto model, std::string origin) : model_(std::move(model)), origin_(std::move(origin)) {
  impl_ = std::make_unique<Impl>(model_, origin_);
  for (const auto& p : model_.metadata_props()) {
    if (p.key() != kSignatureMetadataKey) continue;
    try {
      signature_def_ = nlohmann::json::parse(p.value());
    } catch (const nlohmann::json::exception& e) {
      fail("{}: metadata '{}' is not JSON: {}", origin_, kSignatureMetadataKey, e.what());
    }
    if (!signature_def_.is_object()) fail("{}: metadata '{}' must be a JSON object of signatures", origin_, kSignatureMetadataKey);
  }
  if (signature_def_.is_null()) {
    nlohmann::json sig = {{"inputs", nlohmann::json::object()}, {"outputs", nlohmann::json::object()}};
    for (const auto& i : impl_->graph.input_names()) sig["inputs"][i] = {{"name", i}, {"dtype", "float32"}};
    for (const auto& o : impl_->graph.output_names()) sig["outputs"][o] = {{"name", o}, {"dtype", "float32"}};
    signature_def_ = {{"serving_default", sig}};
  }
}

OnnxRunner::~OnnxRunner() = default;

std::vector<std::string> OnnxRunner::input_names() const { return impl_->graph.input_names(); }
std::vector<std::string> OnnxRunner::output_names() const { return impl_->graph.output_names(); }

void OnnxRunner::set_num_threads(int threads) {
  if (threads < 1 && threads != -1) fail("{}: num_threads must be at least 1 (or -1: the caller's setting), got {}", origin_, threads);
  num_threads_ = threads;
}

std::map<std::string, Tensor> OnnxRunner::run(const std::map<std::string, Tensor>& feeds) const {
  ScopedThreadCount threads(num_threads_);
  // Shapes come from the file: one too large for memory, or one oneDNN refuses, is an Error.
  try {
    return impl_->graph.run(feeds);
  } catch (const std::bad_alloc&) {
    fail("{}: a tensor of this model does not fit in memory", origin_);
  } catch (const std::length_error&) {
    fail("{}: a tensor of this model does not fit in memory", origin_);
  } catch (const dnnl::error& e) {
    fail("{}: oneDNN rejected a convolution or pooling of this model: {}", origin_, e.what());
  }
}

}  // namespace litepipe::onnxio
