#pragma once
// Keras's 1-D layers (Conv1D, MaxPooling1D) as their 2-D counterparts on a [1, steps, channels]
// image, as TensorFlow computes them (ExpandDims, the 2-D op, Squeeze): the 2-D layer's oneDNN
// kernels train them, and the ONNX export is a Reshape around the 2-D op, which the TFLite
// converter turns into RESHAPE, CONV_2D / MAX_POOL_2D, RESHAPE — what TFLite's converter writes.
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "nn/layer.h"

namespace litepipe::nn {

template <class Layer2D>
class Sequence1D final : public Layer2D {
 public:
  template <class... Args>
  explicit Sequence1D(std::string type, Args&&... args) : Layer2D(std::forward<Args>(args)...), type_(std::move(type)) {}

  std::string type() const override { return type_; }
  nlohmann::json config() const override {
    // The 2-D layer's window settings, minus the height of 1 it adds.
    nlohmann::json c = Layer2D::config();
    for (const char* key : {"kernel_size", "pool_size", "strides"})
      if (c.contains(key) && c[key].is_array() && c[key].size() == 2) c[key] = nlohmann::json::array({c[key][1]});
    return c;
  }

  Shape build(const std::vector<Shape>& inputs, Rng& rng) override {
    if (inputs.size() != 1 || inputs[0].size() != 2) {
      fail("layer {}: {} expects one input of shape [steps, channels], got {}", this->name(), type_,
           inputs.empty() ? "none" : shape_string(inputs[0]));
    }
    in_ = inputs[0];
    Shape out = Layer2D::build({{1, in_[0], in_[1]}}, rng);
    out_ = {out[1], out[2]};
    // Keras's kernel shapes: [kernel_size, in, filters] instead of [1, kernel_size, in, filters].
    for (Parameter& p : this->parameters()) {
      if (p.value.rank() == 4 && p.value.dim(0) == 1) {
        Shape keras(p.value.shape().begin() + 1, p.value.shape().end());
        p.value = p.value.reshaped(keras);
        p.grad = p.grad.reshaped(keras);
      }
    }
    return out_;
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const int64_t n = inputs[0].dim(0);
    return Layer2D::forward({inputs[0].reshaped({n, 1, in_[0], in_[1]})}, training).reshaped({n, out_[0], out_[1]});
  }

  std::vector<Tensor> backward(const Tensor& dy) override {
    const int64_t n = dy.dim(0);
    std::vector<Tensor> dx = Layer2D::backward(dy.reshaped({n, 1, out_[0], out_[1]}));
    if (!dx[0].empty()) dx[0] = dx[0].reshaped({n, in_[0], in_[1]});
    return dx;
  }

  void to_onnx(onnxio::GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    std::string image = g.unique(this->name() + "_image");
    g.add_node("Reshape", {in[0], g.add_int64_initializer(this->name() + "_image_shape", {-1, 1, in_[0], in_[1]})}, {image});
    g.set_layout(image, onnxio::Layout::NHWC);
    std::string result = g.unique(this->name() + "_image_out");
    Layer2D::to_onnx(g, {image}, result);
    g.add_node("Reshape", {g.in_layout(result, onnxio::Layout::NHWC), g.add_int64_initializer(this->name() + "_shape", {-1, out_[0], out_[1]})}, {out});
    g.set_layout(out, onnxio::Layout::Any);
  }

 private:
  std::string type_;
  Shape in_, out_;
};

}  // namespace litepipe::nn
