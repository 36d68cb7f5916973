#include "nn/activation.h"

#include <limits>

#include "core/error.h"
#include "nn/dnnl_util.h"
#include "nn/parallel_ranges.h"
#include "nn/vector_clones.h"

namespace litepipe::nn {

using namespace dnnl;

Activation parse_activation(const std::string& name) {
  if (name.empty() || name == "linear" || name == "none") return Activation::Linear;
  if (name == "relu") return Activation::Relu;
  if (name == "relu6") return Activation::Relu6;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "tanh") return Activation::Tanh;
  if (name == "softmax") return Activation::Softmax;
  if (name == "hard_swish") return Activation::HardSwish;
  if (name == "swish" || name == "silu") return Activation::Swish;
  if (name == "gelu") return Activation::Gelu;
  fail("unknown activation '{}' (expected linear, relu, relu6, sigmoid, tanh, softmax, hard_swish, swish or gelu)", name);
}

std::string activation_name(Activation a) {
  switch (a) {
    case Activation::Linear: return "linear";
    case Activation::Relu: return "relu";
    case Activation::Relu6: return "relu6";
    case Activation::Sigmoid: return "sigmoid";
    case Activation::Tanh: return "tanh";
    case Activation::Softmax: return "softmax";
    case Activation::HardSwish: return "hard_swish";
    case Activation::Swish: return "swish";
    case Activation::Gelu: return "gelu";
  }
  return "?";
}

static algorithm eltwise_algorithm(Activation a) {
  switch (a) {
    case Activation::Relu: return algorithm::eltwise_relu;
    case Activation::Relu6: return algorithm::eltwise_clip;
    case Activation::Sigmoid: return algorithm::eltwise_logistic;
    case Activation::Tanh: return algorithm::eltwise_tanh;
    case Activation::HardSwish: return algorithm::eltwise_hardswish;
    case Activation::Swish: return algorithm::eltwise_swish;  // alpha 1: x * sigmoid(x)
    case Activation::Gelu: return algorithm::eltwise_gelu_tanh;
    default: return algorithm::undef;
  }
}

dnnl::primitive_attr relu_post_op(Activation relu) {
  dnnl::primitive_attr attr;
  if (relu == Activation::Linear) return attr;
  if (relu != Activation::Relu && relu != Activation::Relu6) fail("relu_post_op: not a Relu or Relu6");
  dnnl::post_ops ops;
  ops.append_eltwise(1.0f, relu == Activation::Relu ? algorithm::eltwise_relu : algorithm::eltwise_clip, 0.0f, relu == Activation::Relu6 ? 6.0f : 0.0f);
  attr.set_post_ops(ops);
  return attr;
}

namespace {

// dx = dy where 0 < y < top, else 0: a select, not a branch (a ReLU's signs are a coin toss).
LITEPIPE_VECTOR_CLONES void relu_gradient_range(const float* __restrict dy, const float* __restrict y, float* __restrict dx, int64_t n, float top) {
  for (int64_t i = 0; i < n; ++i) dx[i] = ((y[i] > 0.0f) & (y[i] < top)) ? dy[i] : 0.0f;
}

}  // namespace

Tensor relu_backward_from_output(const Tensor& dy, const Tensor& y, Activation relu) {
  if (relu != Activation::Relu && relu != Activation::Relu6) fail("relu_backward_from_output: not a Relu or Relu6");
  Tensor dx = Tensor::uninitialized(dy.shape());
  const float top = relu == Activation::Relu6 ? 6.0f : std::numeric_limits<float>::infinity();
  for_ranges(dy.size(), int64_t{1} << 16,
             [&](int64_t begin, int64_t end) { relu_gradient_range(dy.data() + begin, y.data() + begin, dx.data() + begin, end - begin, top); });
  return dx;
}

