// SUB with NumPy broadcasting and a fused activation: float32 and int8 (as ADD, subtracting).
#include "tflite/runtime/kernels/binary.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

std::unique_ptr<OpData> init(OpContext& ctx) {
  return binary_init(ctx, BinaryOp::Sub, options_or_default<::tflite::SubOptionsT>(ctx).fused_activation_function);
}

}  // namespace

const Kernel& sub() {
  static const Kernel kernel{"SUB", 2, init, binary_prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
