#pragma once
// The builtin kernels, one file each (TFLite Micro's micro_ops.h): each returns its registration,
// which op_resolver.cpp maps to builtin operator codes.
#include "tflite/runtime/kernel.h"

namespace litepipe::tfl::kernels {

const Kernel& fully_connected();
const Kernel& conv_2d();
const Kernel& depthwise_conv_2d();
const Kernel& max_pool_2d();
const Kernel& average_pool_2d();
const Kernel& mean();
const Kernel& softmax();
const Kernel& relu();
const Kernel& relu6();
const Kernel& tanh();
const Kernel& logistic();
const Kernel& reshape();
const Kernel& add();
const Kernel& sub();
const Kernel& mul();
const Kernel& div();
const Kernel& not_equal();
const Kernel& select_v2();
const Kernel& concatenation();
const Kernel& quantize();
const Kernel& dequantize();
const Kernel& cast();
const Kernel& gather();
const Kernel& hard_swish();
const Kernel& pad();
const Kernel& reduce_max();
const Kernel& resize_nearest_neighbor();
const Kernel& rsqrt();

}  // namespace litepipe::tfl::kernels
