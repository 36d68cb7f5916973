// Dense: y = activation(x @ kernel + bias), kernel [in, units] as Keras stores it. Inner product
// forward / backward-data / backward-weights primitives from oneDNN, cached per batch size.
#include "core/error.h"
#include "nn/activation.h"
#include "nn/dnnl_util.h"
#include "nn/weighted_primitives.h"
#include "nn/init.h"

namespace litepipe::nn {
namespace {

using namespace dnnl;

class DenseLayer final : public Layer {
 public:
  DenseLayer(int64_t units, const DenseOptions& o)
      : Layer(o.name.empty() ? default_layer_name("dense") : o.name), units_(units), use_bias_(o.use_bias),
        activation_(parse_activation(o.activation)),
        fused_(activation_.activation() == Activation::Relu || activation_.activation() == Activation::Relu6) {
    if (units <= 0) fail("layer {}: Dense units must be positive, got {}", name(), units);
  }
  std::string type() const override { return "Dense"; }
  nlohmann::json config() const override {
    return {{"units", units_}, {"activation", activation_name(activation_.activation())}, {"use_bias", use_bias_}};
  }

  Shape build(const std::vector<Shape>& inputs, Rng& rng) override {
    if (inputs.size() != 1 || inputs[0].size() != 1) {
      fail("layer {}: Dense expects one input of shape [features] per example, got {} (add Flatten first)", name(),
           inputs.empty() ? "none" : shape_string(inputs[0]));
    }
    in_ = inputs[0][0];
    glorot_uniform(add_param("kernel", {in_, units_}).value, in_, units_, rng);
    if (use_bias_) add_param("bias", {units_});
    return {units_};
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& x = inputs[0];
    int64_t n = x.dim(0);
    auto& k = kernels(n);
    Tensor z = Tensor::uninitialized({n, units_});
    run_weighted_forward(k.fwd, k.descs, x, param("kernel"), use_bias_ ? &param("bias") : nullptr, z);
    if (training) x_ = x;
    if (!fused_) return activation_.forward(z, training);
    y_ = training ? z : Tensor();
    return z;
  }

  bool ends_with_softmax() const override { return activation_.activation() == Activation::Softmax; }
  void set_backward_from_logits(bool on) override { activation_.set_backward_from_logits(on); }

  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dz = fused_ ? relu_backward_from_output(dy, y_, activation_.activation()) : activation_.backward(dy);
    int64_t n = dz.dim(0);
    auto& k = kernels(n);
    Tensor dx = input_gradient_needed() ? Tensor::uninitialized({n, in_}) : Tensor();
    run_weighted_backward(k.bwd_data, k.bwd_weights, k.descs, x_, dz, param("kernel"), use_bias_ ? &param("bias") : nullptr, dx);
    return {dx};
  }

  void to_onnx(onnxio::GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    // Gemm with B = kernel^T [units, in] and transB = 1: the layout most consumers expect (and
    // TFLite's FULLY_CONNECTED weights).
    const Tensor& kernel = param("kernel").value;
    Tensor transposed({units_, in_});
    for (int64_t i = 0; i < in_; ++i)
      for (int64_t o = 0; o < units_; ++o) transposed[o * in_ + i] = kernel[i * units_ + o];
    std::vector<std::string> inputs = {in[0], g.add_initializer(name() + "_kernel", transposed)};
    if (use_bias_) inputs.push_back(g.add_initializer(name() + "_bias", param("bias").value));
    bool fused = activation_.activation() == Activation::Linear;
    std::string z = fused ? out : g.unique(name() + "_linear");
    auto& gemm = g.add_node("Gemm", inputs, {z});
    onnxio::GraphBuilder::set_attr(gemm, "transB", int64_t{1});
    if (!fused) activation_.to_onnx(g, z, out);
  }

 private:
  struct Kernels {
    WeightedDescs descs;
    inner_product_forward fwd;
    inner_product_backward_data bwd_data;
    inner_product_backward_weights bwd_weights;
  };
  Kernels& kernels(int64_t n) {
    auto it = cache_.find(n);
    if (it != cache_.end()) return it->second;
    memory::desc src({n, in_}, dt::f32, tag::ab), weights({units_, in_}, dt::f32, tag::ba), bias({units_}, dt::f32, tag::a),
        dst({n, units_}, dt::f32, tag::ab);
    auto fwd_desc = use_bias_ ? inner_product_forward::desc(prop_kind::forward_training, src, weights, bias, dst)
                              : inner_product_forward::desc(prop_kind::forward_training, src, weights, dst);
    inner_product_forward::primitive_desc fwd_pd(fwd_desc, relu_post_op(fused_ ? activation_.activation() : Activation::Linear), cpu_engine());
    inner_product_backward_data::primitive_desc bd_pd(inner_product_backward_data::desc(src, weights, dst), cpu_engine(), fwd_pd);
    auto bw_desc = use_bias_ ? inner_product_backward_weights::desc(src, weights, bias, dst)
                             : inner_product_backward_weights::desc(src, weights, dst);
    inner_product_backward_weights::primitive_desc bw_pd(bw_desc, cpu_engine(), fwd_pd);
    return cache_.emplace(n, Kernels{{src, weights, bias, dst}, inner_product_forward(fwd_pd),
                                     inner_product_backward_data(bd_pd), inner_product_backward_weights(bw_pd)})
        .first->second;
  }

  int64_t units_, in_ = 0;
  bool use_bias_;
  ActivationKernel activation_;
  bool fused_;  // Relu or Relu6 computed by the inner product's forward primitive; its output y_ kept for backward
  Tensor x_, y_;
  std::map<int64_t, Kernels> cache_;
};

}  // namespace

LayerRef Dense(int64_t units, const DenseOptions& options) { return LayerRef(std::make_shared<DenseLayer>(units, options)); }

}  // namespace litepipe::nn
