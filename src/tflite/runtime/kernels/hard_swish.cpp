// HARD_SWISH: x * relu6(x + 3) / 6. float32 as TFLite's kernel computes it; int8 through a
// 256-entry table that Prepare fills by running TFLite's 16-bit fixed-point algorithm on every
// int8 input (a function of the input byte alone, so the table gives its exact results):
// the input on a 2^7 finer scale, a "relu-ish" gate rescaled so that 3.0 is 2^15 and clamped to
// [0, 1], their doubling high product, then the output shift and zero point.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "tflite/runtime/kernels/kernels.h"
#include "tflite/runtime/kernels/unary.h"

namespace litepipe::tfl::kernels {
namespace {

int16_t saturate16(int32_t v) { return static_cast<int16_t>(std::clamp<int32_t>(v, INT16_MIN, INT16_MAX)); }

// round(a * b / 2^15), saturating the single overflow case (-2^15 * -2^15).
int16_t rounding_doubling_high_mul16(int16_t a, int16_t b) {
  if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
  const int32_t product = int32_t{a} * int32_t{b};
  const int32_t nudge = product >= 0 ? (1 << 14) : 1 - (1 << 14);
  return static_cast<int16_t>((product + nudge) / (1 << 15));
}
// The same, truncating (its bias cancels the rounding one above, as TFLite chose).
int16_t doubling_high_mul16(int16_t a, int16_t b) {
  if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
  return static_cast<int16_t>((int32_t{a} * int32_t{b}) / (1 << 15));
}
int16_t rounding_shift_right16(int16_t x, int exponent) {
  const int32_t mask = (1 << exponent) - 1;
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return static_cast<int16_t>((x >> exponent) + (remainder > threshold ? 1 : 0));
}
// A Q31 multiplier rounded to Q15 (saturating at the top).
int16_t q15(int32_t significand) {
  if (significand >= std::numeric_limits<int32_t>::max() - (1 << 15)) return INT16_MAX;
  return static_cast<int16_t>((significand + (1 << 15)) >> 16);
}

std::unique_ptr<OpData> init(OpContext& ctx) { return unary_init(ctx); }

void eval_float(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const float* xd = x.as<float>();
  float* y = ctx.output().as<float>();
  for (int64_t i = 0, n = x.elements(); i < n; ++i) y[i] = xd[i] * std::min(6.0f, std::max(0.0f, xd[i] + 3.0f)) / 6.0f;
}

void prepare(OpContext& ctx) {
  if (!same_shape_int8(ctx, eval_float)) return;
  auto& d = ctx.data<UnaryData>();
  const float hires_input_scale = d.x.scale / 128.0f;
  const qmath::Multiplier output = qmath::quantize_multiplier(static_cast<double>(hires_input_scale / d.y.scale));
  const qmath::Multiplier reluish = qmath::quantize_multiplier(static_cast<double>(hires_input_scale / (3.0f / 32768.0f)));
  if (output.shift > 0) ctx.fail("int8 output scale {} is too small for input scale {} (TFLite requires a multiplier below 1)", d.y.scale, d.x.scale);
  if (reluish.shift > 15 || reluish.shift < -15) ctx.fail("input scale {} is outside what the int8 kernel represents", d.x.scale);
  const int16_t output_q15 = q15(output.significand), reluish_q15 = q15(reluish.significand);
  for (int32_t v = -128; v <= 127; ++v) {
    const auto input = static_cast<int16_t>(v - d.x.zero_point);
    const auto hires = static_cast<int16_t>(input * (1 << 7));
    const int16_t preshift_output = rounding_doubling_high_mul16(hires, output_q15);
    int16_t gate = hires;
    if (reluish.shift > 0) gate = saturate16(int32_t{gate} * (1 << (reluish.shift - 1)));
    gate = rounding_doubling_high_mul16(gate, reluish_q15);
    if (reluish.shift > 0) gate = saturate16(int32_t{gate} * 2);
    if (reluish.shift < 0) gate = rounding_shift_right16(gate, -reluish.shift);
    gate = static_cast<int16_t>((int32_t{gate} + (1 << 15)) >> 1);  // [-1, 1] -> [0, 1]
    int32_t out = rounding_shift_right16(doubling_high_mul16(gate, preshift_output), -output.shift);
    out += d.y.zero_point;
    d.table[static_cast<uint8_t>(static_cast<int8_t>(v))] = static_cast<int8_t>(std::clamp<int32_t>(out, -128, 127));
  }
  ctx.node().eval = eval_lookup_table;
}

}  // namespace

const Kernel& hard_swish() {
  static const Kernel kernel{"HARD_SWISH", 1, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
