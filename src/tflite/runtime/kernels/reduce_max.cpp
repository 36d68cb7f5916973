// REDUCE_MAX over constant int32 axes, float32 and int8. int8 input and output share their scale
// and zero point, as TFLite requires, so the maximum of the int8 values is the output. As TFLite's
// reference reducer, a value replaces the running maximum (from the type's lowest) only when it
// is greater: NaN inputs are skipped.
#include <algorithm>
#include <limits>

#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

struct ReduceMaxData : OpData {
  bool keep_dims = false;
  bool int8 = false;
  Reduction reduction;
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(2, 2, 1);
  auto d = std::make_unique<ReduceMaxData>();
  d->keep_dims = options_or_default<::tflite::ReducerOptionsT>(ctx).keep_dims;
  const Tensor& x = ctx.input(0);
  const Tensor& axes = ctx.input(1);
  const Tensor& y = ctx.output();
  expect_reduction_axes(ctx, axes);
  d->int8 = expect_float_or_same_scale_int8(ctx, x, y, "input");
  return d;
}

template <typename T>
void eval(OpContext& ctx) {
  const auto& d = ctx.data<ReduceMaxData>();
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output();
  T* out = y.as<T>();
  std::fill(out, out + y.elements(), std::numeric_limits<T>::lowest());
  reduce_into(x.shape, d.reduction.reduce, x.as<T>(), out, [](T& m, T v) {
    if (v > m) m = v;
  });
}

void prepare(OpContext& ctx) {
  auto& d = ctx.data<ReduceMaxData>();
  d.reduction = reduction(ctx, ctx.input(0), ctx.input(1), d.keep_dims);  // an empty reduced axis is an Error
  ctx.set_output_shape(ctx.output(), d.reduction.output_shape);
  ctx.node().eval = d.int8 ? eval<int8_t> : eval<float>;
}

}  // namespace

// Versions 1 (float32) and 2 (int8); 3 is int16.
const Kernel& reduce_max() {
  static const Kernel kernel{"REDUCE_MAX", 2, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
