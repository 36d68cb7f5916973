// Add, Sub, Mul, Div with NumPy broadcasting. The element loop is chosen per call by the operand
// shapes: equal shapes, a scalar operand, B repeated over A's leading dimensions (a bias), or the
// general strided walk.
#include <algorithm>

#include "nn/broadcast.h"
#include "onnx/runtime/kernels/kernel_util.h"
#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

struct AddOp {
  static float apply(float a, float b) { return a + b; }
};
struct SubOp {
  static float apply(float a, float b) { return a - b; }
};
struct MulOp {
  static float apply(float a, float b) { return a * b; }
};
struct DivOp {
  static float apply(float a, float b) { return a / b; }
};

std::unique_ptr<OpData> prepare(PrepareContext&) { return std::make_unique<OpData>(); }

// `b`'s shape is the trailing part of `a`'s (b repeats over a's leading dimensions).
bool is_suffix(const Shape& a, const Shape& b) {
  return b.size() <= a.size() && std::equal(b.begin(), b.end(), a.end() - static_cast<ptrdiff_t>(b.size()));
}

template <typename Op>
void eval(const Node& node, Frame& frame) {
  const Tensor& a = frame.input(node, 0);
  const Tensor& b = frame.input(node, 1);
  const float* pa = a.data();
  const float* pb = b.data();
  if (a.shape() == b.shape()) {
    float* y = frame.output(node, a.shape()).data();
    for (int64_t i = 0; i < a.size(); ++i) y[i] = Op::apply(pa[i], pb[i]);
  } else if (b.size() == 1 && b.rank() <= a.rank()) {
    float* y = frame.output(node, a.shape()).data();
    const float v = pb[0];
    for (int64_t i = 0; i < a.size(); ++i) y[i] = Op::apply(pa[i], v);
  } else if (a.size() == 1 && a.rank() <= b.rank()) {
    float* y = frame.output(node, b.shape()).data();
    const float v = pa[0];
    for (int64_t i = 0; i < b.size(); ++i) y[i] = Op::apply(v, pb[i]);
  } else if (b.size() > 0 && is_suffix(a.shape(), b.shape())) {
    float* y = frame.output(node, a.shape()).data();
    const int64_t row = b.size();
    for (int64_t r = 0; r < a.size() / row; ++r)
      for (int64_t i = 0; i < row; ++i) y[r * row + i] = Op::apply(pa[r * row + i], pb[i]);
  } else {
    Shape& dims = frame.scratch<DimsScratch>(node).dims;
    broadcast_shape(node, a.shape(), b.shape(), dims);
    float* y = frame.output(node, dims).data();
    nn::for_each_broadcast(dims, a.shape(), b.shape(), [&](int64_t o, int64_t ia, int64_t ib) { y[o] = Op::apply(pa[ia], pb[ib]); });
  }
}

}  // namespace

const Kernel& add() {
  static const Kernel kernel{"Add", 2, prepare, eval<AddOp>};
  return kernel;
}

const Kernel& sub() {
  static const Kernel kernel{"Sub", 2, prepare, eval<SubOp>};
  return kernel;
}

const Kernel& mul() {
  static const Kernel kernel{"Mul", 2, prepare, eval<MulOp>};
  return kernel;
}

const Kernel& div() {
  static const Kernel kernel{"Div", 2, prepare, eval<DivOp>};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
