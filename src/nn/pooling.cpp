// MaxPooling2D, AveragePooling2D (padding excluded from averages, as TensorFlow),
// GlobalAveragePooling2D and GlobalMaxPooling2D on NHWC activations: oneDNN pooling
// forward/backward per batch size (a global pool is one window over the whole input), except
// windowed max pooling, written here (MaxPool2DKernel).
#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

#include "nn/conv_util.h"
#include "nn/dnnl_util.h"
#include "core/error.h"
#include "nn/layers.h"
#include "nn/sequence_1d.h"
#include "nn/vector_clones.h"

namespace litepipe::nn {
namespace {

using namespace dnnl;

// Max pooling on NHWC: each output pixel is the channel-wise maximum of the window's input pixels
// (padding ignored, as TensorFlow), vectorized over channels. A training forward also records
// each output value's winner, its window position (the first holding the maximum, as oneDNN and
// TensorFlow pick), so that backward reads 4 bytes per output instead of the whole input again.
// oneDNN 2.6's NHWC max pooling ran at ~1.3 GB/s here, as long as the convolution beside it.
class MaxPool2DKernel {
 public:
  // No winner: the window's maximum is NaN, or (relu_mask) not above zero.
  static constexpr uint32_t kNoWinner = UINT32_MAX;

  void configure(const Shape& in, std::vector<int64_t> pool, std::vector<int64_t> strides, Window1D h, Window1D w) {
    in_ = in;
    pool_ = std::move(pool);
    strides_ = std::move(strides);
    h_ = h;
    w_ = w;
    // Windows that do not overlap (stride >= pool, Keras's default) let backward write each input
    // pixel once instead of zeroing the gradient and adding into it; pixels outside every window
    // (a remainder row or column) are zeroed on their own.
    disjoint_ = strides_[0] >= pool_[0] && strides_[1] >= pool_[1];
    auto covered = [](const Window1D& win, int64_t size, int64_t pool, int64_t stride) {
      std::vector<char> in_window(static_cast<size_t>(size), 0);
      for (int64_t o = 0; o < win.out; ++o)
        for (int64_t i = std::max<int64_t>(o * stride - win.pad_before, 0); i < std::min(o * stride - win.pad_before + pool, size); ++i)
          in_window[static_cast<size_t>(i)] = 1;
      return in_window;
    };
    row_in_window_ = covered(h_, in_[0], pool_[0], strides_[0]);
    column_in_window_ = covered(w_, in_[1], pool_[1], strides_[1]);
  }

  // winners: null for inference, else one per output value. relu_mask: a window whose maximum is
  // not above zero has no winner, which is also the backward of a ReLU that produced x.
  void forward(const Tensor& x, Tensor& y, uint32_t* winners, bool relu_mask) const {
    const int64_t n = x.dim(0), oh = h_.out;
#pragma omp parallel for
    for (int64_t row = 0; row < n * oh; ++row) {
      if (winners) forward_row<true>(row, x.data(), y.data(), winners, relu_mask);
      else forward_row<false>(row, x.data(), y.data(), nullptr, false);
    }
  }

  // dx = dy routed to each window's winner (dx's previous values are overwritten).
  void backward(const uint32_t* winners, const Tensor& dy, Tensor& dx) const {
    const int64_t n = dx.dim(0);
    // One image per task: overlapping windows add into the same input pixels of their image only.
#pragma omp parallel for
    for (int64_t b = 0; b < n; ++b) {
      if (disjoint_) backward_image<true>(b, winners, dy.data(), dx.data());
      else backward_image<false>(b, winners, dy.data(), dx.data());
    }
  }

 private:
  // Output row `row` (of all images' rows). Comparisons rather than branches, so that the
  // compiler vectorizes over channels; a NaN after a window's first pixel never wins (TensorFlow).
  template <bool kRecordWinners>
  LITEPIPE_VECTOR_CLONES void forward_row(int64_t row, const float* src, float* dst, uint32_t* winners, bool relu_mask) const {
    const int64_t ih = in_[0], iw = in_[1], c = in_[2], oh = h_.out, ow = w_.out;
    const int64_t b = row / oh, top = (row % oh) * strides_[0] - h_.pad_before;
    const int64_t y0 = std::max<int64_t>(top, 0), y1 = std::min<int64_t>(top + pool_[0], ih);
    for (int64_t ox = 0; ox < ow; ++ox) {
      const int64_t left = ox * strides_[1] - w_.pad_before;
      const int64_t x0 = std::max<int64_t>(left, 0), x1 = std::min<int64_t>(left + pool_[1], iw);
      float* __restrict out = dst + (row * ow + ox) * c;
      uint32_t* __restrict win = kRecordWinners ? winners + (row * ow + ox) * c : nullptr;
      std::copy_n(src + ((b * ih + y0) * iw + x0) * c, c, out);
      if constexpr (kRecordWinners) std::fill_n(win, c, static_cast<uint32_t>((y0 - top) * pool_[1] + (x0 - left)));
      for (int64_t iy = y0; iy < y1; ++iy) {
        for (int64_t ix = iy == y0 ? x0 + 1 : x0; ix < x1; ++ix) {
          const float* __restrict in = src + ((b * ih + iy) * iw + ix) * c;
          if constexpr (kRecordWinners) {
            const auto position = static_cast<uint32_t>((iy - top) * pool_[1] + (ix - left));
            for (int64_t k = 0; k < c; ++k) {
              const bool larger = in[k] > out[k];
              out[k] = larger ? in[k] : out[k];
              win[k] = larger ? position : win[k];
            }
          } else {
            for (int64_t k = 0; k < c; ++k) out[k] = in[k] > out[k] ? in[k] : out[k];
          }
        }
      }
      if constexpr (kRecordWinners) {
        for (int64_t k = 0; k < c; ++k) {
          const bool wins = relu_mask ? out[k] > 0.0f : out[k] == out[k];
          win[k] = wins ? win[k] : kNoWinner;
        }
      }
    }
  }

