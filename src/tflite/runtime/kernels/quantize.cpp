// QUANTIZE: float32 -> int8 (TFLite's AffineQuantize: q = round(x / scale) + zero point, halves
// away from zero, the division in double), or int8 -> int8 (TFLite's Requantize, e.g. to a
// concatenation's parameters). NaN quantizes to the zero point (the quantized 0).
#include <algorithm>
#include <cmath>

#include "tflite/runtime/kernels/kernels.h"
#include "tflite/runtime/kernels/unary.h"

namespace litepipe::tfl::kernels {
namespace {

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(1, 1, 1);
  const Tensor& x = ctx.input(0);
  const Tensor& y = ctx.output();
  if (x.type != DType::Float32 && x.type != DType::Int8) ctx.fail("input '{}' is {}; expected float32 or int8", x.name, dtype_name(x.type));
  auto d = std::make_unique<UnaryData>();
  d->int8 = x.type == DType::Int8;
  if (d->int8) d->x = ctx.int8_params(x, "input");
  d->y = ctx.int8_params(y, "output");
  return d;
}

// A power-of-two scale (e.g. 1 for raw pixels) divides exactly as a float multiplication, so this
// path gives the double division's result; it is branch-free (values clamped first) so it
// vectorizes, which needs comparisons that may not trap.
#if defined(__clang__)
#define LITEPIPE_NO_TRAPPING_MATH  // clang assumes no floating-point traps by default
#else
#define LITEPIPE_NO_TRAPPING_MATH , optimize("no-trapping-math")
#endif
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default") LITEPIPE_NO_TRAPPING_MATH))
void quantize_power_of_two_scale(const float* __restrict x, int64_t count, float inverse_scale, int32_t zero_point, int8_t* __restrict y) {
  for (int64_t i = 0; i < count; ++i) {
    float v = x[i] * inverse_scale;
    v = v == v ? v : 0.0f;  // NaN
    v = v < -1024.0f ? -1024.0f : v;
    v = v > 1024.0f ? 1024.0f : v;
    int32_t r = static_cast<int32_t>(v);
    const float fraction = v - static_cast<float>(r);
    r += (fraction >= 0.5f ? 1 : 0) - (fraction <= -0.5f ? 1 : 0);  // halves away from zero
    r += zero_point;
    r = r < -128 ? -128 : r;
    r = r > 127 ? 127 : r;
    y[i] = static_cast<int8_t>(r);
  }
}

void eval_float(OpContext& ctx) {
  const auto& d = ctx.data<UnaryData>();
  const Tensor& x = ctx.input(0);
  const double scale = d.y.scale;
  const int32_t zero_point = d.y.zero_point;
  const float* xd = x.as<float>();
  int8_t* yd = ctx.output().as<int8_t>();
  const int64_t count = x.elements();
  int exponent = 0;
  if (std::frexp(scale, &exponent) == 0.5 && exponent > -100 && exponent < 100) {
    return quantize_power_of_two_scale(xd, count, static_cast<float>(1.0 / scale), zero_point, yd);
  }
  for (int64_t i = 0; i < count; ++i) {
    const double v = static_cast<double>(xd[i]) / scale;
    const double t = std::trunc(v), f = v - t;
    const double r = v != v ? 0.0 : f >= 0.5 ? t + 1.0 : f <= -0.5 ? t - 1.0 : t;
    yd[i] = static_cast<int8_t>(std::clamp(r + zero_point, -128.0, 127.0));
  }
}

void prepare(OpContext& ctx) {
  if (ctx.data<UnaryData>().int8) return prepare_rescale(ctx, -INFINITY, INFINITY);
  same_shape(ctx);
  ctx.node().eval = eval_float;
}

}  // namespace

const Kernel& quantize() {
  static const Kernel kernel{"QUANTIZE", 2, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
