// MaxPooling2D, AveragePooling2D (padding excluded from averages, as TensorFlow),
// GlobalAveragePooling2D and GlobalMaxPooling2D on NHWC activations: oneDNN pooling
// forward/backward per batch size (a global pool is one window over the whole input).
#include "nn/conv_util.h"
#include "nn/dnnl_util.h"
#include "core/error.h"
#include "nn/layers.h"
#include "nn/sequence_1d.h"

namespace litepipe::nn {
namespace {

using namespace dnnl;

class PoolLayer : public Layer {
 public:
  enum class Kind { Max, Average, GlobalAverage, GlobalMax };
  PoolLayer(Kind kind, std::vector<int64_t> pool, const PoolOptions& o)
      : Layer(o.name.empty() ? default_layer_name(kind == Kind::Max ? "max_pooling2d"
                                                  : kind == Kind::Average ? "average_pooling2d"
                                                  : kind == Kind::GlobalMax ? "global_max_pooling2d"
                                                                          : "global_average_pooling2d")
                             : o.name),
        kind_(kind), pool_(std::move(pool)), strides_(o.strides.empty() ? pool_ : o.strides), padding_(o.padding) {
    if (pool_.size() == 1) pool_.push_back(pool_[0]);
    if (strides_.size() == 1) strides_.push_back(strides_[0]);
  }
  std::string type() const override {
    return kind_ == Kind::Max ? "MaxPooling2D" : kind_ == Kind::Average ? "AveragePooling2D"
           : kind_ == Kind::GlobalMax ? "GlobalMaxPooling2D" : "GlobalAveragePooling2D";
  }
  nlohmann::json config() const override {
    if (global()) return nlohmann::json::object();
    return {{"pool_size", pool_}, {"strides", strides_}, {"padding", padding_}};
  }

  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1 || inputs[0].size() != 3) {
      fail("layer {}: {} expects one input of shape [height, width, channels], got {}", name(), type(),
           inputs.empty() ? "none" : shape_string(inputs[0]));
    }
    in_ = inputs[0];
    if (global()) {
      pool_ = strides_ = {in_[0], in_[1]};
      padding_ = "valid";
    }
    try {
      h_ = window_1d(in_[0], pool_[0], strides_[0], padding_);
      w_ = window_1d(in_[1], pool_[1], strides_[1], padding_);
    } catch (const Error& e) {
      fail("layer {}: {}", name(), e.what());
    }
    return global() ? Shape{in_[2]} : Shape{h_.out, w_.out, in_[2]};
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& x = inputs[0];
    int64_t n = x.dim(0);
    auto& k = kernels(n);
    Tensor y({n, h_.out, w_.out, in_[2]});
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, mem(k.src, x)}, {DNNL_ARG_DST, mem(k.dst, y)}};
    if (is_max()) {
      if (training) {
        workspace_ = memory(k.fwd_pd.workspace_desc(), cpu_engine());
        args[DNNL_ARG_WORKSPACE] = workspace_;
      }
      (training ? k.fwd_train : k.fwd_infer).execute(cpu_stream(), args);
    } else {
      k.fwd_train.execute(cpu_stream(), args);
    }
    cpu_stream().wait();
    return global() ? y.reshaped({n, in_[2]}) : y;
  }

  std::vector<Tensor> backward(const Tensor& dy) override {
    int64_t n = dy.dim(0);
    auto& k = kernels(n);
    Tensor dx({n, in_[0], in_[1], in_[2]});
    std::unordered_map<int, memory> args = {{DNNL_ARG_DIFF_DST, mem(k.dst, dy)}, {DNNL_ARG_DIFF_SRC, mem(k.src, dx)}};
    if (is_max()) args[DNNL_ARG_WORKSPACE] = workspace_;
    k.bwd.execute(cpu_stream(), args);
    cpu_stream().wait();
    return {dx};
  }

  void to_onnx(onnxio::GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    std::string x = g.in_layout(in[0], onnxio::Layout::NCHW);
    if (global()) {
      std::string pooled = g.unique(name() + "_pooled");
      g.add_node(kind_ == Kind::GlobalMax ? "GlobalMaxPool" : "GlobalAveragePool", {x}, {pooled});
      auto& flatten = g.add_node("Flatten", {pooled}, {out});
      onnxio::GraphBuilder::set_attr(flatten, "axis", int64_t{1});
      return;
    }
    auto& node = g.add_node(kind_ == Kind::Max ? "MaxPool" : "AveragePool", {x}, {out});
    onnxio::GraphBuilder::set_attr(node, "kernel_shape", pool_);
    onnxio::GraphBuilder::set_attr(node, "strides", strides_);
    onnxio::GraphBuilder::set_attr(node, "pads", std::vector<int64_t>{h_.pad_before, w_.pad_before, h_.pad_after, w_.pad_after});
    if (kind_ == Kind::Average) onnxio::GraphBuilder::set_attr(node, "count_include_pad", int64_t{0});
    g.set_layout(out, onnxio::Layout::NCHW);
  }

 private:
  bool global() const { return kind_ == Kind::GlobalAverage || kind_ == Kind::GlobalMax; }
  bool is_max() const { return kind_ == Kind::Max || kind_ == Kind::GlobalMax; }
  struct Kernels {
    memory::desc src, dst;
    pooling_forward::primitive_desc fwd_pd;
    pooling_forward fwd_train, fwd_infer;
    pooling_backward bwd;
  };
  Kernels& kernels(int64_t n) {
    auto it = cache_.find(n);
    if (it != cache_.end()) return it->second;
    memory::desc src = nhwc_desc(n, in_[0], in_[1], in_[2]), dst = nhwc_desc(n, h_.out, w_.out, in_[2]);
    algorithm alg = is_max() ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding;
    memory::dims strides = {strides_[0], strides_[1]}, kernel = {pool_[0], pool_[1]},
                 pad_l = {h_.pad_before, w_.pad_before}, pad_r = {h_.pad_after, w_.pad_after};
    pooling_forward::primitive_desc train_pd(
        pooling_forward::desc(prop_kind::forward_training, alg, src, dst, strides, kernel, pad_l, pad_r), cpu_engine());
    pooling_forward::primitive_desc infer_pd(
        pooling_forward::desc(prop_kind::forward_inference, alg, src, dst, strides, kernel, pad_l, pad_r), cpu_engine());
    pooling_backward::primitive_desc bwd_pd(pooling_backward::desc(alg, src, dst, strides, kernel, pad_l, pad_r),
                                            cpu_engine(), train_pd);
    return cache_.emplace(n, Kernels{src, dst, train_pd, pooling_forward(train_pd), pooling_forward(infer_pd),
                                     pooling_backward(bwd_pd)})
        .first->second;
  }

  Kind kind_;
  std::vector<int64_t> pool_, strides_;
  std::string padding_;
  Shape in_;
  Window1D h_{}, w_{};
  memory workspace_;
  std::map<int64_t, Kernels> cache_;
};

}  // namespace

