#pragma once
// IEEE 754 half <-> single precision, round-to-nearest-even (F16C instructions where available).
#include <immintrin.h>

#include <cstdint>

namespace litepipe::tfl {

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }
inline uint16_t float_to_half(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

}  // namespace litepipe::tfl
