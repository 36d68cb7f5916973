#include "tflite/runtime/kernels/requantizer.h"

#include <algorithm>

namespace litepipe::tfl {
namespace {

// Requantization with ruy's single rounding over `count` values whose per-channel parameters are
// laid out alongside (repeated per row), written so the compiler vectorizes it (64-bit products,
// per-lane shifts); cloned for AVX-512 / AVX2 with a plain fallback. The bias is added with int32
// wrap-around, as an int32 accumulator does.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void requantize_single_rounding(const int32_t* __restrict__ acc, const int32_t* __restrict__ bias, const int32_t* __restrict__ multiplier,
                                const int64_t* __restrict__ rounding, const int64_t* __restrict__ shift, int64_t count, int32_t zero_point, int32_t lo,
                                int32_t hi, int8_t* __restrict__ out) {
  for (int64_t c = 0; c < count; ++c) {
    const auto sum = static_cast<int32_t>(static_cast<uint32_t>(acc[c]) + static_cast<uint32_t>(bias[c]));
    const int64_t product = static_cast<int64_t>(sum) * static_cast<int64_t>(multiplier[c]);
    int64_t v = ((product + rounding[c]) >> shift[c]) + zero_point;  // clamped in 64 bits: no overflow
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    out[c] = static_cast<int8_t>(v);
  }
}

// The same with TFLite's reference double rounding (its depthwise kernel's).
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void requantize_double_rounding(const int32_t* __restrict__ acc, const int32_t* __restrict__ bias, const int32_t* __restrict__ multiplier,
                                const int32_t* __restrict__ left_shift, const int32_t* __restrict__ right_shift, int64_t count, int32_t zero_point,
                                int32_t lo, int32_t hi, int8_t* __restrict__ out) {
  for (int64_t c = 0; c < count; ++c) {
    const auto sum = static_cast<int32_t>(static_cast<uint32_t>(acc[c]) + static_cast<uint32_t>(bias[c]));
    int32_t v = qmath::multiply_by_quantized_multiplier_branch_free(sum, multiplier[c], left_shift[c], right_shift[c]);
    // v + zero_point may leave int32 only when v is beyond any int8 result: clamp v first.
    v = v < lo - zero_point ? lo - zero_point : v;
    v = v > hi - zero_point ? hi - zero_point : v;
    out[c] = static_cast<int8_t>(v + zero_point);
  }
}

}  // namespace

void Requantizer::set(std::vector<qmath::Multiplier> multipliers, const int32_t* bias, bool gemm_rounding, int32_t output_zero_point, int32_t act_min,
                      int32_t act_max) {
  gemm_rounding_ = gemm_rounding;
  output_zero_point_ = output_zero_point;
  act_min_ = act_min;
  act_max_ = act_max;
  const size_t channels = multipliers.size();
  // Few channels (e.g. 32) would leave the vector loop idle: treat several rows as one block.
  tile_rows_ = std::max<int64_t>(1, 256 / static_cast<int64_t>(std::max<size_t>(channels, 1)));
  const size_t tile = channels * static_cast<size_t>(tile_rows_);
  significand_.resize(tile);
  rounding_.resize(tile);
  total_shift_.resize(tile);
  tiled_bias_.resize(tile);
  left_shift_.resize(tile);
  right_shift_.resize(tile);
  for (size_t i = 0; i < tile; ++i) {
    const size_t c = i % channels;
    left_shift_[i] = std::max(multipliers[c].shift, 0);
    right_shift_[i] = std::max(-multipliers[c].shift, 0);
    total_shift_[i] = 31 - multipliers[c].shift;  // in [1, 62]
    significand_[i] = multipliers[c].significand;
    rounding_[i] = int64_t{1} << (total_shift_[i] - 1);
    tiled_bias_[i] = bias ? bias[c] : 0;
  }
}

void Requantizer::run(const int32_t* acc, int64_t rows, int64_t channels, int8_t* out) const {
  const int64_t blocks = (rows + tile_rows_ - 1) / tile_rows_;
#pragma omp parallel for if (rows * channels > (1 << 17)) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t first = b * tile_rows_, count = (std::min(rows, first + tile_rows_) - first) * channels;
    if (gemm_rounding_) {
      requantize_single_rounding(acc + first * channels, tiled_bias_.data(), significand_.data(), rounding_.data(), total_shift_.data(), count,
                                 output_zero_point_, act_min_, act_max_, out + first * channels);
    } else {
      requantize_double_rounding(acc + first * channels, tiled_bias_.data(), significand_.data(), left_shift_.data(), right_shift_.data(), count,
                                 output_zero_point_, act_min_, act_max_, out + first * channels);
    }
  }
}

}  // namespace litepipe::tfl
