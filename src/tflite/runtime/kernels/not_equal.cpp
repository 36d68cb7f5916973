// NOT_EQUAL: float32 operands (NumPy broadcasting) -> bool (TFLite's one byte, 1 / 0); NaN is
// unequal to everything, itself included.
#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(2, 2, 1);
  ctx.expect_type(ctx.input(0), DType::Float32, "input");
  ctx.expect_type(ctx.input(1), DType::Float32, "input");
  ctx.expect_type(ctx.output(), DType::Bool, "output");
  return std::make_unique<OpData>();
}

void eval(OpContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  Tensor& y = ctx.output();
  const float* ad = a.as<float>();
  const float* bd = b.as<float>();
  uint8_t* yd = y.as<uint8_t>();
  const int64_t count = y.elements();
  if (a.elements() == count && b.elements() == count) {
    for (int64_t i = 0; i < count; ++i) yd[i] = ad[i] != bd[i];
    return;
  }
  for_each_broadcast(y.shape, a.shape, b.shape, [&](int64_t o, int64_t ia, int64_t ib) { yd[o] = ad[ia] != bd[ib]; });
}

void prepare(OpContext& ctx) {
  ctx.set_output_shape(ctx.output(), broadcast_shape(ctx, ctx.input(0).shape, ctx.input(1).shape));
  ctx.node().eval = eval;
}

}  // namespace

const Kernel& not_equal() {
  static const Kernel kernel{"NOT_EQUAL", 1, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
