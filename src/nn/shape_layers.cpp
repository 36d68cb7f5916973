// Layers that move or scale values without a oneDNN primitive: Flatten, Reshape, Dropout,
// Rescaling, Add, Multiply, Concatenate, ZeroPadding2D, Normalization, CategoryEncoding.
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "core/error.h"
#include "nn/vector_clones.h"
#include "nn/layers.h"

namespace litepipe::nn {
namespace {

using onnxio::GraphBuilder;
using onnxio::Layout;

Shape with_batch(int64_t n, const Shape& s) {
  Shape r = {n};
  r.insert(r.end(), s.begin(), s.end());
  return r;
}

class ReshapeLayer final : public Layer {
 public:
  ReshapeLayer(std::string name, std::optional<Shape> target, std::string type)
      : Layer(std::move(name)), target_(std::move(target)), type_(std::move(type)) {}
  std::string type() const override { return type_; }
  nlohmann::json config() const override { return target_ ? nlohmann::json{{"target_shape", *target_}} : nlohmann::json::object(); }
  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1) fail("layer {}: {} takes one input", name(), type_);
    in_ = inputs[0];
    if (!target_) return out_ = {shape_size(in_)};
    out_ = *target_;
    int64_t known = 1, unknown = -1;
    for (size_t i = 0; i < out_.size(); ++i) {
      if (out_[i] == -1) {
        if (unknown >= 0) fail("layer {}: Reshape target {} has more than one -1", name(), shape_string(out_));
        unknown = static_cast<int64_t>(i);
      } else {
        known *= out_[i];
      }
    }
    if (unknown >= 0 && known > 0) out_[static_cast<size_t>(unknown)] = shape_size(in_) / known;
    if (shape_size(out_) != shape_size(in_)) {
      fail("layer {}: cannot reshape {} ({} values) to {}", name(), shape_string(in_), shape_size(in_), shape_string(*target_));
    }
    return out_;
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    return inputs[0].reshaped(with_batch(inputs[0].dim(0), out_));
  }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy.reshaped(with_batch(dy.dim(0), in_))}; }
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    std::string x = g.in_layout(in[0], Layout::NHWC);  // Keras order of values
    if (!target_) {
      auto& node = g.add_node("Flatten", {x}, {out});
      GraphBuilder::set_attr(node, "axis", int64_t{1});
    } else {
      std::vector<int64_t> shape = {-1};
      shape.insert(shape.end(), out_.begin(), out_.end());
      g.add_node("Reshape", {x, g.add_int64_initializer(name() + "_shape", shape)}, {out});
    }
    g.set_layout(out, out_.size() == 3 ? Layout::NHWC : Layout::Any);
  }

 private:
  std::optional<Shape> target_;
  std::string type_;
  Shape in_, out_;
};

// One row of inverted dropout: a value is kept (and scaled) where its random number reaches the
// threshold; a select over a row of numbers drawn beforehand, so that it vectorizes.
LITEPIPE_VECTOR_CLONES void dropout_row(const uint64_t* __restrict draws, const float* __restrict x, float* __restrict y, float* __restrict mask,
                                        int64_t n, uint64_t threshold, float scale) {
  for (int64_t i = 0; i < n; ++i) {
    const float keep = draws[i] >= threshold ? scale : 0.0f;
    mask[i] = keep;
    y[i] = x[i] * keep;
  }
}

