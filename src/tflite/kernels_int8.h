#pragma once
// Int8 kernels of litepipe's TensorFlow Lite interpreter (full-integer models). They follow
// TFLite's builtin int8 kernels arithmetic step for step (offsets, int32 accumulation, the
// quantized multipliers of quantized_math.h, activation clamping), so their outputs are
// bit-identical. Prepare validates quantization parameters and precomputes multipliers.
#include "tflite/interpreter.h"

namespace litepipe::tfl::int8 {

void fully_connected_prepare(Interpreter& in, Node& n);
void fully_connected_eval(Interpreter& in, Node& n);
void conv_prepare(Interpreter& in, Node& n);
void conv_eval(Interpreter& in, Node& n);
void depthwise_conv_prepare(Interpreter& in, Node& n);
void depthwise_conv_eval(Interpreter& in, Node& n);
void pool_prepare(Interpreter& in, Node& n);
void max_pool_eval(Interpreter& in, Node& n);
void average_pool_eval(Interpreter& in, Node& n);
void softmax_prepare(Interpreter& in, Node& n);
void softmax_eval(Interpreter& in, Node& n);
void add_prepare(Interpreter& in, Node& n);
void add_eval(Interpreter& in, Node& n);
void mul_prepare(Interpreter& in, Node& n);
void mul_eval(Interpreter& in, Node& n);
void sub_prepare(Interpreter& in, Node& n);
void sub_eval(Interpreter& in, Node& n);
void relu_prepare(Interpreter& in, Node& n);
void relu6_prepare(Interpreter& in, Node& n);
void relu_eval(Interpreter& in, Node& n);
void logistic_prepare(Interpreter& in, Node& n);
void tanh_prepare(Interpreter& in, Node& n);
void lookup_table_eval(Interpreter& in, Node& n);
void concat_prepare(Interpreter& in, Node& n);
void concat_eval(Interpreter& in, Node& n);
void requantize_prepare(Interpreter& in, Node& n);
void requantize_eval(Interpreter& in, Node& n);
void mean_prepare(Interpreter& in, Node& n);
void mean_eval(Interpreter& in, Node& n);

}  // namespace litepipe::tfl::int8
