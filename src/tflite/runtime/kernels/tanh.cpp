// TANH: float32, and int8 as TFLite's lookup table (output scale 1/128, zero point 0).
#include <cmath>

#include "tflite/runtime/kernels/kernels.h"
#include "tflite/runtime/kernels/unary.h"

namespace litepipe::tfl::kernels {
namespace {

std::unique_ptr<OpData> init(OpContext& ctx) { return unary_init(ctx); }

void eval_float(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  const float* xd = x.as<float>();
  float* y = ctx.output().as<float>();
  const int64_t n = x.elements();
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(xd[i]);
}

void prepare(OpContext& ctx) {
  if (!ctx.data<UnaryData>().int8) {
    same_shape(ctx);
    ctx.node().eval = eval_float;
    return;
  }
  prepare_lookup_table(ctx, [](float v) { return std::tanh(v); }, 1.0f / 128, 0, "TANH");
}

}  // namespace

const Kernel& tanh() {
  static const Kernel kernel{"TANH", 2, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
