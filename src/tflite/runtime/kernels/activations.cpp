// RELU and RELU6 (TFLite Micro's activations.cc): float32, and int8 rescaled to the output's
// parameters then clamped to [0, inf) / [0, 6] in real values.
#include <cmath>
#include <cstring>

#include "tflite/runtime/kernels/kernels.h"
#include "tflite/runtime/kernels/unary.h"

namespace litepipe::tfl::kernels {
namespace {

std::unique_ptr<OpData> init(OpContext& ctx) { return unary_init(ctx); }

template <::tflite::ActivationFunctionType kAct>
void eval_float(OpContext& ctx) {
  const Tensor& x = ctx.input(0);
  float* y = ctx.output().as<float>();
  std::memcpy(y, x.data, x.bytes());
  apply_activation(y, x.elements(), kAct);
}

template <::tflite::ActivationFunctionType kAct>
void prepare(OpContext& ctx) {
  const auto& d = ctx.data<UnaryData>();
  if (!d.int8) {
    same_shape(ctx);
    ctx.node().eval = eval_float<kAct>;
    return;
  }
  prepare_rescale(ctx, 0.0f, kAct == ::tflite::ActivationFunctionType_RELU6 ? 6.0f : INFINITY);
}

}  // namespace

const Kernel& relu() {
  static const Kernel kernel{"RELU", 2, init, prepare<::tflite::ActivationFunctionType_RELU>};
  return kernel;
}

const Kernel& relu6() {
  static const Kernel kernel{"RELU6", 2, init, prepare<::tflite::ActivationFunctionType_RELU6>};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
