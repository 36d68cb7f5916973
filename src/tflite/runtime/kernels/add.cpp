// ADD with NumPy broadcasting and a fused activation: float32 and int8 (TFLite's reference int8 ADD: both inputs rescaled to twice the larger scale).
#include "tflite/runtime/kernels/binary.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

std::unique_ptr<OpData> init(OpContext& ctx) {
  return binary_init(ctx, BinaryOp::Add, options_or_default<::tflite::AddOptionsT>(ctx).fused_activation_function);
}

}  // namespace

const Kernel& add() {
  static const Kernel kernel{"ADD", 2, init, binary_prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
