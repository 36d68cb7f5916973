// MUL with NumPy broadcasting and a fused activation: float32 and int8 (the product of the offset inputs, rescaled once).
#include "tflite/runtime/kernels/binary.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

std::unique_ptr<OpData> init(OpContext& ctx) {
  return binary_init(ctx, BinaryOp::Mul, options_or_default<::tflite::MulOptionsT>(ctx).fused_activation_function);
}

}  // namespace

const Kernel& mul() {
  static const Kernel kernel{"MUL", 3, init, binary_prepare};  // 3: int8 with a multiplier >= 1
  return kernel;
}

}  // namespace litepipe::tfl::kernels
