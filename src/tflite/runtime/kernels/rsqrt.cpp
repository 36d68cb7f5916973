// RSQRT: 1 / sqrt(x). float32, and int8 as TFLite's RsqrtEvalQuantized computes it: the input's
// offset value v (>= 1) goes through gemmlowp's fixed-point inverse square root (5 Newton-Raphson
// steps in Q3.28, GetInvSqrtQuantizedMultiplierExp), 1 * that multiplier << 20, then the real
// multiplier 1 / (sqrt(input_scale) * output_scale) >> 20; v = 0 is the largest output. The
// result depends on the input byte alone, so Prepare runs the algorithm once per int8 value into
// a 256-entry table. An input below the zero point (a negative real) is an error of the run, as
// in TFLite.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "tflite/runtime/kernels/kernels.h"
#include "tflite/runtime/kernels/unary.h"

namespace litepipe::tfl::kernels {
namespace {

using qmath::saturating_rounding_doubling_high_mul;

// gemmlowp's SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0.
int32_t saturating_shift_left(int32_t x, int exponent) {
  const int32_t threshold = static_cast<int32_t>((int64_t{1} << (31 - exponent)) - 1);
  if (x > threshold) return std::numeric_limits<int32_t>::max();
  if (x < -threshold) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(static_cast<uint32_t>(x) << exponent);
}

// TFLite's GetInvSqrtQuantizedMultiplierExp(input, kReverseShift = -1): 1 / sqrt(input) as a Q31
// significand and a left shift, for input >= 1.
qmath::Multiplier inverse_sqrt(int32_t input) {
  if (input <= 1) return {std::numeric_limits<int32_t>::max(), 0};
  int shift = 11;
  while (input >= (1 << 29)) {
    input /= 4;
    ++shift;
  }
  const int max_left_shift_bits = std::countl_zero(static_cast<uint32_t>(input)) - 1;
  const int left_shift_bit_pairs = max_left_shift_bits / 2 - 1;
  shift -= left_shift_bit_pairs;
  input <<= 2 * left_shift_bit_pairs;  // now in [2^27, 2^29)
  // Q3.28 fixed point (gemmlowp's FixedPoint<int32, 3>); a product of two has 6 integer bits,
  // of three 9, brought back to 3 by a saturating left shift.
  const int32_t half_input = qmath::rounding_divide_by_pot(input >> 1, 1);
  const int32_t half_three = (1 << 28) + (1 << 27);
  int32_t x = 1 << 28;  // 1.0
  for (int i = 0; i < 5; ++i) {
    const int32_t x3 = saturating_shift_left(saturating_rounding_doubling_high_mul(saturating_rounding_doubling_high_mul(x, x), x), 6);
    // gemmlowp subtracts raw int32s (wrapping on the machines TFLite runs on).
    const auto step = static_cast<int32_t>(static_cast<uint32_t>(saturating_rounding_doubling_high_mul(half_three, x)) -
                                           static_cast<uint32_t>(saturating_rounding_doubling_high_mul(half_input, x3)));
    x = saturating_shift_left(step, 3);
  }
  x = saturating_rounding_doubling_high_mul(x, 1518500250);  // * sqrt(2) / 2 (Q0.31)
  if (shift < 0) {
    x = static_cast<int32_t>(static_cast<uint32_t>(x) << -shift);
    shift = 0;
  }
  return {x, -shift};
}

std::unique_ptr<OpData> init(OpContext& ctx) { return unary_init(ctx); }

void eval_float(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const float* xd = x.as<float>();
  float* y = ctx.output().as<float>();
  for (int64_t i = 0, n = x.elements(); i < n; ++i) y[i] = 1.0f / std::sqrt(xd[i]);
}

void eval_int8(OpContext& ctx) {
  const auto& d = ctx.data<UnaryData>();
  const Tensor& x = ctx.input(0);
  const int8_t* xd = x.as<int8_t>();
  for (int64_t i = 0, n = x.elements(); i < n; ++i) {
    if (xd[i] < d.x.zero_point) ctx.fail("input '{}' holds {} below its zero point {}: RSQRT is only defined for positive values", x.name, xd[i], d.x.zero_point);
  }
  eval_lookup_table(ctx);
}

void prepare(OpContext& ctx) {
  if (!same_shape_int8(ctx, eval_float)) return;
  auto& d = ctx.data<UnaryData>();
  constexpr int kShift = 20;  // TFLite's headroom: the inverse square root is held << 20
  // TFLite's SetRsqrtOutputMultiplier: the product in float, the reciprocal in double.
  const qmath::Multiplier output = checked_multiplier(ctx, 1.0 / static_cast<double>(std::sqrt(d.x.scale) * d.y.scale), "output");
  if (output.shift - kShift < -31) {
    ctx.fail("int8 scales (input {}, output {}) give a multiplier below 2^-31 after TFLite's 2^-20 headroom", d.x.scale, d.y.scale);
  }
  for (int32_t v = -128; v <= 127; ++v) {
    const int32_t value = v - d.x.zero_point;
    int32_t out = 127;  // value 0: "any value close to 0 represents the max output value"
    if (value < 0) {
      out = 0;  // never read: eval_int8 rejects inputs below the zero point
    } else if (value > 0) {
      const qmath::Multiplier inv = inverse_sqrt(value);
      const int32_t data = qmath::multiply_by_quantized_multiplier(1, inv.significand, inv.shift + kShift);
      out = qmath::wrapping_add(qmath::multiply_by_quantized_multiplier(data, output.significand, output.shift - kShift), d.y.zero_point);
    }
    d.table[static_cast<uint8_t>(static_cast<int8_t>(v))] = qmath::clamp_int8(out);
  }
  ctx.node().eval = eval_int8;
}

}  // namespace

const Kernel& rsqrt() {
  static const Kernel kernel{"RSQRT", 2, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