class DropoutLayer final : public Layer {
 public:
  DropoutLayer(float rate, std::string name) : Layer(std::move(name)), rate_(rate) {
    if (rate < 0.0f || rate >= 1.0f) fail("layer {}: Dropout rate must be in [0, 1), got {}", this->name(), rate);
  }
  std::string type() const override { return "Dropout"; }
  nlohmann::json config() const override { return {{"rate", rate_}}; }
  Shape build(const std::vector<Shape>& inputs, Rng& rng) override {
    if (inputs.size() != 1) fail("layer {}: Dropout takes one input", name());
    rng_.seed(rng());  // its own stream, seeded from the global one: reproducible masks
    row_size_ = 1;
    for (int64_t d : inputs[0]) row_size_ *= d;
    draws_.resize(static_cast<size_t>(row_size_));
    return inputs[0];
  }
  void set_batch_rows(const std::vector<int64_t>& positions, int64_t rows) override {
    if (rate_ == 0.0f) return;
    if (positions.empty()) {  // no forward: the whole batch is skipped here
      rng_.discard(static_cast<unsigned long long>(rows * row_size_));
      return;
    }
    positions_ = positions;
    batch_rows_ = rows;
    next_ = 0;
    drawn_ = 0;
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    const Tensor& x = inputs[0];
    if (!training || rate_ == 0.0f) return x;
    // Inverted dropout: kept values are scaled by 1 / (1 - rate) so inference is the identity.
    mask_ = Tensor::uninitialized(x.shape());
    Tensor y = Tensor::uninitialized(x.shape());
    float scale = 1.0f / (1.0f - rate_);
    uint64_t threshold = static_cast<uint64_t>(static_cast<double>(rate_) * 18446744073709551616.0);
    const int64_t rows = x.size() / std::max<int64_t>(row_size_, 1);
    if (!positions_.empty() && next_ + static_cast<size_t>(rows) > positions_.size()) {
      fail("layer {}: a training forward of {} rows, but only {} of the batch's rows are left", name(), rows, positions_.size() - next_);
    }
    for (int64_t r = 0; r < rows; ++r) {
      // Row r is row positions_[next_] of the batch: skip the numbers of the rows before it.
      if (!positions_.empty()) {
        const int64_t position = positions_[next_++];
        rng_.discard(static_cast<unsigned long long>((position - drawn_) * row_size_));
        drawn_ = position + 1;
      }
      std::generate(draws_.begin(), draws_.end(), std::ref(rng_));
      const int64_t at = r * row_size_;
      dropout_row(draws_.data(), x.data() + at, y.data() + at, mask_.data() + at, row_size_, threshold, scale);
    }
    if (!positions_.empty() && next_ == positions_.size()) {  // the batch's last pass: skip to its end
      rng_.discard(static_cast<unsigned long long>((batch_rows_ - drawn_) * row_size_));
      positions_.clear();
    }
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    if (mask_.empty()) return {dy};
    Tensor dx = Tensor::uninitialized(dy.shape());
    for (int64_t i = 0; i < dy.size(); ++i) dx[i] = dy[i] * mask_[i];
    return {dx};
  }
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    g.add_node("Identity", {in[0]}, {out});  // inference: dropout does nothing
    g.set_layout(out, g.layout(in[0]));
  }

 private:
  float rate_;
  Rng rng_;
  Tensor mask_;
  int64_t row_size_ = 1;           // values per example
  std::vector<uint64_t> draws_;    // one row's random numbers
  std::vector<int64_t> positions_;  // the rows of the batch this process computes (set_batch_rows)
  int64_t batch_rows_ = 0;          // ... of so many
  size_t next_ = 0;                 // positions_[next_] is the next training forward's first row
  int64_t drawn_ = 0;               // the batch's rows whose numbers were drawn or skipped
};

class RescalingLayer final : public Layer {
 public:
  RescalingLayer(float scale, float offset, std::string name) : Layer(std::move(name)), scale_(scale), offset_(offset) {}
  std::string type() const override { return "Rescaling"; }
  nlohmann::json config() const override { return {{"scale", scale_}, {"offset", offset_}}; }
  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1) fail("layer {}: Rescaling takes one input", name());
    return inputs[0];
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    const Tensor& x = inputs[0];
    Tensor y(x.shape());
    for (int64_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale_ + offset_;
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx(dy.shape());
    for (int64_t i = 0; i < dy.size(); ++i) dx[i] = dy[i] * scale_;
    return {dx};
  }
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    std::string scaled = g.unique(name() + "_scaled");
    g.add_node("Mul", {in[0], g.add_initializer(name() + "_scale", &scale_, {})}, {scaled});
    g.add_node("Add", {scaled, g.add_initializer(name() + "_offset", &offset_, {})}, {out});
    g.set_layout(scaled, g.layout(in[0]));
    g.set_layout(out, g.layout(in[0]));
  }

 private:
  float scale_, offset_;
};

