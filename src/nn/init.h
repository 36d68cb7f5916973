#pragma once
// Keras's default initializers.
#include <cmath>
#include <random>

#include "nn/layer.h"

namespace litepipe::nn {

// glorot_uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
inline void glorot_uniform(Tensor& t, int64_t fan_in, int64_t fan_out, Rng& rng) {
  float limit = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
  std::uniform_real_distribution<float> dist(-limit, limit);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = dist(rng);
}

}  // namespace litepipe::nn
