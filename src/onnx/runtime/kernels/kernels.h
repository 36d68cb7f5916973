#pragma once
// The ONNX runner's kernels, one file per op or small family of ops: each returns its
// registration, which op_resolver.cpp maps to ONNX op types.
#include "onnx/runtime/kernel.h"

namespace litepipe::onnxio::runtime::kernels {

// gemm.cpp
const Kernel& gemm();
const Kernel& matmul();
// binary.cpp
const Kernel& add();
const Kernel& sub();
const Kernel& mul();
const Kernel& div();
// unary.cpp
const Kernel& relu();
const Kernel& sigmoid();
const Kernel& tanh();
const Kernel& hard_sigmoid();
const Kernel& clip();
const Kernel& is_nan();
const Kernel& cast();
const Kernel& sqrt();
// views.cpp
const Kernel& identity();
const Kernel& dropout();
const Kernel& reshape();
const Kernel& flatten();
// conv_pool.cpp (oneDNN)
const Kernel& conv();
const Kernel& max_pool();
const Kernel& average_pool();
// global_pool.cpp
const Kernel& global_average_pool();
const Kernel& global_max_pool();
// reduce.cpp
const Kernel& reduce_mean();
const Kernel& reduce_max();
// one file each
const Kernel& softmax();
const Kernel& transpose();
const Kernel& concat();
const Kernel& gather();
const Kernel& where();
const Kernel& pad();
const Kernel& batch_normalization();
const Kernel& resize();

}  // namespace litepipe::onnxio::runtime::kernels