class AddLayer final : public Layer {
 public:
  explicit AddLayer(std::string name) : Layer(std::move(name)) {}
  std::string type() const override { return "Add"; }
  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() < 2) fail("layer {}: Add needs at least two inputs, got {}", name(), inputs.size());
    for (const auto& s : inputs) {
      if (s != inputs[0]) fail("layer {}: Add inputs must have the same shape, got {} and {}", name(), shape_string(inputs[0]), shape_string(s));
    }
    count_ = inputs.size();
    return inputs[0];
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    Tensor y = inputs[0].clone();
    for (size_t k = 1; k < inputs.size(); ++k)
      for (int64_t i = 0; i < y.size(); ++i) y[i] += inputs[k][i];
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override { return std::vector<Tensor>(count_, dy); }
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    Layout layout = g.layout(in[0]);
    std::string acc = in[0];
    for (size_t k = 1; k < in.size(); ++k) {
      std::string next = k + 1 == in.size() ? out : g.unique(name() + "_partial");
      g.add_node("Add", {acc, g.in_layout(in[k], layout)}, {next});
      g.set_layout(next, layout);
      acc = next;
    }
  }

 private:
  size_t count_ = 0;
};

// Keras's Multiply: y = x0 * x1 * ..., so dL/dxk = dy times the product of the other inputs.
class MultiplyLayer final : public Layer {
 public:
  explicit MultiplyLayer(std::string name) : Layer(std::move(name)) {}
  std::string type() const override { return "Multiply"; }
  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() < 2) fail("layer {}: Multiply needs at least two inputs, got {}", name(), inputs.size());
    for (const auto& s : inputs) {
      if (s != inputs[0]) fail("layer {}: Multiply inputs must have the same shape, got {} and {}", name(), shape_string(inputs[0]), shape_string(s));
    }
    return inputs[0];
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool training) override {
    Tensor y = inputs[0].clone();
    for (size_t k = 1; k < inputs.size(); ++k)
      for (int64_t i = 0; i < y.size(); ++i) y[i] *= inputs[k][i];
    if (training) x_ = inputs;
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    // Products of the others, not y / xk: an input may be 0.
    std::vector<Tensor> dx;
    for (size_t k = 0; k < x_.size(); ++k) {
      Tensor g = dy.clone();
      for (size_t j = 0; j < x_.size(); ++j) {
        if (j == k) continue;
        for (int64_t i = 0; i < g.size(); ++i) g[i] *= x_[j][i];
      }
      dx.push_back(g);
    }
    return dx;
  }
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    Layout layout = g.layout(in[0]);
    std::string acc = in[0];
    for (size_t k = 1; k < in.size(); ++k) {
      std::string next = k + 1 == in.size() ? out : g.unique(name() + "_partial");
      g.add_node("Mul", {acc, g.in_layout(in[k], layout)}, {next});
      g.set_layout(next, layout);
      acc = next;
    }
  }

 private:
  std::vector<Tensor> x_;
};

