// Conv2D on NHWC activations with a Keras HWIO kernel [kh, kw, in, out], DepthwiseConv2D (a
// grouped convolution with one group per input channel) and SeparableConv2D (a depthwise then a
// pointwise 1x1 convolution): oneDNN convolution forward / backward-data / backward-weights,
// cached per batch size.
#include <algorithm>
#include <map>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "nn/activation.h"
#include "nn/conv_util.h"
#include "nn/dnnl_util.h"
#include "nn/init.h"
#include "nn/sequence_1d.h"

namespace litepipe::nn {
namespace {

using namespace dnnl;

// One convolution of fixed geometry and its oneDNN primitives per batch size; the layers own the
// parameters (Keras's HWIO kernel, plain) and pass them in.
//
// Activations stay NHWC, but the weights' layout is oneDNN's choice (format_tag::any): with a
// plain HWIO kernel oneDNN falls back to im2col + GEMM, with its own blocked layout it runs the
// direct JIT convolutions, about twice as fast forward. The kernel is reordered into that layout
// once per forward (it changes every step), its gradient back into HWIO after backward.
class Convolution {
 public:
  // multiplier > 0: depthwise (each input channel convolved on its own into `multiplier` outputs;
  // kernel [kh, kw, in, multiplier]); else a plain convolution into `filters` outputs.
  // fused: Relu or Relu6 applied by the forward primitive (a post-op: one pass over the output
  // saved); Linear for none.
  void configure(Shape in, int64_t filters, int64_t multiplier, std::vector<int64_t> kernel, std::vector<int64_t> strides, Window1D h,
                 Window1D w, bool bias, Activation fused = Activation::Linear) {
    in_ = std::move(in);
    fused_ = fused;
    filters_ = filters;
    multiplier_ = multiplier;
    kernel_ = std::move(kernel);
    strides_ = std::move(strides);
    h_ = h;
    w_ = w;
    bias_ = bias;
    cache_.clear();
  }
  Shape output(int64_t n) const { return {n, h_.out, w_.out, filters_}; }

