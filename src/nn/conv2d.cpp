// Conv2D on NHWC activations with a Keras HWIO kernel [kh, kw, in, out] (and DepthwiseConv2D, a
// grouped convolution with one group per input channel): oneDNN convolution forward /
// backward-data / backward-weights, cached per batch size.
#include "nn/activation.h"
#include "nn/conv_util.h"
#include "nn/dnnl_util.h"
#include "nn/weighted_primitives.h"
#include "nn/init.h"

namespace litepipe::nn {
namespace {

using namespace dnnl;

class Conv2DLayer final : public Layer {
 public:
  // depth_multiplier > 0: Keras's DepthwiseConv2D (each input channel convolved on its own into
  // depth_multiplier outputs; kernel [kh, kw, in, depth_multiplier]); filters is then ignored.
  Conv2DLayer(int64_t filters, std::vector<int64_t> kernel, const Conv2DOptions& o, int64_t depth_multiplier = 0)
      : Layer(o.name.empty() ? default_layer_name(depth_multiplier ? "depthwise_conv2d" : "conv2d") : o.name), filters_(filters),
        depth_multiplier_(depth_multiplier), kernel_(std::move(kernel)), strides_(o.strides), padding_(o.padding), use_bias_(o.use_bias),
        activation_(parse_activation(o.activation)) {
    if (depth_multiplier < 0) fail("layer {}: depth_multiplier must be positive, got {}", name(), depth_multiplier);
    if (!depthwise() && filters <= 0) fail("layer {}: Conv2D filters must be positive, got {}", name(), filters);
    if (kernel_.size() == 1) kernel_.push_back(kernel_[0]);
    if (strides_.size() == 1) strides_.push_back(strides_[0]);
    if (kernel_.size() != 2 || strides_.size() != 2) fail("layer {}: kernel_size and strides must have 1 or 2 values", name());
  }
  std::string type() const override { return depthwise() ? "DepthwiseConv2D" : "Conv2D"; }
  nlohmann::json config() const override {
    nlohmann::json c = {{"kernel_size", kernel_}, {"strides", strides_}, {"padding", padding_},
                        {"activation", activation_name(activation_.activation())}, {"use_bias", use_bias_}};
    if (depthwise()) c["depth_multiplier"] = depth_multiplier_;
    else c["filters"] = filters_;
    return c;
  }

  Shape build(const std::vector<Shape>& inputs, Rng& rng) override {
    if (inputs.size() != 1 || inputs[0].size() != 3) {
      fail("layer {}: Conv2D expects one input of shape [height, width, channels], got {}", name(),
           inputs.empty() ? "none" : shape_string(inputs[0]));
    }
    in_ = inputs[0];
    try {
      h_ = window_1d(in_[0], kernel_[0], strides_[0], padding_);
      w_ = window_1d(in_[1], kernel_[1], strides_[1], padding_);
    } catch (const Error& e) {
      fail("layer {}: {}", name(), e.what());
    }
    int64_t receptive = kernel_[0] * kernel_[1];
    if (depthwise()) {
      filters_ = in_[2] * depth_multiplier_;
      // Keras's fans for a [kh, kw, in, multiplier] kernel.
      glorot_uniform(add_param("depthwise_kernel", {kernel_[0], kernel_[1], in_[2], depth_multiplier_}).value, receptive * in_[2],
                     receptive * depth_multiplier_, rng);
    } else {
      glorot_uniform(add_param("kernel", {kernel_[0], kernel_[1], in_[2], filters_}).value, receptive * in_[2], receptive * filters_, rng);
    }
    if (use_bias_) add_param("bias", {filters_});
    return {h_.out, w_.out, filters_};
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& x = inputs[0];
    int64_t n = x.dim(0);
    auto& k = kernels(n);
    Tensor z({n, h_.out, w_.out, filters_});
    run_weighted_forward(k.fwd, k.descs, x, kernel(), use_bias_ ? &param("bias") : nullptr, z);
    if (training) x_ = x;
    return activation_.forward(z, training);
  }

  bool ends_with_softmax() const override { return activation_.activation() == Activation::Softmax; }
  void set_backward_from_logits(bool on) override { activation_.set_backward_from_logits(on); }

  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dz = activation_.backward(dy);
    int64_t n = dz.dim(0);
    auto& k = kernels(n);
    Tensor dx = input_gradient_needed() ? Tensor({n, in_[0], in_[1], in_[2]}) : Tensor();
    run_weighted_backward(k.bwd_data, k.bwd_weights, k.descs, x_, dz, kernel(), use_bias_ ? &param("bias") : nullptr, dx);
    return {dx};
  }

