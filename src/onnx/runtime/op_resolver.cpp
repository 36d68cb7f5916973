// The op resolver: ONNX op type -> kernel registration, consulted once per node when a model is
// loaded (Node::kernel), never while it runs.
#include <array>

#include "onnx/runtime/graph.h"
#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime {

const Kernel* find_kernel(const std::string& op_type) {
  using namespace kernels;
  static const std::array<const Kernel*, 33> table = {
      &gemm(), &matmul(), &add(), &sub(), &mul(), &div(), &relu(), &sigmoid(), &tanh(), &hard_sigmoid(), &clip(), &is_nan(),
      &cast(), &sqrt(), &identity(), &dropout(), &reshape(), &flatten(), &conv(), &max_pool(), &average_pool(),
      &global_average_pool(), &global_max_pool(), &reduce_mean(), &reduce_max(), &softmax(), &transpose(), &concat(), &gather(),
      &where(), &pad(), &batch_normalization(), &resize()};
  for (const Kernel* kernel : table)
    if (op_type == kernel->op_type) return kernel;
  return nullptr;
}

}  // namespace litepipe::onnxio::runtime
