#include "onnx/runtime/kernels/kernel_util.h"

#include <algorithm>

namespace litepipe::onnxio::runtime::kernels {

void broadcast_shape(const Node& node, std::span<const int64_t> a, std::span<const int64_t> b, Shape& out) {
  const size_t r = std::max(a.size(), b.size());
  out.resize(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) node.fail("shapes {} and {} do not broadcast", dims_string(a), dims_string(b));
    out[i] = std::max(da, db);
  }
}

int64_t normalized_axis(const Node& node, int64_t axis, size_t rank) {
  const auto r = static_cast<int64_t>(rank);
  const int64_t normalized = axis < 0 ? axis + r : axis;
  if (normalized < 0 || normalized >= r) node.fail("axis {} is out of range for rank {}", axis, r);
  return normalized;
}

}  // namespace litepipe::onnxio::runtime::kernels