LayerRef MaxPooling2D(std::vector<int64_t> pool_size, const PoolOptions& options) {
  return LayerRef(std::make_shared<PoolLayer>(PoolLayer::Kind::Max, std::move(pool_size), options));
}
LayerRef AveragePooling2D(std::vector<int64_t> pool_size, const PoolOptions& options) {
  return LayerRef(std::make_shared<PoolLayer>(PoolLayer::Kind::Average, std::move(pool_size), options));
}
LayerRef MaxPooling1D(int64_t pool_size, const Pool1DOptions& o) {
  return LayerRef(std::make_shared<Sequence1D<PoolLayer>>(
      "MaxPooling1D", PoolLayer::Kind::Max, std::vector<int64_t>{1, pool_size},
      PoolOptions{.strides = {1, o.strides > 0 ? o.strides : pool_size}, .padding = o.padding,
                  .name = o.name.empty() ? default_layer_name("max_pooling1d") : o.name}));
}
LayerRef AveragePooling1D(int64_t pool_size, const Pool1DOptions& o) {
  return LayerRef(std::make_shared<Sequence1D<PoolLayer>>(
      "AveragePooling1D", PoolLayer::Kind::Average, std::vector<int64_t>{1, pool_size},
      PoolOptions{.strides = {1, o.strides > 0 ? o.strides : pool_size}, .padding = o.padding,
                  .name = o.name.empty() ? default_layer_name("average_pooling1d") : o.name}));
}
LayerRef GlobalAveragePooling2D(std::string name) {
  PoolOptions o;
  o.name = std::move(name);
  return LayerRef(std::make_shared<PoolLayer>(PoolLayer::Kind::GlobalAverage, std::vector<int64_t>{1, 1}, o));
}
LayerRef GlobalMaxPooling2D(std::string name) {
  PoolOptions o;
  o.name = std::move(name);
  return LayerRef(std::make_shared<PoolLayer>(PoolLayer::Kind::GlobalMax, std::vector<int64_t>{1, 1}, o));
}

}  // namespace litepipe::nn
