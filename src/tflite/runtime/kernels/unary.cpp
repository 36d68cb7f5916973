#include "tflite/runtime/kernels/unary.h"

#include <algorithm>
#include <cmath>

namespace litepipe::tfl::kernels {

std::unique_ptr<UnaryData> unary_init(OpContext& ctx) {
  ctx.expect_counts(1, 1, 1);
  auto d = std::make_unique<UnaryData>();
  const Tensor& x = ctx.input(0);
  const Tensor& y = ctx.output();
  if (x.type == DType::Float32) {
    ctx.expect_type(y, DType::Float32, "output");
  } else if (x.type == DType::Int8) {
    d->int8 = true;
    d->x = ctx.int8_params(x, "input");
    d->y = ctx.int8_params(y, "output");
  } else {
    ctx.fail("input '{}' is {}; expected float32 or int8", x.name, dtype_name(x.type));
  }
  return d;
}

void same_shape(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.set_output_shape(ctx.output(), std::vector<int64_t>(x.shape.begin(), x.shape.end()));
}

bool same_shape_int8(OpContext& ctx, EvalFn eval_float) {
  same_shape(ctx);
  if (ctx.data<UnaryData>().int8) return true;
  ctx.node().eval = eval_float;
  return false;
}

void prepare_rescale(OpContext& ctx, float act_min, float act_max) {
  auto& d = ctx.data<UnaryData>();
  same_shape(ctx);
  d.multiplier = checked_multiplier(ctx, static_cast<double>(d.x.scale) / static_cast<double>(d.y.scale), "rescaling");
  d.lo = std::isinf(act_min) ? -128 : std::clamp(qmath::quantize_value(act_min, d.y.scale, d.y.zero_point), -128, 127);
  d.hi = std::isinf(act_max) ? 127 : std::clamp(qmath::quantize_value(act_max, d.y.scale, d.y.zero_point), -128, 127);
  ctx.node().eval = eval_rescale;
}

void eval_rescale(OpContext& ctx) {
  const auto& d = ctx.data<UnaryData>();
  const Tensor& x = ctx.input(0);
  const int8_t* xd = x.as<int8_t>();
  int8_t* yd = ctx.output().as<int8_t>();
  const int64_t n = x.elements();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = int64_t{d.y.zero_point} + qmath::apply(xd[i] - d.x.zero_point, d.multiplier);
    yd[i] = static_cast<int8_t>(std::clamp<int64_t>(v, d.lo, d.hi));
  }
}

void prepare_lookup_table(OpContext& ctx, float (*f)(float), float want_scale, int32_t want_zero_point, const char* what) {
  auto& d = ctx.data<UnaryData>();
  same_shape(ctx);
  if (d.y.zero_point != want_zero_point || std::abs(d.y.scale - want_scale) > want_scale * 1e-3f) {
    ctx.fail("int8 {} output '{}' must have scale {} and zero point {}, has {} and {}", what, ctx.output().name, want_scale, want_zero_point, d.y.scale,
             d.y.zero_point);
  }
  const float inverse_scale = 1.0f / d.y.scale;
  for (int32_t v = -128; v <= 127; ++v) {
    const float dequantized = d.x.scale * static_cast<float>(v - d.x.zero_point);
    const float rescaled = std::round(f(dequantized) * inverse_scale);
    const int64_t q = int64_t{qmath::float_to_int32(rescaled + static_cast<float>(d.y.zero_point))};
    d.table[static_cast<uint8_t>(static_cast<int8_t>(v))] = static_cast<int8_t>(std::clamp<int64_t>(q, -128, 127));
  }
  ctx.node().eval = eval_lookup_table;
}

void eval_lookup_table(OpContext& ctx) {
  const auto& d = ctx.data<UnaryData>();
  const Tensor& x = ctx.input(0);
  const int8_t* xd = x.as<int8_t>();
  int8_t* yd = ctx.output().as<int8_t>();
  const int64_t n = x.elements();
  for (int64_t i = 0; i < n; ++i) yd[i] = d.table[static_cast<uint8_t>(xd[i])];
}

}  // namespace litepipe::tfl::kernels
