#pragma once
// What the element-wise unary kernels (RELU, RELU6, LOGISTIC, TANH, int8 QUANTIZE) share: one
// Init for "same shape, float32 -> float32 or int8 -> int8", a Prepare that copies the shape, and
// their int8 forms — rescaling to the output's parameters then clamping (TFLite's QuantizedReluX
// and Requantize), or a 256-entry table of the function at every int8 input (TFLite's lookup-table
// LOGISTIC / TANH).
#include <cstdint>
#include <memory>

#include "tflite/runtime/kernels/kernel_util.h"

namespace litepipe::tfl::kernels {

struct UnaryData : OpData {
  bool int8 = false;
  OpContext::QuantParams x{}, y{};
  // int8 rescaling
  qmath::Multiplier multiplier;
  int32_t lo = -128, hi = 127;
  // int8 lookup table, indexed by the input's bits as uint8
  int8_t table[256] = {};
};

// One float32 or int8 (per tensor) input, an output of the same type.
std::unique_ptr<UnaryData> unary_init(OpContext& ctx);
// Output shape = input shape.
void same_shape(OpContext& ctx);
// same_shape, and a float32 op gets `eval_float`. Returns whether the op is int8 (its Prepare goes
// on to its int8 Eval).
bool same_shape_int8(OpContext& ctx, EvalFn eval_float);

// int8: y = clamp(y_zero_point + (x - x_zero_point) * x_scale / y_scale, act_min, act_max), the
// bounds in real values (infinite for none).
void prepare_rescale(OpContext& ctx, float act_min, float act_max);
void eval_rescale(OpContext& ctx);
// int8: the table of f at every input; the output must have the fixed parameters TFLite requires.
void prepare_lookup_table(OpContext& ctx, float (*f)(float), float want_scale, int32_t want_zero_point, const char* what);
void eval_lookup_table(OpContext& ctx);

}  // namespace litepipe::tfl::kernels
