#pragma once
// Output size and padding of a 2-D window (conv or pool), with TensorFlow's 'same' convention:
// total padding max((ceil(in/stride) - 1) * stride + window - in, 0), the smaller half first.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "nn/tensor.h"

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

// A 2-D convolution layer's input check and output windows (rows, columns), errors naming the layer.
inline std::pair<Window1D, Window1D> image_windows(const std::string& layer, const char* type, const std::vector<Shape>& inputs,
                                                   const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
                                                   const std::string& padding) {
  if (inputs.size() != 1 || inputs[0].size() != 3) {
    fail("layer {}: {} expects one input of shape [height, width, channels], got {}", layer, type, inputs.empty() ? "none" : shape_string(inputs[0]));
  }
  try {
    return {window_1d(inputs[0][0], kernel[0], strides[0], padding), window_1d(inputs[0][1], kernel[1], strides[1], padding)};
  } catch (const Error& e) {
    fail("layer {}: {}", layer, e.what());
  }
}

}  // namespace litepipe::nn
