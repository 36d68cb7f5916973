// Pad, mode constant: pads = every axis's begin, then every axis's end (opset 13: an input).
#include <algorithm>
#include <cmath>

#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

struct PadScratch : NodeScratch {
  Shape dims;
  std::vector<int64_t> begin, index;
};

std::unique_ptr<OpData> prepare(PrepareContext& ctx) {
  if (const auto* mode = ctx.attr("mode"); mode && mode->s() != "constant") ctx.fail("uses mode '{}'; only 'constant' is supported", mode->s());
  return std::make_unique<OpData>();
}

void eval(const Node& node, Frame& frame) {
  const Tensor& x = frame.input(node, 0);
  const Tensor& pads = frame.input(node, 1);
  const size_t rank = x.rank();
  if (rank == 0) node.fail("cannot pad a scalar");
  if (pads.size() != static_cast<int64_t>(2 * rank)) node.fail("pads has {} values; a rank-{} input needs {}", pads.size(), rank, 2 * rank);
  const float value = node.has_input(2) && frame.input(node, 2).size() > 0 ? frame.input(node, 2)[0] : 0.0f;
  // Pads come from the file: whole numbers, and a padded size that can be allocated.
  constexpr float kMaxPad = 1 << 20;
  constexpr int64_t kMaxElements = int64_t{1} << 28;
  auto& s = frame.scratch<PadScratch>(node);
  s.dims.resize(rank);
  s.begin.resize(rank);
  int64_t elements = 1;
  for (size_t d = 0; d < rank; ++d) {
    const float b = pads[static_cast<int64_t>(d)], e = pads[static_cast<int64_t>(rank + d)];
    if (!(b >= 0 && e >= 0 && b <= kMaxPad && e <= kMaxPad) || b != std::floor(b) || e != std::floor(e)) {
      node.fail("pads must be whole numbers in [0, {}] (negative pads, cropping, are not supported), got {} and {} on axis {}", kMaxPad, b, e, d);
    }
    s.begin[d] = static_cast<int64_t>(b);
    s.dims[d] = x.dim(d) + s.begin[d] + static_cast<int64_t>(e);
    if (__builtin_mul_overflow(elements, s.dims[d], &elements) || elements > kMaxElements) {
      node.fail("the padded shape has more than {} values", kMaxElements);
    }
  }
  Tensor& out = frame.output(node, s.dims);
  out.fill(value);
  // Rows of the last axis are copied whole, at their offset in the padded output.
  const int64_t row = x.shape().back(), rows = row == 0 ? 0 : x.size() / row;
  s.index.assign(rank, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t o = 0;
    for (size_t d = 0; d < rank; ++d) o = o * s.dims[d] + s.index[d] + s.begin[d];
    std::copy_n(x.data() + r * row, row, out.data() + o);
    for (size_t d = rank - 1; d-- > 0;) {
      if (++s.index[d] < x.dim(d)) break;
      s.index[d] = 0;
    }
  }
}

}  // namespace

const Kernel& pad() {
  static const Kernel kernel{"Pad", 2, prepare, eval};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
