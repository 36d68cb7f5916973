#pragma once
// Builds an ONNX GraphProto: unique names, initializers, nodes with attributes, and the layout of
// 4-D activations. litepipe computes in NHWC (Keras's channels_last); ONNX's Conv and pooling are
// NCHW. The builder remembers each tensor's layout and inserts a Transpose only where an op needs
// the other one, so a conv/pool stack stays NCHW without back-and-forth transposes.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "nn/tensor.h"

namespace litepipe::onnxio {

enum class Layout { Any, NHWC, NCHW };

class GraphBuilder;

// One input of a serving signature: the raw feature it takes (float32 [batch, n], NaN where a
// value is missing) and the nodes that turn it into the model's input (empty: none).
struct ServingInput {
  std::string raw_feature;
  std::function<std::string(GraphBuilder&, const std::string& raw_tensor)> preprocessing = {};
};

class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* graph) : graph_(graph) {}

  std::string unique(const std::string& base);
  std::string add_initializer(const std::string& base, const float* data, const std::vector<int64_t>& dims);
  std::string add_initializer(const std::string& base, const nn::Tensor& t) {
    return add_initializer(base, t.data(), t.shape());
  }
  std::string add_int64_initializer(const std::string& base, const std::vector<int64_t>& values);
  onnx::NodeProto& add_node(const std::string& op, const std::vector<std::string>& inputs,
                            const std::vector<std::string>& outputs);

  static void set_attr(onnx::NodeProto& node, const std::string& name, int64_t v);
  static void set_attr(onnx::NodeProto& node, const std::string& name, float v);
  static void set_attr(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& v);

  // `tensor` in the wanted layout (a Transpose is added once and remembered).
  std::string in_layout(const std::string& tensor, Layout want);
  void set_layout(const std::string& tensor, Layout layout) { layouts_[tensor] = layout; }
  Layout layout(const std::string& tensor) const;

  onnx::GraphProto* graph() { return graph_; }

 private:
  onnx::GraphProto* graph_;
  std::set<std::string> names_;
  std::map<std::string, Layout> layouts_;
  std::map<std::pair<std::string, Layout>, std::string> converted_;
};

}  // namespace litepipe::onnxio
