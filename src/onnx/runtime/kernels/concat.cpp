// Concat along one axis: each input's rows copied whole at their offset.
#include <cstring>

#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

struct ConcatData : OpData {
  int64_t axis = 0;
};

std::unique_ptr<OpData> prepare(PrepareContext& ctx) {
  auto d = std::make_unique<ConcatData>();
  d->axis = ctx.attr_int("axis", 0);
  for (size_t i = 0; i < ctx.node().inputs.size(); ++i)
    if (!ctx.has_input(i)) ctx.fail("input {} is missing", i);
  return d;
}

void eval(const Node& node, Frame& frame) {
  const int64_t given = node.op_data<ConcatData>().axis;
  const Tensor& first = frame.input(node, 0);
  const auto rank = static_cast<int64_t>(first.rank());
  const int64_t axis = given < 0 ? given + rank : given;
  if (axis < 0 || axis >= rank) node.fail("axis {} is out of range for rank {}", given, rank);
  const size_t inputs = node.inputs.size();
  Shape& shape = frame.scratch<DimsScratch>(node).dims;
  shape = first.shape();
  shape[static_cast<size_t>(axis)] = 0;
  for (size_t i = 0; i < inputs; ++i) {
    const Shape& other = frame.input(node, i).shape();
    bool same = other.size() == first.shape().size();
    for (size_t d = 0; same && d < other.size(); ++d) same = static_cast<int64_t>(d) == axis || other[d] == first.shape()[d];
    if (!same) node.fail("input {} has shape {}, which does not concatenate with {} on axis {}", i, nn::shape_string(other), nn::shape_string(first.shape()), axis);
    shape[static_cast<size_t>(axis)] += other[static_cast<size_t>(axis)];
  }
  Tensor& out = frame.output(node, shape);
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= shape[static_cast<size_t>(i)];
  const int64_t out_row = outer == 0 ? 0 : out.size() / outer;
  int64_t offset = 0;
  for (size_t i = 0; i < inputs; ++i) {
    const Tensor& x = frame.input(node, i);
    const int64_t row = outer == 0 ? 0 : x.size() / outer;
    for (int64_t o = 0; o < outer; ++o) std::memcpy(out.data() + o * out_row + offset, x.data() + o * row, static_cast<size_t>(row) * sizeof(float));
    offset += row;
  }
}

}  // namespace

const Kernel& concat() {
  static const Kernel kernel{"Concat", 1, prepare, eval};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
