// The builtin op resolver: operator code -> kernel registration, consulted once per operator when
// a model is loaded (Node::kernel), never while it runs.
#include <array>
#include <utility>

#include "tflite/runtime/kernel.h"
#include "tflite/runtime/kernels/kernels.h"
#include "tflite_subset_generated.h"

namespace litepipe::tfl {

const Kernel* find_kernel(int builtin) {
  using ::tflite::BuiltinOperator;
  static const std::array<std::pair<BuiltinOperator, const Kernel*>, 28> table = {{
      {::tflite::BuiltinOperator_FULLY_CONNECTED, &kernels::fully_connected()},
      {::tflite::BuiltinOperator_CONV_2D, &kernels::conv_2d()},
      {::tflite::BuiltinOperator_DEPTHWISE_CONV_2D, &kernels::depthwise_conv_2d()},
      {::tflite::BuiltinOperator_MAX_POOL_2D, &kernels::max_pool_2d()},
      {::tflite::BuiltinOperator_AVERAGE_POOL_2D, &kernels::average_pool_2d()},
      {::tflite::BuiltinOperator_MEAN, &kernels::mean()},
      {::tflite::BuiltinOperator_SOFTMAX, &kernels::softmax()},
      {::tflite::BuiltinOperator_RELU, &kernels::relu()},
      {::tflite::BuiltinOperator_RELU6, &kernels::relu6()},
      {::tflite::BuiltinOperator_TANH, &kernels::tanh()},
      {::tflite::BuiltinOperator_LOGISTIC, &kernels::logistic()},
      {::tflite::BuiltinOperator_RESHAPE, &kernels::reshape()},
      {::tflite::BuiltinOperator_ADD, &kernels::add()},
      {::tflite::BuiltinOperator_SUB, &kernels::sub()},
      {::tflite::BuiltinOperator_MUL, &kernels::mul()},
      {::tflite::BuiltinOperator_DIV, &kernels::div()},
      {::tflite::BuiltinOperator_NOT_EQUAL, &kernels::not_equal()},
      {::tflite::BuiltinOperator_SELECT_V2, &kernels::select_v2()},
      {::tflite::BuiltinOperator_CONCATENATION, &kernels::concatenation()},
      {::tflite::BuiltinOperator_QUANTIZE, &kernels::quantize()},
      {::tflite::BuiltinOperator_DEQUANTIZE, &kernels::dequantize()},
      {::tflite::BuiltinOperator_CAST, &kernels::cast()},
      {::tflite::BuiltinOperator_GATHER, &kernels::gather()},
      {::tflite::BuiltinOperator_HARD_SWISH, &kernels::hard_swish()},
      {::tflite::BuiltinOperator_PAD, &kernels::pad()},
      {::tflite::BuiltinOperator_REDUCE_MAX, &kernels::reduce_max()},
      {::tflite::BuiltinOperator_RESIZE_NEAREST_NEIGHBOR, &kernels::resize_nearest_neighbor()},
      {::tflite::BuiltinOperator_RSQRT, &kernels::rsqrt()},
  }};
  for (const auto& [code, kernel] : table)
    if (static_cast<int>(code) == builtin) return kernel;
  return nullptr;
}

}  // namespace litepipe::tfl
