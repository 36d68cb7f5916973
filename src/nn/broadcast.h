#pragma once
// NumPy-style broadcasting helpers shared by the ONNX runner and the TFLite kernels.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace litepipe::nn {

// Element strides of a tensor of shape `s` seen at rank `rank` (leading 1s added), 0 along the
// dimensions it is broadcast over.
template <typename Dim>
std::vector<int64_t> broadcast_strides(const std::vector<Dim>& s, size_t rank) {
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    size_t axis = rank - 1 - i;
    auto dim = static_cast<int64_t>(s[s.size() - 1 - i]);
    strides[axis] = dim == 1 ? 0 : stride;
    stride *= dim;
  }
  return strides;
}

}  // namespace litepipe::nn
