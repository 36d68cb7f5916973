// BatchNormalization (inference): y = x * scale / sqrt(var + eps) + (B - mean * that), per channel
// (axis 1). With constant parameters, as exported models have, the per-channel multiplier and
// offset are folded once at load.
#include <cmath>

#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

struct BatchNormData : OpData {
  float epsilon = 1e-5f;
  std::vector<float> mul, add;  // folded at load; empty when a parameter is computed
};

struct BatchNormScratch : NodeScratch {
  std::vector<float> mul, add;
};

// The folded multiplier and offset of `channels` channels; an Error when a parameter has fewer.
void fold(const Node& node, const Tensor& scale, const Tensor& bias, const Tensor& mean, const Tensor& var, float epsilon, int64_t channels,
          std::vector<float>& mul, std::vector<float>& add) {
  for (const Tensor* t : {&scale, &bias, &mean, &var}) {
    if (t->size() != channels) node.fail("scale, B, mean and var need {} values each (the channels), got {}", channels, nn::shape_string(t->shape()));
  }
  mul.resize(static_cast<size_t>(channels));
  add.resize(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    mul[static_cast<size_t>(c)] = scale[c] / std::sqrt(var[c] + epsilon);
    add[static_cast<size_t>(c)] = bias[c] - mean[c] * mul[static_cast<size_t>(c)];
  }
}

std::unique_ptr<OpData> prepare(PrepareContext& ctx) {
  auto d = std::make_unique<BatchNormData>();
  d->epsilon = ctx.attr_float("epsilon", 1e-5f);
  const Tensor *scale = ctx.constant_input(1), *bias = ctx.constant_input(2), *mean = ctx.constant_input(3), *var = ctx.constant_input(4);
  if (scale && bias && mean && var) fold(ctx.node(), *scale, *bias, *mean, *var, d->epsilon, scale->size(), d->mul, d->add);
  return d;
}

void eval(const Node& node, Frame& frame) {
  const auto& d = node.op_data<BatchNormData>();
  const Tensor& x = frame.input(node, 0);
  if (x.rank() < 2) node.fail("expects an input [N, C, ...], got {}", nn::shape_string(x.shape()));
  const int64_t nb = x.dim(0), c = x.dim(1), inner = nb * c == 0 ? 0 : x.size() / (nb * c);
  const std::vector<float>* mul = &d.mul;
  const std::vector<float>* add = &d.add;
  if (d.mul.empty()) {
    auto& s = frame.scratch<BatchNormScratch>(node);
    fold(node, frame.input(node, 1), frame.input(node, 2), frame.input(node, 3), frame.input(node, 4), d.epsilon, c, s.mul, s.add);
    mul = &s.mul;
    add = &s.add;
  } else if (static_cast<int64_t>(d.mul.size()) != c) {
    node.fail("the input {} has {} channels; scale, B, mean and var have {}", nn::shape_string(x.shape()), c, d.mul.size());
  }
  float* out = frame.output(node, x.shape()).data();
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float m = (*mul)[static_cast<size_t>(ch)], a = (*add)[static_cast<size_t>(ch)];
      const float* p = x.data() + (b * c + ch) * inner;
      float* q = out + (b * c + ch) * inner;
      for (int64_t j = 0; j < inner; ++j) q[j] = p[j] * m + a;
    }
}

}  // namespace

const Kernel& batch_normalization() {
  static const Kernel kernel{"BatchNormalization", 5, prepare, eval};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