  // z = fused(conv(x; kernel) + bias)
  void forward(const Tensor& x, const Parameter& kernel, const Parameter* bias, Tensor& z) {
    auto& k = kernels(x.dim(0));
    const memory& weights = k.weights_for_forward(kernel.value);
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, mem(k.src, x)}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, mem(k.dst, z)}};
    if (bias) args[DNNL_ARG_BIAS] = mem(k.bias, bias->value);
    k.fwd.execute(cpu_stream(), args);
    cpu_stream().wait();
  }
  // dx (skipped when empty), kernel.grad and bias->grad from x and dz.
  void backward(const Tensor& x, const Tensor& dz, Parameter& kernel, Parameter* bias, Tensor& dx) {
    auto& k = kernels(dz.dim(0));
    if (!dx.empty()) {
      k.bwd_data.execute(cpu_stream(), {{DNNL_ARG_DIFF_DST, mem(k.dst, dz)}, {DNNL_ARG_WEIGHTS, k.weights_for_backward_data(kernel.value)},
                                        {DNNL_ARG_DIFF_SRC, mem(k.src, dx)}});
    }
    if (k.gemm_weights_gradient) {
      cpu_stream().wait();
      gemm_weights_gradient(k, x, dz, kernel.grad, bias);
      return;
    }
    memory diff_weights = k.diff_weights_reorder ? k.diff_weights : mem(k.weights_plain, kernel.grad);
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, mem(k.src, x)}, {DNNL_ARG_DIFF_DST, mem(k.dst, dz)}, {DNNL_ARG_DIFF_WEIGHTS, diff_weights}};
    if (bias) args[DNNL_ARG_DIFF_BIAS] = mem(k.bias, bias->grad);
    k.bwd_weights.execute(cpu_stream(), args);
    if (k.diff_weights_reorder) {
      memory grad = mem(k.weights_plain, kernel.grad);
      k.diff_weights_reorder.execute(cpu_stream(), k.diff_weights, grad);
    }
    cpu_stream().wait();
  }

 private:
  struct Kernels {
    memory::desc src, weights_plain, bias, dst;
    convolution_forward fwd;
    convolution_backward_data bwd_data;
    convolution_backward_weights bwd_weights;
    // The kernel in the layouts the forward and backward-data primitives chose (oneDNN's
    // backward-data kernels want it blocked the other way round), and the reorders into them
    // (empty where that layout is HWIO itself); the weight gradient's layout and reorder out.
    memory weights{}, bwd_data_weights{};
    reorder weights_reorder{}, bwd_data_weights_reorder{};
    memory diff_weights{};
    reorder diff_weights_reorder{};
    // Few input channels (a first layer on gray or RGB images): the weight gradient as one GEMM
    // over unfolded input patches, [kh*kw*ic, P] x [P, oc], P = n*oh*ow. oneDNN's convolution
    // kernels vectorize over input channels and crawl there (about a tenth of the GEMM's speed).
    bool gemm_weights_gradient = false;
    std::vector<float> patches{};  // [kh*kw*ic, P]

    const memory& weights_for_forward(const Tensor& hwio) { return prepare(weights, weights_reorder, hwio); }
    const memory& weights_for_backward_data(const Tensor& hwio) { return prepare(bwd_data_weights, bwd_data_weights_reorder, hwio); }
    memory& prepare(memory& target, reorder& into, const Tensor& hwio) {
      memory plain = mem(weights_plain, hwio);
      if (into) into.execute(cpu_stream(), plain, target);
      else target = plain;
      return target;
    }
  };

  Kernels& kernels(int64_t n) {
    auto it = cache_.find(n);
    if (it != cache_.end()) return it->second;
    memory::desc src = nhwc_desc(n, in_[0], in_[1], in_[2]);
    // Keras's [kh, kw, in, multiplier] depthwise kernel is oneDNN's grouped hwigo with one input per group.
    memory::dims weight_dims = multiplier_ > 0 ? memory::dims{in_[2], multiplier_, 1, kernel_[0], kernel_[1]}
                                               : memory::dims{filters_, in_[2], kernel_[0], kernel_[1]};
    memory::desc weights_plain(weight_dims, dt::f32, multiplier_ > 0 ? tag::hwigo : tag::hwio);
    memory::desc weights_any(weight_dims, dt::f32, tag::any);
    memory::desc bias({filters_}, dt::f32, tag::a);
    memory::desc dst = nhwc_desc(n, h_.out, w_.out, filters_);
    memory::dims strides = {strides_[0], strides_[1]}, pad_l = {h_.pad_before, w_.pad_before},
                 pad_r = {h_.pad_after, w_.pad_after};
    auto alg = algorithm::convolution_direct;
    // Where no optimized kernel takes oneDNN's preferred layout it falls back to a reference
    // kernel (orders of magnitude slower); the plain HWIO layout always has im2col + GEMM.
    auto reference = [](const auto& pd) { return std::string_view(pd.impl_info_str()).starts_with("ref"); };
    primitive_attr attr = relu_post_op(fused_);
    auto forward_pd = [&](const memory::desc& weights) {
      auto fd = bias_ ? convolution_forward::desc(prop_kind::forward_training, alg, src, weights, bias, dst, strides, pad_l, pad_r)
                      : convolution_forward::desc(prop_kind::forward_training, alg, src, weights, dst, strides, pad_l, pad_r);
      return convolution_forward::primitive_desc(fd, attr, cpu_engine());
    };
    convolution_forward::primitive_desc fwd_pd = forward_pd(weights_any);
    if (reference(fwd_pd)) fwd_pd = forward_pd(weights_plain);
    auto backward_data_pd = [&](const memory::desc& weights) {
      return convolution_backward_data::primitive_desc(convolution_backward_data::desc(alg, src, weights, dst, strides, pad_l, pad_r),
                                                       cpu_engine(), fwd_pd);
    };
    convolution_backward_data::primitive_desc bd_pd = backward_data_pd(weights_any);
    if (reference(bd_pd)) bd_pd = backward_data_pd(weights_plain);
    auto backward_weights_pd = [&](const memory::desc& weights) {
      auto wd = bias_ ? convolution_backward_weights::desc(alg, src, weights, bias, dst, strides, pad_l, pad_r)
                      : convolution_backward_weights::desc(alg, src, weights, dst, strides, pad_l, pad_r);
      return convolution_backward_weights::primitive_desc(wd, cpu_engine(), fwd_pd);
    };
    convolution_backward_weights::primitive_desc bw_pd = backward_weights_pd(weights_any);
    if (reference(bw_pd)) bw_pd = backward_weights_pd(weights_plain);

    Kernels k{src, weights_plain, bias, dst, convolution_forward(fwd_pd), convolution_backward_data(bd_pd), convolution_backward_weights(bw_pd)};
    if (fwd_pd.weights_desc() != weights_plain) {
      k.weights = memory(fwd_pd.weights_desc(), cpu_engine());
      k.weights_reorder = reorder(reorder::primitive_desc(cpu_engine(), weights_plain, cpu_engine(), fwd_pd.weights_desc()));
    }
    if (bd_pd.weights_desc() != weights_plain) {
      k.bwd_data_weights = memory(bd_pd.weights_desc(), cpu_engine());
      k.bwd_data_weights_reorder = reorder(reorder::primitive_desc(cpu_engine(), weights_plain, cpu_engine(), bd_pd.weights_desc()));
    }
    if (bw_pd.diff_weights_desc() != weights_plain) {
      k.diff_weights = memory(bw_pd.diff_weights_desc(), cpu_engine());
      k.diff_weights_reorder = reorder(reorder::primitive_desc(cpu_engine(), bw_pd.diff_weights_desc(), cpu_engine(), weights_plain));
    }
    k.gemm_weights_gradient = multiplier_ == 0 && in_[2] <= kGemmGradientMaxChannels;
    return cache_.emplace(n, std::move(k)).first->second;
  }

  static constexpr int64_t kGemmGradientMaxChannels = 4;

  // kernel_grad[(y, x, c), o] = sum over p of patches[(y, x, c), p] * dz[p, o]: the HWIO gradient
  // is the GEMM's output as it stands. bias_grad[o] = sum over p of dz[p, o]. The patches are laid
  // out tap by tap, so that each tap's row of an image is one strided copy of an input row.
  void gemm_weights_gradient(Kernels& k, const Tensor& x, const Tensor& dz, Tensor& kernel_grad, Parameter* bias) {
    const int64_t n = x.dim(0), ih = in_[0], iw = in_[1], ic = in_[2], kh = kernel_[0], kw = kernel_[1];
    const int64_t oh = h_.out, ow = w_.out, sh = strides_[0], sw = strides_[1], taps = kh * kw * ic, pixels = n * oh * ow;
    k.patches.resize(static_cast<size_t>(pixels * taps));
    const float* src = x.data();
#pragma omp parallel for collapse(2)
    for (int64_t tap = 0; tap < taps; ++tap) {
      for (int64_t b = 0; b < n; ++b) {
        const int64_t ky = tap / (kw * ic), kx = tap / ic % kw, c = tap % ic;
        // Output columns whose input column lies inside the image: [x_begin, x_end).
        const int64_t shift = kx - w_.pad_before;
        const int64_t x_begin = std::clamp<int64_t>((-shift + sw - 1) / sw, 0, ow);
        const int64_t x_end = std::clamp<int64_t>((iw - shift + sw - 1) / sw, x_begin, ow);
        for (int64_t oy = 0; oy < oh; ++oy) {
          float* row = k.patches.data() + tap * pixels + (b * oh + oy) * ow;
          const int64_t iy = oy * sh + ky - h_.pad_before;
          if (iy < 0 || iy >= ih) {
            std::fill_n(row, ow, 0.0f);
            continue;
          }
          const float* in = src + (b * ih + iy) * iw * ic + c;
          std::fill_n(row, x_begin, 0.0f);
          for (int64_t ox = x_begin; ox < x_end; ++ox) row[ox] = in[(ox * sw + shift) * ic];
          std::fill_n(row + x_end, ow - x_end, 0.0f);
        }
      }
    }
    const dnnl_dim_t m = taps, cols = filters_, depth = pixels;
    dnnl_status_t status = dnnl_sgemm('N', 'N', m, cols, depth, 1.0f, k.patches.data(), depth, dz.data(), cols, 0.0f, kernel_grad.data(), cols);
    if (status != dnnl_success) fail("Conv2D weight gradient: dnnl_sgemm failed (status {})", static_cast<int>(status));
    if (bias) {
      float* g = bias->grad.data();
      std::fill_n(g, filters_, 0.0f);
      const float* d = dz.data();
      for (int64_t p = 0; p < pixels; ++p)
        for (int64_t o = 0; o < filters_; ++o) g[o] += d[p * filters_ + o];
    }
  }

  Shape in_;
  int64_t filters_ = 0, multiplier_ = 0;
  std::vector<int64_t> kernel_, strides_;
  Window1D h_{}, w_{};
  bool bias_ = false;
  Activation fused_ = Activation::Linear;
  std::map<int64_t, Kernels> cache_;
};

