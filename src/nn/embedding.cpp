// Embedding (Keras: a lookup table [input_dim, output_dim], ids in, vectors out),
// GlobalAveragePooling1D and GlobalMaxPooling1D (mean / maximum over the steps of a
// [steps, features] sequence): the layers of a small text classifier. Ids arrive as floats
// holding whole numbers, as every litepipe input.
#include <cmath>
#include <random>

#include "core/error.h"
#include "nn/layers.h"

namespace litepipe::nn {
namespace {

using onnxio::GraphBuilder;

class EmbeddingLayer final : public Layer {
 public:
  EmbeddingLayer(int64_t input_dim, int64_t output_dim, std::string name)
      : Layer(std::move(name)), input_dim_(input_dim), output_dim_(output_dim) {
    if (input_dim < 1 || output_dim < 1) fail("layer {}: Embedding needs input_dim and output_dim >= 1, got {} and {}", this->name(), input_dim, output_dim);
  }
  std::string type() const override { return "Embedding"; }
  nlohmann::json config() const override { return {{"input_dim", input_dim_}, {"output_dim", output_dim_}}; }
  Shape build(const std::vector<Shape>& inputs, Rng& rng) override {
    if (inputs.size() != 1 || inputs[0].size() != 1) fail("layer {}: Embedding takes one input of shape [steps] (ids)", name());
    steps_ = inputs[0][0];
    // Keras's default embeddings_initializer: uniform in [-0.05, 0.05].
    Tensor& table = add_param("embeddings", {input_dim_, output_dim_}).value;
    std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
    for (int64_t i = 0; i < table.size(); ++i) table[i] = dist(rng);
    return {steps_, output_dim_};
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& ids = inputs[0];
    const Tensor& table = param("embeddings").value;
    Tensor y({ids.dim(0), steps_, output_dim_});
    for (int64_t i = 0; i < ids.size(); ++i) {
      int64_t id = index(ids[i]);
      std::copy_n(table.data() + id * output_dim_, output_dim_, y.data() + i * output_dim_);
    }
    if (training) ids_ = ids;
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor& grad = param("embeddings").grad;
    grad.fill(0.0f);
    for (int64_t i = 0; i < ids_.size(); ++i) {
      float* row = grad.data() + index(ids_[i]) * output_dim_;
      const float* d = dy.data() + i * output_dim_;
      for (int64_t k = 0; k < output_dim_; ++k) row[k] += d[k];
    }
    return {Tensor(ids_.shape())};  // ids carry no gradient
  }
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    std::string ids = g.unique(name() + "_ids");
    auto& cast = g.add_node("Cast", {in[0]}, {ids});
    GraphBuilder::set_attr(cast, "to", int64_t{onnx::TensorProto::INT64});
    auto& gather = g.add_node("Gather", {g.add_initializer(name() + "_embeddings", param("embeddings").value), ids}, {out});
    GraphBuilder::set_attr(gather, "axis", int64_t{0});
  }

 private:
  int64_t index(float v) const {
    if (!(v >= 0 && v < static_cast<float>(input_dim_)) || v != std::floor(v)) {
      fail("layer {}: id {} is not a whole number in [0, {}) (input_dim)", name(), v, input_dim_);
    }
    return static_cast<int64_t>(v);
  }
  int64_t input_dim_, output_dim_, steps_ = 0;
  Tensor ids_;
};

class GlobalAveragePooling1DLayer final : public Layer {
 public:
  explicit GlobalAveragePooling1DLayer(std::string name) : Layer(std::move(name)) {}
  std::string type() const override { return "GlobalAveragePooling1D"; }
  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1 || inputs[0].size() != 2) fail("layer {}: GlobalAveragePooling1D takes one input of shape [steps, features]", name());
    steps_ = inputs[0][0];
    features_ = inputs[0][1];
    return {features_};
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    const Tensor& x = inputs[0];
    Tensor y({x.dim(0), features_});
    for (int64_t b = 0; b < x.dim(0); ++b)
      for (int64_t s = 0; s < steps_; ++s)
        for (int64_t f = 0; f < features_; ++f) y[b * features_ + f] += x[(b * steps_ + s) * features_ + f] / static_cast<float>(steps_);
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx({dy.dim(0), steps_, features_});
    for (int64_t b = 0; b < dy.dim(0); ++b)
      for (int64_t s = 0; s < steps_; ++s)
        for (int64_t f = 0; f < features_; ++f) dx[(b * steps_ + s) * features_ + f] = dy[b * features_ + f] / static_cast<float>(steps_);
    return {dx};
  }
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    auto& node = g.add_node("ReduceMean", {in[0]}, {out});
    GraphBuilder::set_attr(node, "axes", std::vector<int64_t>{1});
    GraphBuilder::set_attr(node, "keepdims", int64_t{0});
  }

 private:
  int64_t steps_ = 0, features_ = 0;
};

// Keras's GlobalMaxPooling1D: [steps, features] -> [features], the maximum over the steps; the
// gradient goes to the step that held it (the first, on a tie, as TensorFlow's).
class GlobalMaxPooling1DLayer final : public Layer {
 public:
  explicit GlobalMaxPooling1DLayer(std::string name) : Layer(std::move(name)) {}
  std::string type() const override { return "GlobalMaxPooling1D"; }
  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1 || inputs[0].size() != 2) fail("layer {}: GlobalMaxPooling1D takes one input of shape [steps, features]", name());
    steps_ = inputs[0][0];
    features_ = inputs[0][1];
    return {features_};
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& x = inputs[0];
    const int64_t n = x.dim(0);
    Tensor y({n, features_});
    std::vector<int64_t> argmax(static_cast<size_t>(n * features_), 0);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t f = 0; f < features_; ++f) {
        const int64_t o = b * features_ + f;
        y[o] = x[b * steps_ * features_ + f];
        for (int64_t s = 1; s < steps_; ++s) {
          const float v = x[(b * steps_ + s) * features_ + f];
          if (v > y[o]) {
            y[o] = v;
            argmax[static_cast<size_t>(o)] = s;
          }
        }
      }
    if (training) argmax_ = std::move(argmax);
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    const int64_t n = dy.dim(0);
    Tensor dx({n, steps_, features_});
    for (int64_t b = 0; b < n; ++b)
      for (int64_t f = 0; f < features_; ++f) {
        const int64_t o = b * features_ + f;
        dx[(b * steps_ + argmax_[static_cast<size_t>(o)]) * features_ + f] = dy[o];
      }
    return {dx};
  }
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    auto& node = g.add_node("ReduceMax", {in[0]}, {out});
    GraphBuilder::set_attr(node, "axes", std::vector<int64_t>{1});
    GraphBuilder::set_attr(node, "keepdims", int64_t{0});
  }

 private:
  int64_t steps_ = 0, features_ = 0;
  std::vector<int64_t> argmax_;  // per output value, the step it came from (last training forward)
};

}  // namespace

LayerRef Embedding(int64_t input_dim, int64_t output_dim, std::string name) {
  return LayerRef(std::make_shared<EmbeddingLayer>(input_dim, output_dim, name.empty() ? default_layer_name("embedding") : name));
}
LayerRef GlobalAveragePooling1D(std::string name) {
  return LayerRef(std::make_shared<GlobalAveragePooling1DLayer>(name.empty() ? default_layer_name("global_average_pooling1d") : name));
}
LayerRef GlobalMaxPooling1D(std::string name) {
  return LayerRef(std::make_shared<GlobalMaxPooling1DLayer>(name.empty() ? default_layer_name("global_max_pooling1d") : name));
}

}  // namespace litepipe::nn