// Keras's ZeroPadding2D: zero rows above and below, zero columns left and right of each
// [height, width, channels] example.
class ZeroPadding2DLayer final : public Layer {
 public:
  ZeroPadding2DLayer(const std::vector<int64_t>& padding, std::string name) : Layer(std::move(name)) {
    if (padding.size() == 1) top_ = bottom_ = left_ = right_ = padding[0];
    else if (padding.size() == 2) top_ = bottom_ = padding[0], left_ = right_ = padding[1];
    else if (padding.size() == 4) top_ = padding[0], bottom_ = padding[1], left_ = padding[2], right_ = padding[3];
    else fail("layer {}: ZeroPadding2D padding takes 1 value, 2 (rows, cols) or 4 (top, bottom, left, right), got {}", this->name(), padding.size());
    if (top_ < 0 || bottom_ < 0 || left_ < 0 || right_ < 0) {
      fail("layer {}: ZeroPadding2D padding must be >= 0, got top {}, bottom {}, left {}, right {}", this->name(), top_, bottom_, left_, right_);
    }
  }
  std::string type() const override { return "ZeroPadding2D"; }
  nlohmann::json config() const override {
    return {{"padding", nlohmann::json::array({nlohmann::json::array({top_, bottom_}), nlohmann::json::array({left_, right_})})}};
  }
  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1 || inputs[0].size() != 3) {
      fail("layer {}: ZeroPadding2D expects one input of shape [height, width, channels], got {}", name(), inputs.empty() ? "none" : shape_string(inputs[0]));
    }
    in_ = inputs[0];
    out_ = {in_[0] + top_ + bottom_, in_[1] + left_ + right_, in_[2]};
    return out_;
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    const Tensor& x = inputs[0];
    Tensor y(with_batch(x.dim(0), out_));
    const int64_t c = in_[2], row_in = in_[1] * c, row_out = out_[1] * c;
    for (int64_t b = 0; b < x.dim(0); ++b)
      for (int64_t r = 0; r < in_[0]; ++r) {
        std::copy_n(x.data() + (b * in_[0] + r) * row_in, row_in, y.data() + (b * out_[0] + r + top_) * row_out + left_ * c);
      }
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx(with_batch(dy.dim(0), in_));
    const int64_t c = in_[2], row_in = in_[1] * c, row_out = out_[1] * c;
    for (int64_t b = 0; b < dy.dim(0); ++b)
      for (int64_t r = 0; r < in_[0]; ++r) {
        std::copy_n(dy.data() + (b * out_[0] + r + top_) * row_out + left_ * c, row_in, dx.data() + (b * in_[0] + r) * row_in);
      }
    return {dx};
  }
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    // Padded in whichever layout the input has: no transpose around a Pad between convolutions.
    const Layout layout = g.layout(in[0]) == Layout::NCHW ? Layout::NCHW : Layout::NHWC;
    // ONNX pads: every axis's begin, then every axis's end.
    std::vector<int64_t> pads = layout == Layout::NCHW ? std::vector<int64_t>{0, 0, top_, left_, 0, 0, bottom_, right_}
                                                       : std::vector<int64_t>{0, top_, left_, 0, 0, bottom_, right_, 0};
    g.add_node("Pad", {in[0], g.add_int64_initializer(name() + "_pads", pads)}, {out});
    g.set_layout(out, layout);
  }

 private:
  int64_t top_ = 0, bottom_ = 0, left_ = 0, right_ = 0;
  Shape in_, out_;
};

// Keras's Concatenate: joins its inputs along the last axis (all other dimensions equal).
class ConcatenateLayer final : public Layer {
 public:
  explicit ConcatenateLayer(std::string name) : Layer(std::move(name)) {}
  std::string type() const override { return "Concatenate"; }
  nlohmann::json config() const override { return {{"axis", -1}}; }
  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() < 2) fail("layer {}: Concatenate needs at least two inputs, got {}", name(), inputs.size());
    Shape out = inputs[0];
    if (out.empty()) fail("layer {}: Concatenate inputs need at least one dimension besides the batch", name());
    widths_.clear();
    for (size_t k = 0; k < inputs.size(); ++k) {
      const Shape& s = inputs[k];
      if (s.size() != out.size() || !std::equal(s.begin(), s.end() - 1, inputs[0].begin())) {
        fail("layer {}: Concatenate inputs must match in all but the last axis, got {} and {}", name(), shape_string(inputs[0]), shape_string(s));
      }
      widths_.push_back(s.back());
      if (k > 0) out.back() += s.back();
    }
    return out;
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    Shape shape = inputs[0].shape();
    int64_t total = 0;
    for (int64_t w : widths_) total += w;
    shape.back() = total;
    Tensor y(shape);
    int64_t rows = y.size() / total, offset = 0;
    for (size_t k = 0; k < inputs.size(); ++k) {
      int64_t w = widths_[k];
      for (int64_t r = 0; r < rows; ++r) std::copy_n(inputs[k].data() + r * w, w, y.data() + r * total + offset);
      offset += w;
    }
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    int64_t total = dy.shape().back(), rows = dy.size() / total, offset = 0;
    std::vector<Tensor> dx;
    for (int64_t w : widths_) {
      Shape s = dy.shape();
      s.back() = w;
      Tensor g(s);
      for (int64_t r = 0; r < rows; ++r) std::copy_n(dy.data() + r * total + offset, w, g.data() + r * w);
      dx.push_back(g);
      offset += w;
    }
    return dx;
  }
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    std::vector<std::string> nhwc;
    for (const auto& i : in) nhwc.push_back(g.in_layout(i, Layout::NHWC));
    auto& node = g.add_node("Concat", nhwc, {out});
    GraphBuilder::set_attr(node, "axis", int64_t{-1});
    g.set_layout(out, g.layout(nhwc[0]));
  }

 private:
  std::vector<int64_t> widths_;
};