// A Keras HWIO kernel [kh, kw, ci, co] as ONNX Conv's OIHW weights [co, ci, kh, kw] (a depthwise
// kernel [kh, kw, in, multiplier] is passed as ci = 1, co = in * multiplier: output c * multiplier
// + m, as Keras orders them).
Tensor hwio_to_oihw(const Tensor& hwio, int64_t kh, int64_t kw, int64_t ci, int64_t co) {
  Tensor oihw({co, ci, kh, kw});
  for (int64_t y = 0; y < kh; ++y)
    for (int64_t x = 0; x < kw; ++x)
      for (int64_t i = 0; i < ci; ++i)
        for (int64_t o = 0; o < co; ++o) oihw[((o * ci + i) * kh + y) * kw + x] = hwio[((y * kw + x) * ci + i) * co + o];
  return oihw;
}

// The ONNX Conv node of a convolution with TF's padding (`h`, `w`); its output is NCHW.
onnx::NodeProto& add_onnx_conv(onnxio::GraphBuilder& g, std::vector<std::string> inputs, const std::string& out, const std::vector<int64_t>& kernel,
                               const std::vector<int64_t>& strides, const Window1D& h, const Window1D& w, int64_t group) {
  auto& node = g.add_node("Conv", inputs, {out});
  onnxio::GraphBuilder::set_attr(node, "kernel_shape", kernel);
  onnxio::GraphBuilder::set_attr(node, "strides", strides);
  onnxio::GraphBuilder::set_attr(node, "pads", std::vector<int64_t>{h.pad_before, w.pad_before, h.pad_after, w.pad_after});
  if (group > 1) onnxio::GraphBuilder::set_attr(node, "group", group);
  g.set_layout(out, onnxio::Layout::NCHW);
  return node;
}