ActivationKernel::Eltwise& ActivationKernel::eltwise(int64_t n) {
  auto it = eltwise_.find(n);
  if (it != eltwise_.end()) return it->second;
  memory::desc md({n}, dt::f32, tag::a);
  algorithm alg = eltwise_algorithm(activation_);
  float alpha = activation_ == Activation::Swish ? 1.0f : 0.0f, beta = activation_ == Activation::Relu6 ? 6.0f : 0.0f;
  eltwise_forward::primitive_desc fwd_pd(eltwise_forward::desc(prop_kind::forward_training, alg, md, alpha, beta), cpu_engine());
  eltwise_backward::primitive_desc bwd_pd(eltwise_backward::desc(alg, md, md, alpha, beta), cpu_engine(), fwd_pd);
  return eltwise_.emplace(n, Eltwise{fwd_pd, eltwise_forward(fwd_pd), eltwise_backward(bwd_pd)}).first->second;
}

ActivationKernel::Softmax& ActivationKernel::softmax(int64_t rows, int64_t cols) {
  auto key = std::make_pair(rows, cols);
  auto it = softmax_.find(key);
  if (it != softmax_.end()) return it->second;
  memory::desc md({rows, cols}, dt::f32, tag::ab);
  softmax_forward::primitive_desc fwd_pd(softmax_forward::desc(prop_kind::forward_training, md, 1), cpu_engine());
  softmax_backward::primitive_desc bwd_pd(softmax_backward::desc(md, md, 1), cpu_engine(), fwd_pd);
  return softmax_.emplace(key, Softmax{fwd_pd, softmax_forward(fwd_pd), softmax_backward(bwd_pd)}).first->second;
}

Tensor ActivationKernel::forward(const Tensor& x, bool training) {
  if (activation_ == Activation::Linear) return x;
  Tensor y = Tensor::uninitialized(x.shape());
  if (activation_ == Activation::Softmax) {
    int64_t cols = x.shape().back(), rows = x.size() / cols;
    auto& k = softmax(rows, cols);
    memory::desc md({rows, cols}, dt::f32, tag::ab);
    k.fwd.execute(cpu_stream(), {{DNNL_ARG_SRC, mem(md, x)}, {DNNL_ARG_DST, mem(md, y)}});
  } else {
    auto& k = eltwise(x.size());
    memory::desc md({x.size()}, dt::f32, tag::a);
    k.fwd.execute(cpu_stream(), {{DNNL_ARG_SRC, mem(md, x)}, {DNNL_ARG_DST, mem(md, y)}});
  }
  cpu_stream().wait();
  if (training) {
    x_ = x;
    y_ = y;
  }
  return y;
}

Tensor ActivationKernel::backward(const Tensor& dy) {
  if (activation_ == Activation::Linear || backward_from_logits_) return dy;
  Tensor dx = Tensor::uninitialized(dy.shape());
  if (activation_ == Activation::Softmax) {
    int64_t cols = dy.shape().back(), rows = dy.size() / cols;
    auto& k = softmax(rows, cols);
    memory::desc md({rows, cols}, dt::f32, tag::ab);
    k.bwd.execute(cpu_stream(), {{DNNL_ARG_DST, mem(md, y_)}, {DNNL_ARG_DIFF_DST, mem(md, dy)}, {DNNL_ARG_DIFF_SRC, mem(md, dx)}});
  } else {
    auto& k = eltwise(dy.size());
    memory::desc md({dy.size()}, dt::f32, tag::a);
    k.bwd.execute(cpu_stream(), {{DNNL_ARG_SRC, mem(md, x_)}, {DNNL_ARG_DIFF_DST, mem(md, dy)}, {DNNL_ARG_DIFF_SRC, mem(md, dx)}});
  }
  cpu_stream().wait();
  return dx;
}