// Keras's Normalization with given statistics: (x - mean) / sqrt(variance), per feature of the
// last axis (or one value for all).
class NormalizationLayer final : public Layer {
 public:
  NormalizationLayer(std::vector<float> mean, std::vector<float> variance, std::string name)
      : Layer(std::move(name)), mean_(std::move(mean)), variance_(std::move(variance)) {}
  std::string type() const override { return "Normalization"; }
  nlohmann::json config() const override { return {{"mean", mean_}, {"variance", variance_}}; }
  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1 || inputs[0].empty()) fail("layer {}: Normalization takes one input with a feature axis", name());
    int64_t features = inputs[0].back();
    auto expand = [&](std::vector<float>& v, const char* what) {
      if (v.size() == 1) v.assign(static_cast<size_t>(features), v[0]);
      if (static_cast<int64_t>(v.size()) != features) fail("layer {}: {} has {} values for {} features", name(), what, v.size(), features);
    };
    expand(mean_, "mean");
    expand(variance_, "variance");
    scale_.clear();
    offset_.clear();
    for (size_t i = 0; i < mean_.size(); ++i) {
      if (!(variance_[i] >= 0)) fail("layer {}: variance[{}] is {}, expected >= 0", name(), i, variance_[i]);
      // Keras divides by max(sqrt(variance), epsilon).
      float scale = 1.0f / std::max(std::sqrt(variance_[i]), 1e-7f);
      scale_.push_back(scale);
      offset_.push_back(-mean_[i] * scale);
    }
    return inputs[0];
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    const Tensor& x = inputs[0];
    Tensor y(x.shape());
    auto n = static_cast<int64_t>(scale_.size());
    for (int64_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale_[static_cast<size_t>(i % n)] + offset_[static_cast<size_t>(i % n)];
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx(dy.shape());
    auto n = static_cast<int64_t>(scale_.size());
    for (int64_t i = 0; i < dy.size(); ++i) dx[i] = dy[i] * scale_[static_cast<size_t>(i % n)];
    return {dx};
  }
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    std::string x = g.in_layout(in[0], Layout::NHWC);
    auto n = static_cast<int64_t>(scale_.size());
    std::string scaled = g.unique(name() + "_scaled");
    g.add_node("Mul", {x, g.add_initializer(name() + "_scale", scale_.data(), {n})}, {scaled});
    g.add_node("Add", {scaled, g.add_initializer(name() + "_offset", offset_.data(), {n})}, {out});
    g.set_layout(scaled, g.layout(x));
    g.set_layout(out, g.layout(x));
  }

 private:
  std::vector<float> mean_, variance_, scale_, offset_;
};