class Conv2DLayer : public Layer {
 public:
  // depth_multiplier > 0: Keras's DepthwiseConv2D (each input channel convolved on its own into
  // depth_multiplier outputs; kernel [kh, kw, in, depth_multiplier]); filters is then ignored.
  Conv2DLayer(int64_t filters, std::vector<int64_t> kernel, const Conv2DOptions& o, int64_t depth_multiplier = 0)
      : Layer(o.name.empty() ? default_layer_name(depth_multiplier ? "depthwise_conv2d" : "conv2d") : o.name), filters_(filters),
        depth_multiplier_(depth_multiplier), kernel_(std::move(kernel)), strides_(o.strides), padding_(o.padding), use_bias_(o.use_bias),
        activation_(parse_activation(o.activation)),
        fused_(activation_.activation() == Activation::Relu || activation_.activation() == Activation::Relu6) {
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
    std::tie(h_, w_) = image_windows(name(), type().c_str(), inputs, kernel_, strides_, padding_);
    in_ = inputs[0];
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
    conv_.configure(in_, filters_, depth_multiplier_, kernel_, strides_, h_, w_, use_bias_, fused_ ? activation_.activation() : Activation::Linear);
    return {h_.out, w_.out, filters_};
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& x = inputs[0];
    Tensor z = Tensor::uninitialized(conv_.output(x.dim(0)));
    conv_.forward(x, kernel(), use_bias_ ? &param("bias") : nullptr, z);
    if (training) x_ = x;
    if (!fused_) return activation_.forward(z, training);
    // Backward reads the output for the ReLU's mask, unless the max pooling after it applies it.
    y_ = training && !relu_masked_by_consumer_ ? z : Tensor();
    return z;
  }

