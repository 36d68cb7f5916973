// CONCATENATION along one axis, float32 or int8. One Init and Prepare for both types: every input
// of the output's type and rank, equal in every dimension but the axis; int8 inputs already carry
// the output's scale and zero point (TFLite requires it; litepipe's quantizer inserts QUANTIZE ops).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

struct ConcatenationData : OpData {
  int32_t axis_option = 0;
  ::tflite::ActivationFunctionType activation = ::tflite::ActivationFunctionType_NONE;
  bool int8 = false;
  int32_t act_min = -128, act_max = 127;
  size_t axis = 0;     // Prepare: normalized
  int64_t outer = 0;   // product of the dimensions before the axis
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  if (ctx.input_count() < 1) ctx.fail("has no inputs");
  ctx.expect_counts(1, ctx.input_count(), 1);
  auto d = std::make_unique<ConcatenationData>();
  const auto o = options_or_default<::tflite::ConcatenationOptionsT>(ctx);
  d->axis_option = o.axis;
  d->activation = fused_activation(ctx, o.fused_activation_function);
  const Tensor& y = ctx.output();
  if (y.type != DType::Float32 && y.type != DType::Int8) ctx.fail("output '{}' is {}; expected float32 or int8", y.name, dtype_name(y.type));
  d->int8 = y.type == DType::Int8;
  OpContext::QuantParams yq{};
  if (d->int8) {
    yq = ctx.int8_params(y, "output");
    std::tie(d->act_min, d->act_max) = int8_activation_range(ctx, d->activation, yq);
  }
  for (size_t i = 0; i < ctx.input_count(); ++i) {
    const Tensor& t = ctx.input(i);
    ctx.expect_type(t, y.type, "input");
    if (!d->int8) continue;
    const auto tq = ctx.int8_params(t, "input");
    if (std::abs(tq.scale - yq.scale) > 1e-6f * yq.scale || tq.zero_point != yq.zero_point) {
      ctx.fail("int8 input '{}' has scale {} / zero point {}; the output's are {} / {}", t.name, tq.scale, tq.zero_point, yq.scale, yq.zero_point);
    }
  }
  return d;
}

template <typename T>
void eval(OpContext& ctx) {
  const auto& d = ctx.data<ConcatenationData>();
  Tensor& y = ctx.output();
  T* out = y.as<T>();
  const int64_t total = y.elements();
  if (total == 0) return;
  const int64_t out_row = total / d.outer;
  int64_t offset = 0;
  for (size_t i = 0; i < ctx.input_count(); ++i) {
    const Tensor& t = ctx.input(i);
    const int64_t row = t.elements() / d.outer;
    for (int64_t r = 0; r < d.outer; ++r) std::memcpy(out + r * out_row + offset, t.as<T>() + r * row, static_cast<size_t>(row) * sizeof(T));
    offset += row;
  }
  if constexpr (std::is_same_v<T, float>) {
    apply_activation(out, total, d.activation);
  } else if (d.act_min > -128 || d.act_max < 127) {
    for (int64_t i = 0; i < total; ++i) out[i] = qmath::clamp_int8(out[i], d.act_min, d.act_max);
  }
}

void prepare(OpContext& ctx) {
  auto& d = ctx.data<ConcatenationData>();
  const Tensor& first = ctx.input(0);
  const auto rank = static_cast<int64_t>(first.shape.size());
  int64_t axis = d.axis_option < 0 ? d.axis_option + rank : d.axis_option;
  if (axis < 0 || axis >= rank) ctx.fail("axis {} is out of range for the rank-{} input '{}'", d.axis_option, rank, first.name);
  d.axis = static_cast<size_t>(axis);
  std::vector<int64_t> shape(first.shape.begin(), first.shape.end());
  shape[d.axis] = 0;
  for (size_t i = 0; i < ctx.input_count(); ++i) {
    const Tensor& t = ctx.input(i);
    if (t.shape.size() != first.shape.size()) ctx.fail("input '{}' has rank {}; input '{}' has {}", t.name, t.shape.size(), first.name, rank);
    for (size_t k = 0; k < t.shape.size(); ++k) {
      if (k != d.axis && t.shape[k] != first.shape[k]) {
        ctx.fail("input '{}' [{}] differs from '{}' [{}] outside axis {}", t.name, fmt::join(t.shape, ", "), first.name, fmt::join(first.shape, ", "), axis);
      }
    }
    auto sum = checked_add(shape[d.axis], t.shape[d.axis]);
    if (!sum) ctx.fail("the output's axis {} would exceed {}", axis, kMaxTensorElements);
    shape[d.axis] = *sum;
  }
  ctx.set_output_shape(ctx.output(), shape);
  d.outer = 1;
  for (size_t k = 0; k < d.axis; ++k) d.outer *= shape[k];
  ctx.node().eval = d.int8 ? eval<int8_t> : eval<float>;
}

}  // namespace

const Kernel& concatenation() {
  static const Kernel kernel{"CONCATENATION", 2, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
