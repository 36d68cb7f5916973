// LayerNormalization over the last axis (Keras's default axis=-1): each example's features
// normalized by their own mean and variance, then scaled by gamma and shifted by beta. oneDNN's
// layer normalization forward and backward (data, gamma, beta); the statistics are the example's,
// so training and inference compute the same thing.
#include "core/error.h"
#include "nn/dnnl_util.h"
#include "nn/layers.h"

namespace litepipe::nn {
namespace {

using namespace dnnl;

class LayerNormLayer final : public Layer {
 public:
  explicit LayerNormLayer(const LayerNormOptions& o)
      : Layer(o.name.empty() ? default_layer_name("layer_normalization") : o.name), epsilon_(o.epsilon), center_(o.center),
        scale_(o.scale) {
    if (o.axis != -1) fail("layer {}: LayerNormalization supports axis -1 (the last axis) only, got axis {}", name(), o.axis);
    if (!(o.epsilon > 0.0f)) fail("layer {}: LayerNormalization epsilon must be positive, got {}", name(), o.epsilon);
  }
  std::string type() const override { return "LayerNormalization"; }
  nlohmann::json config() const override { return {{"axis", -1}, {"epsilon", epsilon_}, {"center", center_}, {"scale", scale_}}; }

  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1 || inputs[0].empty() || inputs[0].size() > 4) {
      fail("layer {}: LayerNormalization expects one input of rank 1 to 4 per example ([features], [steps, features], ...), got {}",
           name(), inputs.empty() ? "none" : shape_string(inputs[0]));
    }
    in_ = inputs[0];
    features_ = in_.back();
    // Keras's initializers: gamma ones, beta zeros. Without them oneDNN gets ones / zeros, unlearned.
    if (scale_) add_param("gamma", {features_}).value.fill(1.0f);
    if (center_) add_param("beta", {features_});
    ones_ = Tensor({features_}, 1.0f);
    zeros_ = Tensor({features_});
    return in_;
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& x = inputs[0];
    auto& k = kernels(x.dim(0));
    Tensor y(x.shape());
    Tensor mean(k.stat_shape), variance(k.stat_shape);
    k.fwd.execute(cpu_stream(), {{DNNL_ARG_SRC, mem(k.data, x)}, {DNNL_ARG_DST, mem(k.data, y)},
                                 {DNNL_ARG_SCALE, mem(k.channel, gamma())}, {DNNL_ARG_SHIFT, mem(k.channel, beta())},
                                 {DNNL_ARG_MEAN, mem(k.stat, mean)}, {DNNL_ARG_VARIANCE, mem(k.stat, variance)}});
    cpu_stream().wait();
    if (training) {
      x_ = x;
      mean_ = mean;
      variance_ = variance;
    }
    return y;
  }

  std::vector<Tensor> backward(const Tensor& dy) override {
    auto& k = kernels(dy.dim(0));
    Tensor dx(dy.shape());
    // Unlearned gamma / beta still get gradients from oneDNN: into scratch tensors.
    Tensor dgamma = scale_ ? param("gamma").grad : Tensor({features_});
    Tensor dbeta = center_ ? param("beta").grad : Tensor({features_});
    k.bwd.execute(cpu_stream(), {{DNNL_ARG_SRC, mem(k.data, x_)}, {DNNL_ARG_DIFF_DST, mem(k.data, dy)},
                                 {DNNL_ARG_MEAN, mem(k.stat, mean_)}, {DNNL_ARG_VARIANCE, mem(k.stat, variance_)},
                                 {DNNL_ARG_SCALE, mem(k.channel, gamma())}, {DNNL_ARG_SHIFT, mem(k.channel, beta())},
                                 {DNNL_ARG_DIFF_SRC, mem(k.data, dx)}, {DNNL_ARG_DIFF_SCALE, mem(k.channel, dgamma)},
                                 {DNNL_ARG_DIFF_SHIFT, mem(k.channel, dbeta)}});
    cpu_stream().wait();
    return {dx};
  }

