// MEAN over constant int32 axes, float32 and int8. int8 global average pooling (4-D, axes {1, 2},
// keep_dims) is TFLite's optimized integer Mean: the raw int8 sum times input_scale / (count *
// output_scale), plus a rounded zero-point bias. Any other int8 reduction is its reference code:
// with the input's parameters on the output, the int32 sum divided by the count (truncating);
// otherwise QuantizedMeanOrSum in float, round(sum / count * input_scale / output_scale -
// input_zero_point * that scale) + output_zero_point, as the TFLite runtime the tests judge
// with computes it (later TFLite versions fold 1 / count into an integer multiplier instead).
#include <algorithm>
#include <cmath>

#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

struct MeanData : OpData {
  bool keep_dims = false;
  bool int8 = false;
  OpContext::QuantParams x{}, y{};
  Reduction reduction;
  size_t sums = 0;  // scratch: one sum per output value
  bool spatial = false;  // int8: the 4-D global-average-pooling path
  bool same_parameters = false;  // int8: output at the input's scale and zero point
  qmath::Multiplier multiplier;
  int64_t bias = 0;
  float scale = 0.0f, float_bias = 0.0f;  // int8 QuantizedMeanOrSum
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(2, 2, 1);
  auto d = std::make_unique<MeanData>();
  d->keep_dims = options_or_default<::tflite::ReducerOptionsT>(ctx).keep_dims;
  const Tensor& x = ctx.input(0);
  const Tensor& axes = ctx.input(1);
  const Tensor& y = ctx.output();
  expect_reduction_axes(ctx, axes);
  if (x.type == DType::Float32) {
    ctx.expect_type(y, DType::Float32, "output");
  } else if (x.type == DType::Int8) {
    d->int8 = true;
    d->x = ctx.int8_params(x, "input");
    d->y = ctx.int8_params(y, "output");
  } else {
    ctx.fail("input '{}' is {}; expected float32 or int8", x.name, dtype_name(x.type));
  }
  return d;
}

void eval_float(OpContext& ctx);
void eval_int8(OpContext& ctx);

void prepare(OpContext& ctx) {
  auto& d = ctx.data<MeanData>();
  const Tensor& x = ctx.input(0);
  const Tensor& axes = ctx.input(1);
  Tensor& y = ctx.output();
  d.reduction = reduction(ctx, x, axes, d.keep_dims);
  ctx.set_output_shape(y, d.reduction.output_shape);
  const int64_t outputs = y.elements();
  d.sums = ctx.request_scratch(ctx.scratch_bytes(outputs, d.int8 ? sizeof(int64_t) : sizeof(double), "sums"));
  if (!d.int8) {
    ctx.node().eval = eval_float;
    return;
  }
  const auto& reduce = d.reduction.reduce;
  const int64_t count = d.reduction.count;  // >= 1 (reduction() checks)
  d.spatial = d.keep_dims && x.shape.size() == 4 && axes.elements() == 2 && reduce[1] && reduce[2] && !reduce[0] && !reduce[3];
  if (d.spatial) {
    const float real_scale = d.x.scale / (static_cast<float>(count) * d.y.scale);
    d.multiplier = checked_multiplier(ctx, static_cast<double>(real_scale), "mean");
    float shift = static_cast<float>(d.x.zero_point) * d.x.scale / d.y.scale;
    shift = shift > 0 ? shift + 0.5f : shift - 0.5f;
    d.bias = int64_t{d.y.zero_point} - qmath::float_to_int32(shift);
  } else {
    d.same_parameters = d.x.scale == d.y.scale && d.x.zero_point == d.y.zero_point;
    d.scale = d.x.scale / d.y.scale;
    d.float_bias = static_cast<float>(-d.x.zero_point) * d.scale;
  }
  ctx.node().eval = eval_int8;
}

void eval_float(OpContext& ctx) {
  const auto& d = ctx.data<MeanData>();
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output();
  const int64_t outputs = y.elements();
  auto* sums = ctx.scratch<double>(d.sums);
  std::fill(sums, sums + outputs, 0.0);
  reduce_sum(x.shape, d.reduction.reduce, x.as<float>(), sums);
  const auto count = static_cast<double>(d.reduction.count);
  for (int64_t i = 0; i < outputs; ++i) y.as<float>()[i] = static_cast<float>(sums[i] / count);
}

void eval_int8(OpContext& ctx) {
  const auto& d = ctx.data<MeanData>();
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output();
  const int64_t outputs = y.elements();
  auto* sums = ctx.scratch<int64_t>(d.sums);
  std::fill(sums, sums + outputs, 0);
  reduce_sum(x.shape, d.reduction.reduce, x.as<int8_t>(), sums);
  int8_t* yd = y.as<int8_t>();
  const auto count = static_cast<int32_t>(d.reduction.count);  // >= 1, at most the input's elements
  for (int64_t o = 0; o < outputs; ++o) {
    // TFLite accumulates in int32: the same value, wrapped, without the overflow.
    const auto sum = static_cast<int32_t>(sums[o]);
    if (d.spatial) {
      yd[o] = static_cast<int8_t>(std::clamp<int64_t>(int64_t{qmath::apply(sum, d.multiplier)} + d.bias, -128, 127));
    } else if (d.same_parameters) {
      yd[o] = static_cast<int8_t>(sum / count);  // a mean of int8 values (a wrapped sum wraps, as in TFLite)
    } else {
      const float mean = static_cast<float>(sum) / static_cast<float>(count);
      const float rounded = std::round(mean * d.scale + d.float_bias) + static_cast<float>(d.y.zero_point);
      // TFLite clamps in float; float_to_int32 also defines NaN (an infinite scale ratio).
      yd[o] = static_cast<int8_t>(std::clamp(qmath::float_to_int32(std::max(std::min(rounded, 127.0f), -128.0f)), -128, 127));
    }
  }
}

}  // namespace

const Kernel& mean() {
  static const Kernel kernel{"MEAN", 2, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
