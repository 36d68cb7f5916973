#pragma once
// What several ONNX kernels share.
#include <span>

#include "onnx/runtime/kernel.h"

namespace litepipe::onnxio::runtime::kernels {

// NumPy broadcasting of `a` and `b` into `out`; an Error naming the node when they do not.
void broadcast_shape(const Node& node, std::span<const int64_t> a, std::span<const int64_t> b, Shape& out);

// An axis attribute in [-rank, rank) made non-negative; an Error naming the node otherwise.
int64_t normalized_axis(const Node& node, int64_t axis, size_t rank);

}  // namespace litepipe::onnxio::runtime::kernels
