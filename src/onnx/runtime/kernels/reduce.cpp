// ReduceMean and ReduceMax over one axis (attribute `axes`, as opset 13), keepdims or not.
#include <algorithm>
#include <cmath>

#include "onnx/runtime/kernels/kernel_util.h"
#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

struct ReduceData : OpData {
  int64_t axis = 0;  // as given: normalized against the input's rank on each call
  bool keepdims = true;
};

std::unique_ptr<OpData> prepare(PrepareContext& ctx) {
  auto d = std::make_unique<ReduceData>();
  const onnx::AttributeProto* axes = ctx.attr("axes");
  if (!axes || axes->ints_size() != 1) ctx.fail("one reduction axis is supported");
  d->axis = axes->ints(0);
  d->keepdims = ctx.attr_int("keepdims", 1) != 0;
  return d;
}

template <bool kMax>
void eval(const Node& node, Frame& frame) {
  const auto& d = node.op_data<ReduceData>();
  const Tensor& x = frame.input(node, 0);
  const int64_t axis = normalized_axis(node, d.axis, x.rank());
  int64_t outer = 1, inner = 1;
  const int64_t steps = x.dim(static_cast<size_t>(axis));
  for (int64_t i = 0; i < axis; ++i) outer *= x.dim(static_cast<size_t>(i));
  for (size_t i = static_cast<size_t>(axis) + 1; i < x.rank(); ++i) inner *= x.dim(i);
  Shape& shape = frame.scratch<DimsScratch>(node).dims;
  shape = x.shape();
  if (d.keepdims) shape[static_cast<size_t>(axis)] = 1;
  else shape.erase(shape.begin() + axis);
  if (kMax && steps == 0) node.fail("the maximum over an empty axis is undefined");
  float* out = frame.output(node, shape).data();
  std::fill_n(out, outer * inner, kMax ? -INFINITY : 0.0f);
  const float* p = x.data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t s = 0; s < steps; ++s)
      for (int64_t k = 0; k < inner; ++k) {
        float& acc = out[o * inner + k];
        const float v = p[(o * steps + s) * inner + k];
        acc = kMax ? std::max(acc, v) : acc + v / static_cast<float>(steps);
      }
}

}  // namespace

const Kernel& reduce_mean() {
  static const Kernel kernel{"ReduceMean", 1, prepare, eval<false>};
  return kernel;
}

const Kernel& reduce_max() {
  static const Kernel kernel{"ReduceMax", 1, prepare, eval<true>};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
