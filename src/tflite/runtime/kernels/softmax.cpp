// SOFTMAX over the last axis: float32, and int8 as TFLite's lookup-table kernel (exp of every
// possible difference from the row's maximum, computed once in Prepare; each row normalized in
// float and rounded; output scale 1/256 and zero point -128, as TFLite requires).
#include <algorithm>
#include <cmath>

#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

struct SoftmaxData : OpData {
  float beta = 0.0f;  // TFLite's value when SoftmaxOptions are absent (zero-initialized parameters)
  bool int8 = false;
  OpContext::QuantParams x{}, y{};
  int64_t rows = 0, depth = 0;
  // int8: table[255 - d] = exp(-input_scale * beta * d) for a difference d = max - v in [0, 255].
  float table[256] = {};
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(1, 1, 1);
  auto d = std::make_unique<SoftmaxData>();
  if (const auto* o = ctx.op().builtin_options_as_SoftmaxOptions()) d->beta = o->beta();
  if (!std::isfinite(d->beta)) ctx.fail("beta is {}, expected a finite number", d->beta);
  const Tensor& x = ctx.input(0);
  const Tensor& y = ctx.output();
  if (x.type == DType::Float32) {
    ctx.expect_type(y, DType::Float32, "output");
  } else if (x.type == DType::Int8) {
    d->int8 = true;
    d->x = ctx.int8_params(x, "input");
    d->y = ctx.int8_params(y, "output");
    if (d->y.zero_point != -128 || std::abs(d->y.scale - 1.0f / 256) > 1e-6f) {
      ctx.fail("int8 softmax output '{}' must have scale 1/256 and zero point -128, has {} and {}", y.name, d->y.scale, d->y.zero_point);
    }
  } else {
    ctx.fail("input '{}' is {}; expected float32 or int8", x.name, dtype_name(x.type));
  }
  return d;
}

void eval_float(OpContext& ctx);
void eval_int8(OpContext& ctx);

void prepare(OpContext& ctx) {
  auto& d = ctx.data<SoftmaxData>();
  const Tensor& x = ctx.input(0);
  if (x.shape.empty()) ctx.fail("input '{}' is a scalar; softmax needs at least one dimension", x.name);
  d.depth = x.shape.back();
  d.rows = d.depth > 0 ? x.elements() / d.depth : 0;
  ctx.set_output_shape(ctx.output(), std::vector<int64_t>(x.shape.begin(), x.shape.end()));
  if (!d.int8) {
    ctx.node().eval = eval_float;
    return;
  }
  const float scale = -d.x.scale * d.beta;
  for (int32_t v = 0; v <= 255; ++v) d.table[255 - v] = std::exp(scale * static_cast<float>(v));
  ctx.node().eval = eval_int8;
}

void eval_float(OpContext& ctx) {
  const auto& d = ctx.data<SoftmaxData>();
  const float* xd = ctx.input(0).as<float>();
  float* yd = ctx.output().as<float>();
  for (int64_t r = 0; r < d.rows; ++r) {
    const float* p = xd + r * d.depth;
    float* q = yd + r * d.depth;
    const float m = *std::max_element(p, p + d.depth);
    float sum = 0;
    for (int64_t k = 0; k < d.depth; ++k) sum += q[k] = std::exp((p[k] - m) * d.beta);
    for (int64_t k = 0; k < d.depth; ++k) q[k] /= sum;
  }
}

// TFLite's reference code offsets the table pointer by 255 - max and indexes it with the int8
// input: &table[255 - max] lies up to 128 floats past the table when the row's maximum is
// negative (undefined behaviour, though every element read is inside). The same element, indexed
// from the table's start: table[255 - (max - v)].
void eval_int8(OpContext& ctx) {
  const auto& d = ctx.data<SoftmaxData>();
  const int8_t* xd = ctx.input(0).as<int8_t>();
  int8_t* yd = ctx.output().as<int8_t>();
  for (int64_t r = 0; r < d.rows; ++r) {
    const int8_t* p = xd + r * d.depth;
    int8_t* q = yd + r * d.depth;
    int32_t max_value = -128;
    for (int64_t j = 0; j < d.depth; ++j) max_value = std::max<int32_t>(max_value, p[j]);
    float sum = 0.0f;
    for (int64_t j = 0; j < d.depth; ++j) sum += d.table[255 + p[j] - max_value];
    const float inverse = 1.0f / (sum * d.y.scale);
    for (int64_t j = 0; j < d.depth; ++j) {
      const float rescaled = d.table[255 + p[j] - max_value] * inverse;
      const int64_t v = int64_t{qmath::float_to_int32(std::round(rescaled))} + d.y.zero_point;
      q[j] = static_cast<int8_t>(std::clamp<int64_t>(v, -128, 127));
    }
  }
}

}  // namespace

const Kernel& softmax() {
  static const Kernel kernel{"SOFTMAX", 2, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
