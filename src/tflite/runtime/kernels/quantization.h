#pragma once
// Fixed-point arithmetic of TensorFlow Lite's integer kernels: real multipliers stored as a 32-bit
// significand and a power-of-two exponent, applied with gemmlowp's rounding (a rounding doubling
// high multiply, then a rounding right shift). litepipe's int8 kernels use exactly these so that
// their outputs are bit-identical with TFLite's builtin kernels.
//
// No shift here is negative or as wide as its operand: a multiplier comes from
// OpContext-checked quantize_multiplier (exponent in [-31, 30], see checked_multiplier), and every
// conversion of a float that may be out of int32's range (NaN, inf, a huge scale ratio) goes
// through float_to_int32, which returns what x86's truncating conversion (TFLite's static_cast on
// the machines litepipe runs on) returns instead of being undefined.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace litepipe::tfl::qmath {

// static_cast<int32_t>(v) for v in int32's range; INT32_MIN (x86's "integer indefinite") for NaN
// and values outside it.
inline int32_t float_to_int32(double v) {
  if (!(v > -2147483649.0 && v < 2147483648.0)) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(v);
}

// a + b with two's complement wrap-around (an int32 accumulator's behaviour, without the
// undefined signed overflow).
inline int32_t wrapping_add(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b)); }

// round(a * b / 2^31) with ties away from zero; saturates the single overflow case.
inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == std::numeric_limits<int32_t>::min()) return std::numeric_limits<int32_t>::max();
  const int64_t product = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int32_t nudge = product >= 0 ? (1 << 30) : (1 - (1 << 30));
  return static_cast<int32_t>((product + nudge) / (int64_t{1} << 31));
}

// x / 2^exponent rounded to nearest, ties away from zero; exponent in [0, 31].
inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x * multiplier * 2^shift, multiplier a Q31 significand in [0.5, 1), shift in [-31, 30].
inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  const auto shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left_shift);
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right_shift);
}

// multiply_by_quantized_multiplier with the exponent split into its left and right shifts, written
// without branches so that loops over it vectorize (the saturating case of the doubling high
// multiply needs a multiplier of -2^31, which no significand is).
inline int32_t multiply_by_quantized_multiplier_branch_free(int32_t x, int32_t multiplier, int32_t left_shift, int32_t right_shift) {
  const auto shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left_shift);
  const int64_t product = static_cast<int64_t>(shifted) * multiplier;
  const int64_t nudged = product + (product >= 0 ? (int64_t{1} << 30) : 1 - (int64_t{1} << 30));
  const auto high = static_cast<int32_t>((nudged + ((nudged >> 63) & ((int64_t{1} << 31) - 1))) >> 31);  // divided, toward zero
  const auto mask = static_cast<int32_t>((uint32_t{1} << right_shift) - 1u);  // 32-bit: a 64-bit variable shift stops vectorization
  const int32_t threshold = (mask >> 1) + static_cast<int32_t>(static_cast<uint32_t>(high) >> 31);
  return (high >> right_shift) + ((high & mask) > threshold ? 1 : 0);
}

// The ADD kernel's variant for multipliers below one (shift in [-31, 0]).
inline int32_t multiply_by_quantized_multiplier_smaller_than_one(int32_t x, int32_t multiplier, int shift) {
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -shift);
}

// A real multiplier as significand (Q31) and exponent: real = significand / 2^31 * 2^shift.
struct Multiplier {
  int32_t significand = 0;
  int shift = 0;
};
// TFLite's QuantizeMultiplier for a finite non-negative `real` (below 2^62): a multiplier so small
// that every result would be 0 becomes 0.
inline Multiplier quantize_multiplier(double real) {
  if (!(real > 0.0)) return {};
  int shift = 0;
  const double fraction = std::frexp(real, &shift);
  auto fixed = static_cast<int64_t>(std::round(fraction * static_cast<double>(int64_t{1} << 31)));
  if (fixed == (int64_t{1} << 31)) {
    fixed /= 2;
    ++shift;
  }
  if (shift < -31) {
    shift = 0;
    fixed = 0;
  }
  return {static_cast<int32_t>(fixed), shift};
}
// The largest exponent the multiply functions accept (left shifts of an int32 stay below 31 bits;
// ruy's single rounding shifts right by 31 - shift >= 1).
inline constexpr int kMaxMultiplierShift = 30;

// ruy's single rounding (the GEMM behind TFLite's optimized int8 FULLY_CONNECTED / CONV_2D):
// round(x * multiplier * 2^(shift - 31)) with ties upward; shift in [-31, 30].
inline int32_t multiply_by_quantized_multiplier_single_rounding(int32_t x, int32_t multiplier, int shift) {
  const int total_shift = 31 - shift;
  const int64_t round = int64_t{1} << (total_shift - 1);
  return static_cast<int32_t>((static_cast<int64_t>(x) * multiplier + round) >> total_shift);
}

inline int32_t apply(int32_t x, const Multiplier& m) { return multiply_by_quantized_multiplier(x, m.significand, m.shift); }
inline int32_t apply_single_rounding(int32_t x, const Multiplier& m) {
  return multiply_by_quantized_multiplier_single_rounding(x, m.significand, m.shift);
}

// A real value in a tensor's quantized domain (TFLite's activation-range arithmetic), saturated far
// outside int8 so that a tiny scale cannot overflow.
inline int32_t quantize_value(float value, float scale, int32_t zero_point) {
  const double q = std::clamp(static_cast<double>(std::round(value / scale)), -1e9, 1e9);
  return static_cast<int32_t>(std::clamp(static_cast<int64_t>(q) + zero_point, int64_t{-1000000000}, int64_t{1000000000}));
}

inline int8_t clamp_int8(int32_t v, int32_t lo = -128, int32_t hi = 127) { return static_cast<int8_t>(std::min(hi, std::max(lo, v))); }

}  // namespace litepipe::tfl::qmath