  // kDisjoint: each input pixel lies in at most one window, so the gradient is written, not added.
  template <bool kDisjoint>
  LITEPIPE_VECTOR_CLONES void backward_image(int64_t b, const uint32_t* winners, const float* grad, float* out) const {
    const int64_t ih = in_[0], iw = in_[1], c = in_[2], oh = h_.out, ow = w_.out;
    float* image = out + b * ih * iw * c;
    if constexpr (!kDisjoint) {
      std::fill_n(image, ih * iw * c, 0.0f);
    } else {
      for (int64_t iy = 0; iy < ih; ++iy)
        for (int64_t ix = 0; ix < iw; ++ix)
          if (!row_in_window_[static_cast<size_t>(iy)] || !column_in_window_[static_cast<size_t>(ix)]) std::fill_n(image + (iy * iw + ix) * c, c, 0.0f);
    }
    for (int64_t oy = 0; oy < oh; ++oy) {
      const int64_t top = oy * strides_[0] - h_.pad_before;
      const int64_t y0 = std::max<int64_t>(top, 0), y1 = std::min<int64_t>(top + pool_[0], ih);
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t left = ox * strides_[1] - w_.pad_before;
        const int64_t x0 = std::max<int64_t>(left, 0), x1 = std::min<int64_t>(left + pool_[1], iw);
        const int64_t at = ((b * oh + oy) * ow + ox) * c;
        const uint32_t* __restrict win = winners + at;
        const float* __restrict window_grad = grad + at;
        for (int64_t iy = y0; iy < y1; ++iy) {
          for (int64_t ix = x0; ix < x1; ++ix) {
            const auto position = static_cast<uint32_t>((iy - top) * pool_[1] + (ix - left));
            float* __restrict to = out + ((b * ih + iy) * iw + ix) * c;
            for (int64_t k = 0; k < c; ++k) {
              const float routed = win[k] == position ? window_grad[k] : 0.0f;
              to[k] = kDisjoint ? routed : to[k] + routed;
            }
          }
        }
      }
    }
  }

  Shape in_;
  std::vector<int64_t> pool_, strides_;
  Window1D h_{}, w_{};
  bool disjoint_ = false;
  std::vector<char> row_in_window_, column_in_window_;
};

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
    own_max_ = kind_ == Kind::Max;
    if (own_max_) max_.configure(in_, pool_, strides_, h_, w_);
    return global() ? Shape{in_[2]} : Shape{h_.out, w_.out, in_[2]};
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& x = inputs[0];
    int64_t n = x.dim(0);
    if (own_max_) {
      Tensor y = Tensor::uninitialized({n, h_.out, w_.out, in_[2]});
      if (training) winners_.resize(static_cast<size_t>(y.size()));
      max_.forward(x, y, training ? winners_.data() : nullptr, masks_relu_);
      return y;
    }
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

  bool can_mask_relu_gradient() const override { return own_max_; }
  void set_masks_relu_gradient(bool on) override { masks_relu_ = on && own_max_; }

  std::vector<Tensor> backward(const Tensor& dy) override {
    int64_t n = dy.dim(0);
    if (own_max_) {
      if (static_cast<size_t>(dy.size()) != winners_.size()) fail("layer {}: backward without a training forward of its batch", name());
      Tensor dx = Tensor::uninitialized({n, in_[0], in_[1], in_[2]});
      max_.backward(winners_.data(), dy, dx);
      return {dx};
    }
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
  bool own_max_ = false;  // windowed max pooling runs MaxPool2DKernel, not oneDNN
  bool masks_relu_ = false;  // no winner where the maximum is <= 0: the producer's ReLU backward (Layer::ends_with_relu)
  MaxPool2DKernel max_;
  std::vector<uint32_t> winners_;  // of the last training forward (MaxPool2DKernel's backward)
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
