// CAST float32 -> int32 (how a float id feature becomes GATHER's indices): truncation toward zero
// as TFLite's static_cast; NaN becomes 0 and values beyond int32 saturate (a C++ cast of those
// would be undefined, and the values come from the caller).
#include <cmath>
#include <limits>

#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(1, 1, 1);
  ctx.expect_type(ctx.input(0), DType::Float32, "input");
  ctx.expect_type(ctx.output(), DType::Int32, "output");
  return std::make_unique<OpData>();
}

void eval(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const float* in = x.as<float>();
  int32_t* out = ctx.output().as<int32_t>();
  constexpr float kLimit = 2147483520.0f;  // the largest float below 2^31
  for (int64_t i = 0, n = x.elements(); i < n; ++i) {
    const float v = in[i];
    out[i] = std::isnan(v) ? 0 : v >= kLimit ? std::numeric_limits<int32_t>::max() : v <= -2147483648.0f ? std::numeric_limits<int32_t>::min()
                                                                                                            : static_cast<int32_t>(v);
  }
}

void prepare(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  ctx.set_output_shape(ctx.output(), std::vector<int64_t>(x.shape.begin(), x.shape.end()));
  ctx.node().eval = eval;
}

}  // namespace

const Kernel& cast() {
  static const Kernel kernel{"CAST", 1, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
