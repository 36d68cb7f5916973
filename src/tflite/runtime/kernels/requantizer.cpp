#include "tflite/runtime/kernels/requantizer.h"

#include <algorithm>

namespace litepipe::tfl {
namespace {

// Requantization with ruy's single rounding over `count` values whose per-channel parameters are
// laid out alongside (repeated per row), written so the compiler vectorizes it (64-bit products,
// per-lane shifts); cloned for AVX-512 / AVX2 with a plain fallback. The bias is added with int32
// wrap-around, as an int32 accumulator does.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void requantize_single_rounding(const int32_t* acc, const int32_t* bias, const int32_t* multiplier, const int64_t* rounding,
                                const int64_t* shift, int64_t count, int32_t zero_point, int32_t lo, int32_t hi, int8_t* out) {
  for (int64_t c = 0; c < count; ++c) {
    const auto sum = static_cast<int32_t>(static_cast<uint32_t>(acc[c]) + static_cast<uint32_t>(bias[c]));
    const int64_t product = static_cast<int64_t>(sum) * static_cast<int64_t>(multiplier[c]);
    int64_t v = ((product + rounding[c]) >> shift[c]) + zero_point;  // clamped in 64 bits: no overflow
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    out[c] = static_cast<int8_t>(v);
  }
}

}  // namespace

void Requantizer::set(std::vector<qmath::Multiplier> multipliers, const int32_t* bias, bool gemm_rounding, int32_t output_zero_point, int32_t act_min,
                      int32_t act_max) {
  multipliers_ = std::move(multipliers);
  gemm_rounding_ = gemm_rounding;
  output_zero_point_ = output_zero_point;
  act_min_ = act_min;
  act_max_ = act_max;
  const size_t channels = multipliers_.size();
  bias_.assign(channels, 0);
  if (bias) std::copy(bias, bias + channels, bias_.begin());
  // Few channels (e.g. 32) would leave the vector loop idle: treat several rows as one block.
  tile_rows_ = std::max<int64_t>(1, 256 / static_cast<int64_t>(std::max<size_t>(channels, 1)));
  const size_t tile = channels * static_cast<size_t>(tile_rows_);
  significand_.resize(tile);
  rounding_.resize(tile);
  total_shift_.resize(tile);
  tiled_bias_.resize(tile);
  for (size_t i = 0; i < tile; ++i) {
    const size_t c = i % channels;
    total_shift_[i] = 31 - multipliers_[c].shift;  // in [1, 62]
    significand_[i] = multipliers_[c].significand;
    rounding_[i] = int64_t{1} << (total_shift_[i] - 1);
    tiled_bias_[i] = bias_[c];
  }
}

void Requantizer::run(const int32_t* acc, int64_t rows, int64_t channels, int8_t* out) const {
  if (gemm_rounding_) {
    const int64_t blocks = (rows + tile_rows_ - 1) / tile_rows_;
#pragma omp parallel for if (rows * channels > (1 << 17)) schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t first = b * tile_rows_, count = (std::min(rows, first + tile_rows_) - first) * channels;
      requantize_single_rounding(acc + first * channels, tiled_bias_.data(), significand_.data(), rounding_.data(), total_shift_.data(), count,
                                 output_zero_point_, act_min_, act_max_, out + first * channels);
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) {
      const int32_t sum = qmath::wrapping_add(acc[r * channels + c], bias_[static_cast<size_t>(c)]);
      const int64_t v = int64_t{qmath::apply(sum, multipliers_[static_cast<size_t>(c)])} + output_zero_point_;
      out[r * channels + c] = static_cast<int8_t>(std::clamp<int64_t>(v, act_min_, act_max_));
    }
  }
}

}  // namespace litepipe::tfl
