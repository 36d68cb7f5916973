// UpSampling2D (nearest) on NHWC activations: oneDNN resampling forward / backward per batch size.
// With whole-number factors every rounding convention (TF's half-pixel centres, ONNX's asymmetric
// floor, oneDNN's) picks the same source pixel: output row y reads input row y / factor.
#include "core/error.h"
#include "nn/dnnl_util.h"
#include "nn/layers.h"

namespace litepipe::nn {
namespace {

using namespace dnnl;

class UpSampling2DLayer final : public Layer {
 public:
  UpSampling2DLayer(std::vector<int64_t> size, const std::string& interpolation, std::string name)
      : Layer(name.empty() ? default_layer_name("up_sampling2d") : std::move(name)), size_(std::move(size)) {
    if (size_.size() == 1) size_.push_back(size_[0]);
    if (size_.size() != 2 || size_[0] < 1 || size_[1] < 1) fail("layer {}: UpSampling2D size must be 1 or 2 whole numbers >= 1", this->name());
    if (interpolation != "nearest") fail("layer {}: UpSampling2D interpolation '{}' is not supported (only 'nearest')", this->name(), interpolation);
  }
  std::string type() const override { return "UpSampling2D"; }
  nlohmann::json config() const override { return {{"size", size_}, {"interpolation", "nearest"}}; }

  Shape build(const std::vector<Shape>& inputs, Rng&) override {
    if (inputs.size() != 1 || inputs[0].size() != 3) {
      fail("layer {}: UpSampling2D expects one input of shape [height, width, channels], got {}", name(), inputs.empty() ? "none" : shape_string(inputs[0]));
    }
    in_ = inputs[0];
    out_ = {in_[0] * size_[0], in_[1] * size_[1], in_[2]};
    return out_;
  }

  Tensor forward(const std::vector<Tensor>& inputs, bool) override {
    const Tensor& x = inputs[0];
    auto& k = kernels(x.dim(0));
    Tensor y({x.dim(0), out_[0], out_[1], out_[2]});
    k.fwd.execute(cpu_stream(), {{DNNL_ARG_SRC, mem(k.src, x)}, {DNNL_ARG_DST, mem(k.dst, y)}});
    cpu_stream().wait();
    return y;
  }

  std::vector<Tensor> backward(const Tensor& dy) override {
    auto& k = kernels(dy.dim(0));
    Tensor dx({dy.dim(0), in_[0], in_[1], in_[2]});
    k.bwd.execute(cpu_stream(), {{DNNL_ARG_DIFF_DST, mem(k.dst, dy)}, {DNNL_ARG_DIFF_SRC, mem(k.src, dx)}});
    cpu_stream().wait();
    return {dx};
  }

  // ONNX Resize in NCHW (as exporters write it, and as OpenCV reads it): scales [1, 1, sh, sw].
  void to_onnx(onnxio::GraphBuilder& g, const std::vector<std::string>& in, const std::string& out) const override {
    const float scales[] = {1.0f, 1.0f, static_cast<float>(size_[0]), static_cast<float>(size_[1])};
    auto& node = g.add_node("Resize", {g.in_layout(in[0], onnxio::Layout::NCHW), "", g.add_initializer(name() + "_scales", scales, {4})}, {out});
    auto set_string = [&node](const char* key, const char* value) {
      auto* a = node.add_attribute();
      a->set_name(key);
      a->set_type(onnx::AttributeProto::STRING);
      a->set_s(value);
    };
    set_string("mode", "nearest");
    set_string("coordinate_transformation_mode", "asymmetric");
    set_string("nearest_mode", "floor");
    g.set_layout(out, onnxio::Layout::NCHW);
  }

 private:
  struct Kernels {
    memory::desc src, dst;
    resampling_forward fwd;
    resampling_backward bwd;
  };
  Kernels& kernels(int64_t n) {
    auto it = cache_.find(n);
    if (it != cache_.end()) return it->second;
    memory::desc src = nhwc_desc(n, in_[0], in_[1], in_[2]), dst = nhwc_desc(n, out_[0], out_[1], out_[2]);
    resampling_forward::primitive_desc fwd_pd(resampling_forward::desc(prop_kind::forward_training, algorithm::resampling_nearest, src, dst), cpu_engine());
    resampling_backward::primitive_desc bwd_pd(resampling_backward::desc(algorithm::resampling_nearest, src, dst), cpu_engine(), fwd_pd);
    return cache_.emplace(n, Kernels{src, dst, resampling_forward(fwd_pd), resampling_backward(bwd_pd)}).first->second;
  }

  std::vector<int64_t> size_;
  Shape in_, out_;
  std::map<int64_t, Kernels> cache_;
};

}  // namespace

LayerRef UpSampling2D(std::vector<int64_t> size, const std::string& interpolation, std::string name) {
  return LayerRef(std::make_shared<UpSampling2DLayer>(std::move(size), interpolation, std::move(name)));
}

}  // namespace litepipe::nn