void ActivationKernel::to_onnx(onnxio::GraphBuilder& g, const std::string& input, const std::string& output) const {
  std::string x = input;
  switch (activation_) {
    case Activation::Linear:
      g.add_node("Identity", {x}, {output});
      break;
    case Activation::Relu:
      g.add_node("Relu", {x}, {output});
      break;
    case Activation::Relu6: {
      float lo = 0.0f, hi = 6.0f;
      std::string min = g.add_initializer(output + "_min", &lo, {}), max = g.add_initializer(output + "_max", &hi, {});
      g.add_node("Clip", {x, min, max}, {output});
      break;
    }
    case Activation::Sigmoid:
      g.add_node("Sigmoid", {x}, {output});
      break;
    case Activation::Tanh:
      g.add_node("Tanh", {x}, {output});
      break;
    case Activation::HardSwish: {
      // x * HardSigmoid(x) with Keras's constants (opset 13 has no HardSwish); TFLite's converter
      // fuses the pair into HARD_SWISH.
      std::string gate = g.unique(output + "_hard_sigmoid");
      auto& node = g.add_node("HardSigmoid", {x}, {gate});
      onnxio::GraphBuilder::set_attr(node, "alpha", 1.0f / 6.0f);
      onnxio::GraphBuilder::set_attr(node, "beta", 0.5f);
      g.add_node("Mul", {x, gate}, {output});
      break;
    }
    case Activation::Swish: {
      std::string gate = g.unique(output + "_sigmoid");
      g.add_node("Sigmoid", {x}, {gate});
      g.add_node("Mul", {x, gate}, {output});
      break;
    }
    case Activation::Gelu: {
      // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) from ops every runtime has (ONNX's Gelu
      // needs opset 20).
      float half = 0.5f, one = 1.0f, cubic = 0.044715f, scale = 0.7978845608028654f;
      auto constant = [&](const char* what, float* v) { return g.add_initializer(output + "_" + what, v, {}); };
      auto op = [&](const char* type, const std::string& a, const std::string& b, const char* what) {
        std::string out = g.unique(output + "_" + what);
        g.add_node(type, {a, b}, {out});
        return out;
      };
      std::string x2 = op("Mul", x, x, "x2");
      std::string x3 = op("Mul", x2, x, "x3");
      std::string inner = op("Add", x, op("Mul", x3, constant("cubic", &cubic), "cubic_term"), "inner");
      std::string t = g.unique(output + "_tanh");
      g.add_node("Tanh", {op("Mul", inner, constant("scale", &scale), "scaled")}, {t});
      g.add_node("Mul", {op("Mul", x, constant("half", &half), "half_x"), op("Add", t, constant("one", &one), "one_plus")}, {output});
      break;
    }
    case Activation::Softmax: {
      // Softmax is over the channels, the last axis of NHWC.
      x = g.in_layout(x, onnxio::Layout::NHWC);
      auto& node = g.add_node("Softmax", {x}, {output});
      onnxio::GraphBuilder::set_attr(node, "axis", int64_t{-1});
      break;
    }
  }
  g.set_layout(output, g.layout(x));
}

// Activation as a layer of its own.
namespace {
class ActivationLayerImpl final : public Layer {
 public:
  ActivationLayerImpl(Activation a, std::string name) : Layer(std::move(name)), kernel_(a) {}
  std::string type() const override { return "Activation"; }
  nlohmann::json config() const override { return {{"activation", activation_name(kernel_.activation())}}; }
  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1) fail("layer {}: Activation takes one input", name());
    return inputs[0];
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override { return kernel_.forward(inputs[0], training); }
  bool ends_with_softmax() const override { return kernel_.activation() == Activation::Softmax; }
  void set_backward_from_logits(bool on) override { kernel_.set_backward_from_logits(on); }
  std::vector<Tensor> backward(const Tensor& dy) override { return {kernel_.backward(dy)}; }
  void to_onnx(onnxio::GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    kernel_.to_onnx(g, in[0], out);
  }

 private:
  ActivationKernel kernel_;
};
}  // namespace

LayerRef ActivationLayer(const std::string& activation, std::string name) {
  return LayerRef(std::make_shared<ActivationLayerImpl>(parse_activation(activation),
                                                        name.empty() ? default_layer_name("activation") : name));
}

}  // namespace litepipe::nn
