// RESHAPE: the new shape from a constant int32 shape input, else from ReshapeOptions.new_shape
// (at most one -1, inferred); a copy of the bytes, any element type.
#include <cstring>

#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

struct ReshapeData : OpData {
  std::vector<int64_t> target;  // as given, -1 for the inferred dimension
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(1, 2, 1);
  auto d = std::make_unique<ReshapeData>();
  const Tensor& x = ctx.input(0);
  const Tensor& y = ctx.output();
  if (y.type != x.type) ctx.fail("output '{}' is {}; the input '{}' is {}", y.name, dtype_name(y.type), x.name, dtype_name(x.type));
  const Tensor* s = ctx.optional_input(1);
  const auto* o = ctx.op().builtin_options_as_ReshapeOptions();
  if (s && s->constant) {
    ctx.expect_type(*s, DType::Int32, "shape");
    if (s->shape.size() > 1) ctx.fail("shape '{}' has rank {}, expected 1", s->name, s->shape.size());
    d->target.assign(s->as<int32_t>(), s->as<int32_t>() + s->elements());
  } else if (o && o->new_shape()) {
    d->target.assign(o->new_shape()->begin(), o->new_shape()->end());
  } else {
    ctx.fail("needs a constant shape input or the new_shape option");
  }
  if (d->target.size() > kMaxTensorRank) ctx.fail("new shape has rank {}; at most {}", d->target.size(), kMaxTensorRank);
  int unknown = 0;
  for (int64_t v : d->target) {
    if (v == -1) ++unknown;
    else if (v < 0) ctx.fail("new shape [{}] has a negative dimension", fmt::join(d->target, ", "));
  }
  if (unknown > 1) ctx.fail("new shape [{}] has more than one -1", fmt::join(d->target, ", "));
  return d;
}

void eval(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  std::memcpy(ctx.output().data, x.data, x.bytes());
}

void prepare(OpContext& ctx) {
  const auto& d = ctx.data<ReshapeData>();
  const Tensor& x = ctx.input(0);
  std::vector<int64_t> shape = d.target;
  int64_t known = 1;
  size_t unknown = shape.size();
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      unknown = i;
      continue;
    }
    auto next = checked_mul(known, shape[i]);
    if (!next) ctx.fail("new shape [{}] has more than {} elements", fmt::join(d.target, ", "), kMaxTensorElements);
    known = *next;
  }
  if (unknown < shape.size()) {
    if (known == 0 || x.elements() % known != 0) ctx.fail("cannot reshape {} values of '{}' to [{}]", x.elements(), x.name, fmt::join(d.target, ", "));
    shape[unknown] = x.elements() / known;
  } else if (known != x.elements()) {
    ctx.fail("cannot reshape {} values of '{}' to [{}]", x.elements(), x.name, fmt::join(d.target, ", "));
  }
  ctx.set_output_shape(ctx.output(), shape);
  ctx.node().eval = eval;
}

}  // namespace

const Kernel& reshape() {
  static const Kernel kernel{"RESHAPE", 1, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
