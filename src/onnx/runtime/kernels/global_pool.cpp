// GlobalAveragePool and GlobalMaxPool over [N, C, spatial...]: one value per (n, c), the spatial
// dimensions kept as 1 (ONNX's output has the input's rank).
#include <algorithm>

#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

std::unique_ptr<OpData> prepare(PrepareContext&) { return std::make_unique<OpData>(); }

template <bool kMax>
void eval(const Node& node, Frame& frame) {
  const Tensor& x = frame.input(node, 0);
  if (x.rank() < 3) node.fail("expects an input [N, C, spatial...], got {}", nn::shape_string(x.shape()));
  const int64_t planes = x.dim(0) * x.dim(1), hw = planes == 0 ? 0 : x.size() / planes;
  if (kMax && hw < 1) node.fail("the input {} has no spatial values", nn::shape_string(x.shape()));
  Shape& shape = frame.scratch<DimsScratch>(node).dims;
  shape.assign(x.rank(), 1);
  shape[0] = x.dim(0);
  shape[1] = x.dim(1);
  float* out = frame.output(node, shape).data();
  const float* p = x.data();
  for (int64_t i = 0; i < planes; ++i) {
    if constexpr (kMax) {
      out[i] = *std::max_element(p + i * hw, p + (i + 1) * hw);
    } else {
      double s = 0;  // summed in double: long planes lose no precision
      for (int64_t j = 0; j < hw; ++j) s += p[i * hw + j];
      out[i] = static_cast<float>(s / static_cast<double>(hw));
    }
  }
}

}  // namespace

const Kernel& global_average_pool() {
  static const Kernel kernel{"GlobalAveragePool", 1, prepare, eval<false>};
  return kernel;
}

const Kernel& global_max_pool() {
  static const Kernel kernel{"GlobalMaxPool", 1, prepare, eval<true>};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