// Keras's CategoryEncoding(output_mode="one_hot"): an integer id in [0, num_tokens) becomes a
// one-hot row. Exported as relu(1 - (x - k)^2) for k = 0..num_tokens-1, which is exactly the
// one-hot of an integer x and uses only ops every runtime (and int8 TFLite) has.
class CategoryEncodingLayer final : public Layer {
 public:
  CategoryEncodingLayer(int64_t num_tokens, std::string name) : Layer(std::move(name)), num_tokens_(num_tokens) {
    if (num_tokens_ < 1) fail("layer {}: CategoryEncoding needs num_tokens >= 1, got {}", this->name(), num_tokens_);
  }
  std::string type() const override { return "CategoryEncoding"; }
  nlohmann::json config() const override { return {{"num_tokens", num_tokens_}, {"output_mode", "one_hot"}}; }
  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1 || inputs[0] != Shape{1}) fail("layer {}: CategoryEncoding takes one id per example (shape [1])", name());
    return {num_tokens_};
  }
  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    const Tensor& x = inputs[0];
    Tensor y({x.dim(0), num_tokens_});
    for (int64_t r = 0; r < x.dim(0); ++r) {
      float v = x[r];
      if (v >= 0 && v < static_cast<float>(num_tokens_) && v == std::floor(v)) y[r * num_tokens_ + static_cast<int64_t>(v)] = 1.0f;
    }
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override { return {Tensor({dy.dim(0), 1})}; }  // ids carry no gradient
  void to_onnx(GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    std::vector<float> ids(static_cast<size_t>(num_tokens_));
    for (int64_t k = 0; k < num_tokens_; ++k) ids[static_cast<size_t>(k)] = static_cast<float>(k);
    float one = 1.0f;
    std::string diff = g.unique(name() + "_diff"), square = g.unique(name() + "_square"), rest = g.unique(name() + "_rest");
    g.add_node("Sub", {in[0], g.add_initializer(name() + "_ids", ids.data(), {num_tokens_})}, {diff});
    g.add_node("Mul", {diff, diff}, {square});
    g.add_node("Sub", {g.add_initializer(name() + "_one", &one, {}), square}, {rest});
    g.add_node("Relu", {rest}, {out});
  }

 private:
  int64_t num_tokens_;
};

}  // namespace

LayerRef CategoryEncoding(int64_t num_tokens, std::string name) {
  return LayerRef(std::make_shared<CategoryEncodingLayer>(num_tokens, name.empty() ? default_layer_name("category_encoding") : name));
}

LayerRef Concatenate(std::string name) {
  return LayerRef(std::make_shared<ConcatenateLayer>(name.empty() ? default_layer_name("concatenate") : name));
}
LayerRef Normalization(std::vector<float> mean, std::vector<float> variance, std::string name) {
  return LayerRef(std::make_shared<NormalizationLayer>(std::move(mean), std::move(variance), name.empty() ? default_layer_name("normalization") : name));
}

LayerRef Flatten(std::string name) {
  return LayerRef(std::make_shared<ReshapeLayer>(name.empty() ? default_layer_name("flatten") : name, std::nullopt, "Flatten"));
}
LayerRef Reshape(Shape target, std::string name) {
  return LayerRef(std::make_shared<ReshapeLayer>(name.empty() ? default_layer_name("reshape") : name, std::move(target), "Reshape"));
}
LayerRef Dropout(float rate, std::string name) {
  return LayerRef(std::make_shared<DropoutLayer>(rate, name.empty() ? default_layer_name("dropout") : name));
}
LayerRef Rescaling(float scale, float offset, std::string name) {
  return LayerRef(std::make_shared<RescalingLayer>(scale, offset, name.empty() ? default_layer_name("rescaling") : name));
}
LayerRef Add(std::string name) {
  return LayerRef(std::make_shared<AddLayer>(name.empty() ? default_layer_name("add") : name));
}
LayerRef Multiply(std::string name) {
  return LayerRef(std::make_shared<MultiplyLayer>(name.empty() ? default_layer_name("multiply") : name));
}
LayerRef ZeroPadding2D(std::vector<int64_t> padding, std::string name) {
  return LayerRef(std::make_shared<ZeroPadding2DLayer>(padding, name.empty() ? default_layer_name("zero_padding2d") : name));
}

}  // namespace litepipe::nn
