// BatchNormalization over the last (channel) axis: oneDNN batch normalization forward (batch
// statistics in training, moving statistics in inference) and backward (data, gamma, beta).
#include "nn/dnnl_util.h"
#include "core/error.h"
#include "nn/layers.h"

namespace litepipe::nn {
namespace {

using namespace dnnl;

class BatchNormLayer final : public Layer {
 public:
  explicit BatchNormLayer(const BatchNormOptions& o)
      : Layer(o.name.empty() ? default_layer_name("batch_normalization") : o.name), momentum_(o.momentum), epsilon_(o.epsilon) {}
  std::string type() const override { return "BatchNormalization"; }
  nlohmann::json config() const override { return {{"momentum", momentum_}, {"epsilon", epsilon_}}; }
  bool training_mixes_rows() const override { return true; }

  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1 || (inputs[0].size() != 1 && inputs[0].size() != 3)) {
      fail("layer {}: BatchNormalization expects [features] or [height, width, channels], got {}", name(),
           inputs.empty() ? "none" : shape_string(inputs[0]));
    }
    in_ = inputs[0];
    channels_ = in_.back();
    add_param("gamma", {channels_}).value.fill(1.0f);
    add_param("beta", {channels_});
    add_param("moving_mean", {channels_}, false);
    add_param("moving_variance", {channels_}, false).value.fill(1.0f);
    return in_;
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& x = inputs[0];
    int64_t n = x.dim(0);
    auto& k = kernels(n);
    Tensor y(x.shape());
    memory::desc c({channels_}, dt::f32, tag::a);
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, mem(k.data, x)}, {DNNL_ARG_DST, mem(k.data, y)},
                                            {DNNL_ARG_SCALE, mem(c, param("gamma").value)},
                                            {DNNL_ARG_SHIFT, mem(c, param("beta").value)}};
    if (training) {
      mean_ = Tensor({channels_});
      variance_ = Tensor({channels_});
      args[DNNL_ARG_MEAN] = mem(c, mean_);
      args[DNNL_ARG_VARIANCE] = mem(c, variance_);
      k.fwd_train.execute(cpu_stream(), args);
      cpu_stream().wait();
      // Keras: moving = moving * momentum + batch * (1 - momentum).
      Tensor& mm = param("moving_mean").value;
      Tensor& mv = param("moving_variance").value;
      for (int64_t i = 0; i < channels_; ++i) {
        mm[i] = mm[i] * momentum_ + mean_[i] * (1.0f - momentum_);
        mv[i] = mv[i] * momentum_ + variance_[i] * (1.0f - momentum_);
      }
      x_ = x;
    } else {
      args[DNNL_ARG_MEAN] = mem(c, param("moving_mean").value);
      args[DNNL_ARG_VARIANCE] = mem(c, param("moving_variance").value);
      k.fwd_infer.execute(cpu_stream(), args);
      cpu_stream().wait();
    }
    return y;
  }

  std::vector<Tensor> backward(const Tensor& dy) override {
    int64_t n = dy.dim(0);
    auto& k = kernels(n);
    Tensor dx(dy.shape());
    memory::desc c({channels_}, dt::f32, tag::a);
    k.bwd.execute(cpu_stream(), {{DNNL_ARG_SRC, mem(k.data, x_)}, {DNNL_ARG_DIFF_DST, mem(k.data, dy)},
                                 {DNNL_ARG_MEAN, mem(c, mean_)}, {DNNL_ARG_VARIANCE, mem(c, variance_)},
                                 {DNNL_ARG_SCALE, mem(c, param("gamma").value)},
                                 {DNNL_ARG_SHIFT, mem(c, param("beta").value)},  // oneDNN 2.x requires it
                                 {DNNL_ARG_DIFF_SRC, mem(k.data, dx)},
                                 {DNNL_ARG_DIFF_SCALE, mem(c, param("gamma").grad)},
                                 {DNNL_ARG_DIFF_SHIFT, mem(c, param("beta").grad)}});
    cpu_stream().wait();
    return {dx};
  }

  void to_onnx(onnxio::GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    // ONNX normalizes over axis 1: NCHW for images, [N, C] for features.
    std::string x = in_.size() == 3 ? g.in_layout(in[0], onnxio::Layout::NCHW) : in[0];
    auto& node = g.add_node("BatchNormalization",
                            {x, g.add_initializer(name() + "_gamma", param("gamma").value),
                             g.add_initializer(name() + "_beta", param("beta").value),
                             g.add_initializer(name() + "_moving_mean", param("moving_mean").value),
                             g.add_initializer(name() + "_moving_variance", param("moving_variance").value)},
                            {out});
    onnxio::GraphBuilder::set_attr(node, "epsilon", epsilon_);
    g.set_layout(out, g.layout(x));
  }

 private:
  struct Kernels {
    memory::desc data;
    batch_normalization_forward fwd_train, fwd_infer;
    batch_normalization_backward bwd;
  };
  Kernels& kernels(int64_t n) {
    auto it = cache_.find(n);
    if (it != cache_.end()) return it->second;
    memory::desc data = in_.size() == 3 ? nhwc_desc(n, in_[0], in_[1], in_[2]) : memory::desc({n, channels_}, dt::f32, tag::ab);
    auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
    batch_normalization_forward::primitive_desc train_pd(
        batch_normalization_forward::desc(prop_kind::forward_training, data, epsilon_, flags), cpu_engine());
    batch_normalization_forward::primitive_desc infer_pd(
        batch_normalization_forward::desc(prop_kind::forward_inference, data, epsilon_, flags | normalization_flags::use_global_stats),
        cpu_engine());
    batch_normalization_backward::primitive_desc bwd_pd(
        batch_normalization_backward::desc(prop_kind::backward, data, data, epsilon_, flags), cpu_engine(), train_pd);
    return cache_.emplace(n, Kernels{data, batch_normalization_forward(train_pd), batch_normalization_forward(infer_pd),
                                     batch_normalization_backward(bwd_pd)})
        .first->second;
  }

  float momentum_, epsilon_;
  Shape in_;
  int64_t channels_ = 0;
  Tensor x_, mean_, variance_;
  std::map<int64_t, Kernels> cache_;
};

}  // namespace

LayerRef BatchNormalization(const BatchNormOptions& options) { return LayerRef(std::make_shared<BatchNormLayer>(options)); }

}  // namespace litepipe::nn
