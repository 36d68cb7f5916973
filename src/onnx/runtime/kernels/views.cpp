// Ops whose output is their input's buffer: Identity and Dropout (inference: the input itself),
// Reshape and Flatten (a view with another shape). Nothing is copied.
#include <algorithm>
#include <array>
#include <cmath>

#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

std::unique_ptr<OpData> prepare_plain(PrepareContext&) { return std::make_unique<OpData>(); }

void eval_identity(const Node& node, Frame& frame) { frame.set_output(node, frame.input(node, 0)); }

void eval_reshape(const Node& node, Frame& frame) {
  const Tensor& x = frame.input(node, 0);
  const Tensor& s = frame.input(node, 1);
  Shape& shape = frame.scratch<DimsScratch>(node).dims;
  shape.resize(static_cast<size_t>(s.size()));
  int64_t known = 1, unknown = -1;
  for (int64_t i = 0; i < s.size(); ++i) {
    // The file's shape: 0 copies an existing dimension, one -1 is inferred, nothing else below 1.
    const float given = s[i];
    if (!(given >= -1.0f && given <= static_cast<float>(int64_t{1} << 40)) || given != std::floor(given) ||
        (given == 0.0f && i >= static_cast<int64_t>(x.rank())) || (given == -1.0f && unknown >= 0)) {
      node.fail("shape value {} at index {} is not a dimension, 0 (copy of input {}) or a single -1", given, i, nn::shape_string(x.shape()));
    }
    auto v = static_cast<int64_t>(given);
    if (v == 0) v = x.dim(static_cast<size_t>(i));
    if (v == -1) unknown = i;
    else if (__builtin_mul_overflow(known, v, &known)) node.fail("the shape's size overflows");
    shape[static_cast<size_t>(i)] = v;
  }
  if (unknown >= 0) shape[static_cast<size_t>(unknown)] = x.size() / std::max<int64_t>(known, 1);
  if (nn::shape_size(shape) != x.size()) node.fail("cannot reshape {} to {}", nn::shape_string(x.shape()), nn::shape_string(shape));
  frame.set_output_view(node, x, shape);
}

struct FlattenData : OpData {
  int64_t axis = 1;
};

std::unique_ptr<OpData> prepare_flatten(PrepareContext& ctx) {
  auto d = std::make_unique<FlattenData>();
  d->axis = ctx.attr_int("axis", 1);
  return d;
}

void eval_flatten(const Node& node, Frame& frame) {
  const Tensor& x = frame.input(node, 0);
  const int64_t given = node.op_data<FlattenData>().axis, rank = static_cast<int64_t>(x.rank());
  const int64_t axis = given < 0 ? given + rank : given;
  if (axis < 0 || axis > rank) node.fail("axis {} is out of range for rank {}", given, rank);
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.dim(static_cast<size_t>(i));
  const std::array<int64_t, 2> dims = {outer, x.size() / std::max<int64_t>(outer, 1)};
  frame.set_output_view(node, x, dims);
}

}  // namespace

const Kernel& identity() {
  static const Kernel kernel{"Identity", 1, prepare_plain, eval_identity, true};
  return kernel;
}
const Kernel& dropout() {
  static const Kernel kernel{"Dropout", 1, prepare_plain, eval_identity, true};
  return kernel;
}
const Kernel& reshape() {
  static const Kernel kernel{"Reshape", 2, prepare_plain, eval_reshape, true};
  return kernel;
}
const Kernel& flatten() {
  static const Kernel kernel{"Flatten", 1, prepare_flatten, eval_flatten, true};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
