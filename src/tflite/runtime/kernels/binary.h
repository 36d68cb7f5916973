#pragma once
// What ADD, SUB, MUL and DIV share: NumPy broadcasting, a fused activation, float32 Evals with
// fast paths for equal shapes and scalar / per-channel second operands, and (ADD, SUB, MUL) the
// int8 arithmetic of TFLite's reference kernels.
#include <cstdint>
#include <memory>

#include "tflite/runtime/kernels/kernel_util.h"

namespace litepipe::tfl::kernels {

enum class BinaryOp { Add, Sub, Mul, Div };

struct BinaryData : OpData {
  BinaryOp op = BinaryOp::Add;
  ::tflite::ActivationFunctionType activation = ::tflite::ActivationFunctionType_NONE;
  bool int8 = false;
  OpContext::QuantParams a{}, b{}, y{};
  // int8 (TFLite's ArithmeticParams)
  int32_t input1_offset = 0, input2_offset = 0, output_offset = 0, act_min = -128, act_max = 127;
  int left_shift = 0;
  qmath::Multiplier input1, input2, output;
};

// Init for `op` whose options' fused activation is `activation` (the options' default when absent).
std::unique_ptr<OpData> binary_init(OpContext& ctx, BinaryOp op, ::tflite::ActivationFunctionType activation);
void binary_prepare(OpContext& ctx);

}  // namespace litepipe::tfl::kernels
