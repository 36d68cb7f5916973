#pragma once
// Output size and padding of a 2-D window (conv or pool), with TensorFlow's 'same' convention:
// total padding max((ceil(in/stride) - 1) * stride + window - in, 0), the smaller half first.
#include <cstdint>
#include <string>

#include "core/error.h"

namespace litepipe::nn {

struct Window1D {
  int64_t out, pad_before, pad_after;
};

inline Window1D window_1d(int64_t in, int64_t window, int64_t stride, const std::string& padding) {
  if (padding == "valid") {
    if (in < window) fail("window {} is larger than the input {} with 'valid' padding", window, in);
    return {(in - window) / stride + 1, 0, 0};
  }
  if (padding != "same") fail("padding must be 'valid' or 'same', got '{}'", padding);
  int64_t out = (in + stride - 1) / stride;
  int64_t total = std::max<int64_t>((out - 1) * stride + window - in, 0);
  return {out, total / 2, total - total / 2};
}

}  // namespace litepipe::nn