  bool ends_with_softmax() const override { return activation_.activation() == Activation::Softmax; }
  void set_backward_from_logits(bool on) override { activation_.set_backward_from_logits(on); }
  bool ends_with_relu() const override { return activation_.activation() == Activation::Relu; }
  void set_relu_masked_by_consumer(bool on) override { relu_masked_by_consumer_ = on && ends_with_relu(); }

  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dz = !fused_                  ? activation_.backward(dy)
                : relu_masked_by_consumer_ ? dy
                                           : relu_backward_from_output(dy, y_, activation_.activation());
    int64_t n = dz.dim(0);
    Tensor dx = input_gradient_needed() ? Tensor::uninitialized({n, in_[0], in_[1], in_[2]}) : Tensor();
    conv_.backward(x_, dz, kernel(), use_bias_ ? &param("bias") : nullptr, dx);
    return {dx};
  }

  void to_onnx(onnxio::GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    // A depthwise conv is a Conv with one group per input channel, weights [in * multiplier, 1, kh, kw].
    int64_t ci = depthwise() ? 1 : in_[2];
    std::vector<std::string> inputs = {g.in_layout(in[0], onnxio::Layout::NCHW),
                                       g.add_initializer(name() + "_kernel", hwio_to_oihw(kernel().value, kernel_[0], kernel_[1], ci, filters_))};
    if (use_bias_) inputs.push_back(g.add_initializer(name() + "_bias", param("bias").value));
    bool plain = activation_.activation() == Activation::Linear;
    std::string z = plain ? out : g.unique(name() + "_conv");
    add_onnx_conv(g, inputs, z, kernel_, strides_, h_, w_, depthwise() ? in_[2] : 1);
    if (!plain) activation_.to_onnx(g, z, out);
  }

 private:
  bool depthwise() const { return depth_multiplier_ > 0; }
  Parameter& kernel() { return param(depthwise() ? "depthwise_kernel" : "kernel"); }
  const Parameter& kernel() const { return param(depthwise() ? "depthwise_kernel" : "kernel"); }

  int64_t filters_, depth_multiplier_;
  std::vector<int64_t> kernel_, strides_;
  std::string padding_;
  bool use_bias_;
  ActivationKernel activation_;
  bool fused_;  // Relu or Relu6 computed by the convolution's forward primitive; its output y_ kept for backward
  bool relu_masked_by_consumer_ = false;
  Shape in_;
  Window1D h_{}, w_{};
  Tensor x_, y_;
  Convolution conv_;
};

// Keras's SeparableConv2D: depthwise (no bias), pointwise 1x1 (bias), then the activation.
class SeparableConv2DLayer final : public Layer {
 public:
  SeparableConv2DLayer(int64_t filters, std::vector<int64_t> kernel, const SeparableConv2DOptions& o)
      : Layer(o.name.empty() ? default_layer_name("separable_conv2d") : o.name), filters_(filters), depth_multiplier_(o.depth_multiplier),
        kernel_(std::move(kernel)), strides_(o.strides), padding_(o.padding), use_bias_(o.use_bias), activation_(parse_activation(o.activation)) {
    if (filters <= 0) fail("layer {}: SeparableConv2D filters must be positive, got {}", name(), filters);
    if (depth_multiplier_ <= 0) fail("layer {}: SeparableConv2D depth_multiplier must be positive, got {}", name(), depth_multiplier_);
    if (kernel_.size() == 1) kernel_.push_back(kernel_[0]);
    if (strides_.size() == 1) strides_.push_back(strides_[0]);
    if (kernel_.size() != 2 || strides_.size() != 2) fail("layer {}: kernel_size and strides must have 1 or 2 values", name());
  }
  std::string type() const override { return "SeparableConv2D"; }
  nlohmann::json config() const override {
    return {{"filters", filters_}, {"kernel_size", kernel_}, {"strides", strides_}, {"padding", padding_}, {"depth_multiplier", depth_multiplier_},
            {"activation", activation_name(activation_.activation())}, {"use_bias", use_bias_}};
  }