  void to_onnx(onnxio::GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    // ONNX Conv weights are OIHW; a depthwise conv is a Conv with one group per input channel,
    // weights [in * multiplier, 1, kh, kw] (output c * multiplier + m, as Keras orders them).
    const Tensor& hwio = kernel().value;
    int64_t kh = kernel_[0], kw = kernel_[1], ci = depthwise() ? 1 : in_[2], co = filters_;
    Tensor oihw({co, ci, kh, kw});
    for (int64_t y = 0; y < kh; ++y)
      for (int64_t x = 0; x < kw; ++x)
        for (int64_t i = 0; i < ci; ++i)
          for (int64_t o = 0; o < co; ++o) oihw[((o * ci + i) * kh + y) * kw + x] = hwio[((y * kw + x) * ci + i) * co + o];
    std::vector<std::string> inputs = {g.in_layout(in[0], onnxio::Layout::NCHW), g.add_initializer(name() + "_kernel", oihw)};
    if (use_bias_) inputs.push_back(g.add_initializer(name() + "_bias", param("bias").value));
    bool plain = activation_.activation() == Activation::Linear;
    std::string z = plain ? out : g.unique(name() + "_conv");
    auto& node = g.add_node("Conv", inputs, {z});
    onnxio::GraphBuilder::set_attr(node, "kernel_shape", kernel_);
    onnxio::GraphBuilder::set_attr(node, "strides", strides_);
    onnxio::GraphBuilder::set_attr(node, "pads", std::vector<int64_t>{h_.pad_before, w_.pad_before, h_.pad_after, w_.pad_after});
    if (depthwise()) onnxio::GraphBuilder::set_attr(node, "group", in_[2]);
    g.set_layout(z, onnxio::Layout::NCHW);
    if (!plain) activation_.to_onnx(g, z, out);
  }

 private:
  bool depthwise() const { return depth_multiplier_ > 0; }
  Parameter& kernel() { return param(depthwise() ? "depthwise_kernel" : "kernel"); }
  const Parameter& kernel() const { return param(depthwise() ? "depthwise_kernel" : "kernel"); }

  struct Kernels {
    WeightedDescs descs;
    convolution_forward fwd;
    convolution_backward_data bwd_data;
    convolution_backward_weights bwd_weights;
  };
  Kernels& kernels(int64_t n) {
    auto it = cache_.find(n);
    if (it != cache_.end()) return it->second;
    memory::desc src = nhwc_desc(n, in_[0], in_[1], in_[2]);
    // Keras's [kh, kw, in, multiplier] depthwise kernel is oneDNN's grouped hwigo with one input per group.
    memory::desc weights = depthwise() ? memory::desc({in_[2], depth_multiplier_, 1, kernel_[0], kernel_[1]}, dt::f32, tag::hwigo)
                                       : memory::desc({filters_, in_[2], kernel_[0], kernel_[1]}, dt::f32, tag::hwio);
    memory::desc bias({filters_}, dt::f32, tag::a);
    memory::desc dst = nhwc_desc(n, h_.out, w_.out, filters_);
    memory::dims strides = {strides_[0], strides_[1]}, pad_l = {h_.pad_before, w_.pad_before},
                 pad_r = {h_.pad_after, w_.pad_after};
    auto alg = algorithm::convolution_direct;
    auto fd = use_bias_ ? convolution_forward::desc(prop_kind::forward_training, alg, src, weights, bias, dst, strides, pad_l, pad_r)
                        : convolution_forward::desc(prop_kind::forward_training, alg, src, weights, dst, strides, pad_l, pad_r);
    convolution_forward::primitive_desc fwd_pd(fd, cpu_engine());
    convolution_backward_data::primitive_desc bd_pd(
        convolution_backward_data::desc(alg, src, weights, dst, strides, pad_l, pad_r), cpu_engine(), fwd_pd);
    auto wd = use_bias_ ? convolution_backward_weights::desc(alg, src, weights, bias, dst, strides, pad_l, pad_r)
                        : convolution_backward_weights::desc(alg, src, weights, dst, strides, pad_l, pad_r);
    convolution_backward_weights::primitive_desc bw_pd(wd, cpu_engine(), fwd_pd);
    return cache_.emplace(n, Kernels{{src, weights, bias, dst}, convolution_forward(fwd_pd),
                                     convolution_backward_data(bd_pd), convolution_backward_weights(bw_pd)})
        .first->second;
  }

  int64_t filters_, depth_multiplier_;
  std::vector<int64_t> kernel_, strides_;
  std::string padding_;
  bool use_bias_;
  ActivationKernel activation_;
  Shape in_;
  Window1D h_{}, w_{};
  Tensor x_;
  std::map<int64_t, Kernels> cache_;
};

}  // namespace

LayerRef Conv2D(int64_t filters, std::vector<int64_t> kernel_size, const Conv2DOptions& options) {
  return LayerRef(std::make_shared<Conv2DLayer>(filters, std::move(kernel_size), options));
}
LayerRef DepthwiseConv2D(std::vector<int64_t> kernel_size, const DepthwiseConv2DOptions& o) {
  return LayerRef(std::make_shared<Conv2DLayer>(
      0, std::move(kernel_size), Conv2DOptions{.strides = o.strides, .padding = o.padding, .activation = o.activation, .use_bias = o.use_bias, .name = o.name},
      o.depth_multiplier));
}

}  // namespace litepipe::nn
