// DEQUANTIZE: int8 (per tensor, or per channel along quantized_dimension) or float16 -> float32.
#include <algorithm>

#include "tflite/runtime/fp16.h"
#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

struct DequantizeData : OpData {
  int64_t channels = 1, inner = 1;  // int8 per channel: scale index = (i / inner) % channels
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(1, 1, 1);
  const Tensor& x = ctx.input(0);
  if (x.type != DType::Int8 && x.type != DType::Float16) ctx.fail("input '{}' is {}, expected int8 or float16", x.name, dtype_name(x.type));
  if (x.type == DType::Int8 && x.scale.empty()) ctx.fail("int8 input '{}' has no quantization scale", x.name);
  ctx.expect_type(ctx.output(), DType::Float32, "output");
  return std::make_unique<DequantizeData>();
}

void eval_float16(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  float* y = ctx.output().as<float>();
  const uint16_t* xd = x.as<uint16_t>();
  const int64_t n = x.elements();
  for (int64_t i = 0; i < n; ++i) y[i] = half_to_float(xd[i]);
}

void eval_int8(OpContext& ctx) {
  const auto& d = ctx.data<DequantizeData>();
  const Tensor& x = ctx.input(0);
  float* y = ctx.output().as<float>();
  const int8_t* xd = x.as<int8_t>();
  const int64_t n = x.elements();
  for (int64_t i = 0; i < n; ++i) {
    const size_t c = d.channels > 1 ? static_cast<size_t>((i / d.inner) % d.channels) : 0;
    const int64_t zp = x.zero_point.empty() ? 0 : x.zero_point[c];
    y[i] = static_cast<float>(xd[i] - zp) * x.scale[c];
  }
}

void prepare(OpContext& ctx) {
  auto& d = ctx.data<DequantizeData>();
  const Tensor& x = ctx.input(0);
  ctx.set_output_shape(ctx.output(), std::vector<int64_t>(x.shape.begin(), x.shape.end()));
  if (x.type == DType::Float16) {
    ctx.node().eval = eval_float16;
    return;
  }
  d.channels = 1;
  d.inner = 1;
  if (x.scale.size() > 1) {
    // The model check matched the scales to the file's shape; an activation's shape is the one Prepare computed.
    const int32_t axis = x.quantized_dimension;
    if (axis < 0 || static_cast<size_t>(axis) >= x.shape.size() || static_cast<size_t>(x.shape[static_cast<size_t>(axis)]) != x.scale.size()) {
      ctx.fail("input '{}' [{}] has {} scales along quantized_dimension {}", x.name, fmt::join(x.shape, ", "), x.scale.size(), axis);
    }
    d.channels = static_cast<int64_t>(x.scale.size());
    for (size_t k = static_cast<size_t>(axis) + 1; k < x.shape.size(); ++k) d.inner *= x.shape[k];
  }
  ctx.node().eval = eval_int8;
}

}  // namespace

const Kernel& dequantize() {
  static const Kernel kernel{"DEQUANTIZE", 3, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