  Shape build(const std::vector<Shape>& inputs, Rng& rng) override {
    std::tie(h_, w_) = image_windows(name(), "SeparableConv2D", inputs, kernel_, strides_, padding_);
    in_ = inputs[0];
    mid_ = in_[2] * depth_multiplier_;
    const int64_t receptive = kernel_[0] * kernel_[1];
    // Keras's order and fans: depthwise [kh, kw, in, multiplier], pointwise [1, 1, in * multiplier, filters].
    glorot_uniform(add_param("depthwise_kernel", {kernel_[0], kernel_[1], in_[2], depth_multiplier_}).value, receptive * in_[2],
                   receptive * depth_multiplier_, rng);
    glorot_uniform(add_param("pointwise_kernel", {1, 1, mid_, filters_}).value, mid_, filters_, rng);
    if (use_bias_) add_param("bias", {filters_});
    depthwise_.configure(in_, mid_, depth_multiplier_, kernel_, strides_, h_, w_, false);
    pointwise_.configure({h_.out, w_.out, mid_}, filters_, 0, {1, 1}, {1, 1}, {h_.out, 0, 0}, {w_.out, 0, 0}, use_bias_);
    return {h_.out, w_.out, filters_};
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& x = inputs[0];
    const int64_t n = x.dim(0);
    Tensor mid = Tensor::uninitialized(depthwise_.output(n)), z = Tensor::uninitialized(pointwise_.output(n));
    depthwise_.forward(x, param("depthwise_kernel"), nullptr, mid);
    pointwise_.forward(mid, param("pointwise_kernel"), use_bias_ ? &param("bias") : nullptr, z);
    if (training) {
      x_ = x;
      mid_value_ = mid;
    }
    return activation_.forward(z, training);
  }

  bool ends_with_softmax() const override { return activation_.activation() == Activation::Softmax; }
  void set_backward_from_logits(bool on) override { activation_.set_backward_from_logits(on); }

  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dz = activation_.backward(dy);
    const int64_t n = dz.dim(0);
    Tensor dmid(depthwise_.output(n));  // always needed: the depthwise kernel's gradient comes from it
    pointwise_.backward(mid_value_, dz, param("pointwise_kernel"), use_bias_ ? &param("bias") : nullptr, dmid);
    Tensor dx = input_gradient_needed() ? Tensor({n, in_[0], in_[1], in_[2]}) : Tensor();
    depthwise_.backward(x_, dmid, param("depthwise_kernel"), nullptr, dx);
    return {dx};
  }

  void to_onnx(onnxio::GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    // Two Convs, as Keras computes it: grouped (one group per input channel, no bias), then 1x1.
    std::string mid = g.unique(name() + "_depthwise");
    add_onnx_conv(g,
                  {g.in_layout(in[0], onnxio::Layout::NCHW),
                   g.add_initializer(name() + "_depthwise_kernel", hwio_to_oihw(param("depthwise_kernel").value, kernel_[0], kernel_[1], 1, mid_))},
                  mid, kernel_, strides_, h_, w_, in_[2]);
    std::vector<std::string> inputs = {mid, g.add_initializer(name() + "_pointwise_kernel", hwio_to_oihw(param("pointwise_kernel").value, 1, 1, mid_, filters_))};
    if (use_bias_) inputs.push_back(g.add_initializer(name() + "_bias", param("bias").value));
    bool plain = activation_.activation() == Activation::Linear;
    std::string z = plain ? out : g.unique(name() + "_conv");
    add_onnx_conv(g, inputs, z, {1, 1}, {1, 1}, {h_.out, 0, 0}, {w_.out, 0, 0}, 1);
    if (!plain) activation_.to_onnx(g, z, out);
  }

 private:
  int64_t filters_, depth_multiplier_, mid_ = 0;
  std::vector<int64_t> kernel_, strides_;
  std::string padding_;
  bool use_bias_;
  ActivationKernel activation_;
  Shape in_;
  Window1D h_{}, w_{};
  Tensor x_, mid_value_;
  Convolution depthwise_, pointwise_;
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
LayerRef SeparableConv2D(int64_t filters, std::vector<int64_t> kernel_size, const SeparableConv2DOptions& options) {
  return LayerRef(std::make_shared<SeparableConv2DLayer>(filters, std::move(kernel_size), options));
}
LayerRef Conv1D(int64_t filters, int64_t kernel_size, const Conv1DOptions& o) {
  if (o.padding == "causal") fail("layer {}: Conv1D padding 'causal' is not supported (use 'valid' or 'same')", o.name.empty() ? "conv1d" : o.name);
  return LayerRef(std::make_shared<Sequence1D<Conv2DLayer>>(
      "Conv1D", filters, std::vector<int64_t>{1, kernel_size},
      Conv2DOptions{.strides = {1, o.strides}, .padding = o.padding, .activation = o.activation, .use_bias = o.use_bias,
                    .name = o.name.empty() ? default_layer_name("conv1d") : o.name}));
}

}  // namespace litepipe::nn
