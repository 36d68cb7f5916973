// GATHER along `axis` (batch_dims 0): out = params[..., indices, ...], float32 or int8 params with
// int32 indices (an Embedding's lookup). int8 output keeps the params' scale and zero point, as
// TFLite requires. An index outside [0, params.shape[axis]) is an error of the run, as in TFLite.
#include <cstring>

#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

struct GatherData : OpData {
  int axis = 0;
  int64_t outer = 1, axis_size = 0, inner = 1;  // params viewed as [outer, axis_size, inner]
  size_t element_size = 0;
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(2, 2, 1);
  auto d = std::make_unique<GatherData>();
  const auto options = options_or_default<::tflite::GatherOptionsT>(ctx);
  if (options.batch_dims != 0) ctx.fail("batch_dims {} is not supported (only 0)", options.batch_dims);
  const Tensor& params = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& y = ctx.output();
  ctx.expect_type(indices, DType::Int32, "indices");
  const auto rank = static_cast<int>(params.shape.size());
  if (rank < 1) ctx.fail("params '{}' must have rank >= 1", params.name);
  d->axis = options.axis < 0 ? options.axis + rank : options.axis;
  if (d->axis < 0 || d->axis >= rank) ctx.fail("axis {} is out of range for params of rank {}", options.axis, rank);
  expect_float_or_same_scale_int8(ctx, params, y, "params");
  d->element_size = dtype_size(params.type);
  return d;
}

void eval(OpContext& ctx) {
  const auto& d = ctx.data<GatherData>();
  const Tensor& params = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const auto* from = static_cast<const uint8_t*>(params.data);
  auto* to = static_cast<uint8_t*>(ctx.output().data);
  const int32_t* ids = indices.as<int32_t>();
  const int64_t count = indices.elements();
  const size_t slice = static_cast<size_t>(d.inner) * d.element_size;
  for (int64_t i = 0; i < count; ++i) {
    if (ids[i] < 0 || ids[i] >= d.axis_size) ctx.fail("index {} (position {}) is outside [0, {})", ids[i], i, d.axis_size);
  }
  for (int64_t o = 0; o < d.outer; ++o) {
    for (int64_t i = 0; i < count; ++i) {
      std::memcpy(to + static_cast<size_t>(o * count + i) * slice, from + static_cast<size_t>(o * d.axis_size + ids[i]) * slice, slice);
    }
  }
}

void prepare(OpContext& ctx) {
  auto& d = ctx.data<GatherData>();
  const Tensor& params = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  std::vector<int64_t> dims;
  d.outer = 1;
  d.inner = 1;
  for (int a = 0; a < d.axis; ++a) {
    dims.push_back(params.shape[static_cast<size_t>(a)]);
    d.outer *= params.shape[static_cast<size_t>(a)];
  }
  d.axis_size = params.shape[static_cast<size_t>(d.axis)];
  for (int32_t dim : indices.shape) dims.push_back(dim);
  for (size_t a = static_cast<size_t>(d.axis) + 1; a < params.shape.size(); ++a) {
    dims.push_back(params.shape[a]);
    d.inner *= params.shape[a];
  }
  ctx.set_output_shape(ctx.output(), dims);  // checks the element count
  ctx.node().eval = eval;
}

}  // namespace

const Kernel& gather() {
  static const Kernel kernel{"GATHER", 2, init, prepare};  // 2: int8 params
  return kernel;
}

}  // namespace litepipe::tfl::kernels
