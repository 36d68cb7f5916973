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

// Calls fn(i, ia, ib) for every element i of the broadcast result of shape `out`, with the
// positions ia / ib of its operands of shapes `a` / `b`.
template <typename Dim, typename Fn>
void for_each_broadcast(const std::vector<Dim>& out, const std::vector<Dim>& a, const std::vector<Dim>& b, Fn&& fn) {
  size_t r = out.size();
  auto sa = broadcast_strides(a, r), sb = broadcast_strides(b, r);
  int64_t total = 1;
  for (auto d : out) total *= static_cast<int64_t>(d);
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < total; ++i) {
    int64_t ia = 0, ib = 0;
    for (size_t k = 0; k < r; ++k) {
      ia += idx[k] * sa[k];
      ib += idx[k] * sb[k];
    }
    fn(i, ia, ib);
    for (size_t k = r; k-- > 0;) {
      if (++idx[k] < static_cast<int64_t>(out[k])) break;
      idx[k] = 0;
    }
  }
}

}  // namespace litepipe::nn