  // ONNX opset 13 has no LayerNormalization (it arrives in 17): the formula in elementary ops,
  // which TFLite's converter lowers to MEAN / SUB / MUL / RSQRT as TensorFlow's does.
  //   mean = ReduceMean(x), d = x - mean, var = ReduceMean(d * d), y = d / Sqrt(var + eps) * gamma + beta
  void to_onnx(onnxio::GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    const std::string x = g.in_layout(in[0], onnxio::Layout::NHWC);  // features last
    auto reduce_mean = [&](const std::string& input, const std::string& output) {
      auto& node = g.add_node("ReduceMean", {input}, {output});
      onnxio::GraphBuilder::set_attr(node, "axes", std::vector<int64_t>{-1});
      onnxio::GraphBuilder::set_attr(node, "keepdims", int64_t{1});
    };
    const std::string mean = g.unique(name() + "_mean"), d = g.unique(name() + "_centered"), sq = g.unique(name() + "_squared"),
                      var = g.unique(name() + "_variance"), var_eps = g.unique(name() + "_variance_eps"), stddev = g.unique(name() + "_stddev");
    reduce_mean(x, mean);
    g.add_node("Sub", {x, mean}, {d});
    g.add_node("Mul", {d, d}, {sq});
    reduce_mean(sq, var);
    g.add_node("Add", {var, g.add_initializer(name() + "_epsilon", &epsilon_, {})}, {var_eps});
    g.add_node("Sqrt", {var_eps}, {stddev});
    std::string y = (scale_ || center_) ? g.unique(name() + "_normalized") : out;
    g.add_node("Div", {d, stddev}, {y});
    if (scale_) {
      std::string scaled = center_ ? g.unique(name() + "_scaled") : out;
      g.add_node("Mul", {y, g.add_initializer(name() + "_gamma", param("gamma").value)}, {scaled});
      y = scaled;
    }
    if (center_) g.add_node("Add", {y, g.add_initializer(name() + "_beta", param("beta").value)}, {out});
    for (const auto& t : {mean, d, sq, var, var_eps, stddev, y, out}) g.set_layout(t, g.layout(x));
  }

 private:
  const Tensor& gamma() const { return scale_ ? param("gamma").value : ones_; }
  const Tensor& beta() const { return center_ ? param("beta").value : zeros_; }

  struct Kernels {
    memory::desc data, stat, channel;
    Shape stat_shape;
    layer_normalization_forward fwd;
    layer_normalization_backward bwd;
  };
  Kernels& kernels(int64_t n) {
    auto it = cache_.find(n);
    if (it != cache_.end()) return it->second;
    Shape data_shape = {n};
    data_shape.insert(data_shape.end(), in_.begin(), in_.end());
    Shape stat_shape(data_shape.begin(), data_shape.end() - 1);
    memory::desc data = plain_desc(data_shape), stat = plain_desc(stat_shape), channel({features_}, dt::f32, tag::a);
    // Scale and shift always: oneDNN then computes both gradients in one pass (unused ones are dropped).
    auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
    layer_normalization_forward::primitive_desc fwd_pd(
        layer_normalization_forward::desc(prop_kind::forward_training, data, stat, epsilon_, flags), cpu_engine());
    layer_normalization_backward::primitive_desc bwd_pd(
        layer_normalization_backward::desc(prop_kind::backward, data, data, stat, epsilon_, flags), cpu_engine(), fwd_pd);
    return cache_.emplace(n, Kernels{data, stat, channel, stat_shape, layer_normalization_forward(fwd_pd), layer_normalization_backward(bwd_pd)})
        .first->second;
  }

  float epsilon_;
  bool center_, scale_;
  Shape in_;
  int64_t features_ = 0;
  Tensor ones_, zeros_, x_, mean_, variance_;
  std::map<int64_t, Kernels> cache_;
};

}  // namespace

LayerRef LayerNormalization(const LayerNormOptions& options) { return LayerRef(std::make_shared<LayerNormLayer>(options)); }

}  // namespace litepipe::nn
