// Softmax over the last axis (the only one litepipe's models use), max-subtracted.
#include <algorithm>
#include <cmath>

#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

struct SoftmaxData : OpData {
  int64_t axis = -1;
};

std::unique_ptr<OpData> prepare(PrepareContext& ctx) {
  auto d = std::make_unique<SoftmaxData>();
  d->axis = ctx.attr_int("axis", -1);
  return d;
}

void eval(const Node& node, Frame& frame) {
  const Tensor& x = frame.input(node, 0);
  const auto rank = static_cast<int64_t>(x.rank());
  int64_t axis = node.op_data<SoftmaxData>().axis;
  if (axis < 0) axis += rank;
  if (rank == 0 || axis != rank - 1) node.fail("softmax over axis {} (only the last axis is supported)", axis);
  const int64_t c = x.shape().back(), rows = c == 0 ? 0 : x.size() / c;
  float* out = frame.output(node, x.shape()).data();
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = x.data() + r * c;
    float* q = out + r * c;
    const float m = *std::max_element(p, p + c);
    float sum = 0;
    for (int64_t k = 0; k < c; ++k) sum += q[k] = std::exp(p[k] - m);
    for (int64_t k = 0; k < c; ++k) q[k] /= sum;
  }
}

}  // namespace

const Kernel& softmax() {
  static const Kernel kernel{"Softmax", 1, prepare, eval};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
