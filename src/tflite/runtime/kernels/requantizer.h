#pragma once
// acc + bias -> requantized, offset and clamped int8: the tail of every int8 convolution and fully
// connected op. TFLite's optimized FULLY_CONNECTED and CONV_2D hand this step to ruy's GEMM, which
// rounds once (ties upward); its depthwise kernel uses the reference double rounding.
#include <cstdint>
#include <vector>

#include "tflite/runtime/kernels/quantization.h"

namespace litepipe::tfl {

class Requantizer {
 public:
  // Per-channel multipliers (shifts in [-31, 30], see checked_multiplier) and an optional bias of
  // as many values.
  void set(std::vector<qmath::Multiplier> multipliers, const int32_t* bias, bool gemm_rounding, int32_t output_zero_point, int32_t act_min,
           int32_t act_max);
  // out[r, c] for `rows` rows of `channels` (= the multipliers' count) int32 sums.
  void run(const int32_t* acc, int64_t rows, int64_t channels, int8_t* out) const;

 private:
  bool gemm_rounding_ = true;
  int32_t output_zero_point_ = 0, act_min_ = -128, act_max_ = 127;
  // Single rounding, per channel, repeated over tile_rows_ rows so the vector loop has work.
  std::vector<int32_t> significand_, tiled_bias_;
  std::vector<int64_t> rounding_, total_shift_;
  std::vector<int32_t> left_shift_, right_shift_;  // double rounding's split exponent
  int64_t tile_rows_ = 1;
};

}  // namespace litepipe::tfl
