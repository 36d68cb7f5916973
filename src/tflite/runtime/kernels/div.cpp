// DIV with NumPy broadcasting and a fused activation: float32.
#include "tflite/runtime/kernels/binary.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

std::unique_ptr<OpData> init(OpContext& ctx) {
  return binary_init(ctx, BinaryOp::Div, options_or_default<::tflite::DivOptionsT>(ctx).fused_activation_function);
}

}  // namespace

const Kernel& div() {
  static const Kernel kernel{"DIV", 1, init, binary_prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
