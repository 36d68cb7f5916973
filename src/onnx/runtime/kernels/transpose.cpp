// Transpose by `perm` (default: the axes reversed). The permutation is checked at load; its
// length against the input's rank on each call.
#include <algorithm>

#include <fmt/ranges.h>

#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

struct TransposeData : OpData {
  std::vector<int64_t> perm;  // empty: reversed axes
  bool valid = true;          // perm is a permutation of 0..perm.size()-1
};

struct TransposeScratch : NodeScratch {
  Shape dims;
  std::vector<int64_t> perm, input_strides, source_strides, index;
};

std::unique_ptr<OpData> prepare(PrepareContext& ctx) {
  auto d = std::make_unique<TransposeData>();
  d->perm = ctx.attr_ints("perm");
  std::vector<int64_t> sorted(d->perm);
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) d->valid = d->valid && sorted[i] == static_cast<int64_t>(i);
  return d;
}

void eval(const Node& node, Frame& frame) {
  const auto& d = node.op_data<TransposeData>();
  const Tensor& x = frame.input(node, 0);
  const size_t r = x.rank();
  auto& s = frame.scratch<TransposeScratch>(node);
  if (d.perm.empty()) {
    s.perm.resize(r);
    for (size_t i = 0; i < r; ++i) s.perm[i] = static_cast<int64_t>(r - 1 - i);
  } else {
    if (!d.valid || d.perm.size() != r) {
      node.fail("perm [{}] is not a permutation of the {} axes of {}", fmt::join(d.perm, ", "), r, nn::shape_string(x.shape()));
    }
    s.perm = d.perm;
  }
  s.dims.resize(r);
  s.source_strides.assign(r, 1);
  s.index.assign(r, 0);
  std::vector<int64_t>& in_strides = s.input_strides;
  in_strides.assign(r, 1);
  for (size_t i = r; i-- > 1;) in_strides[i - 1] = in_strides[i] * x.dim(i);
  for (size_t i = 0; i < r; ++i) {
    s.dims[i] = x.dim(static_cast<size_t>(s.perm[i]));
    s.source_strides[i] = in_strides[static_cast<size_t>(s.perm[i])];
  }
  Tensor& out = frame.output(node, s.dims);
  const float* src = x.data();
  float* dst = out.data();
  int64_t offset = 0;  // of the current output element in the input
  for (int64_t i = 0; i < out.size(); ++i) {
    dst[i] = src[offset];
    for (size_t k = r; k-- > 0;) {
      offset += s.source_strides[k];
      if (++s.index[k] < s.dims[k]) break;
      offset -= s.source_strides[k] * s.dims[k];
      s.index[k] = 0;
    }
  }
}

}  // namespace

const Kernel& transpose() {
  static const Kernel kernel{"Transpose", 1, prepare, eval};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
