// Where(cond, x, y) with NumPy broadcasting of all three; cond is a 1 / 0 float tensor (the
// runner's form of ONNX's bool).
#include "nn/broadcast.h"
#include "onnx/runtime/kernels/kernel_util.h"
#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

struct WhereScratch : NodeScratch {
  Shape pair, dims;
  std::vector<int64_t> index;
};

std::unique_ptr<OpData> prepare(PrepareContext&) { return std::make_unique<OpData>(); }

void eval(const Node& node, Frame& frame) {
  const Tensor& cond = frame.input(node, 0);
  const Tensor& x = frame.input(node, 1);
  const Tensor& y = frame.input(node, 2);
  if (cond.shape() == x.shape() && x.shape() == y.shape()) {
    float* out = frame.output(node, x.shape()).data();
    for (int64_t i = 0; i < x.size(); ++i) out[i] = cond[i] != 0.0f ? x[i] : y[i];
    return;
  }
  auto& s = frame.scratch<WhereScratch>(node);
  broadcast_shape(node, cond.shape(), x.shape(), s.pair);
  broadcast_shape(node, s.pair, y.shape(), s.dims);
  Tensor& out = frame.output(node, s.dims);
  const size_t r = s.dims.size();
  const auto sc = nn::broadcast_strides(cond.shape(), r), sx = nn::broadcast_strides(x.shape(), r), sy = nn::broadcast_strides(y.shape(), r);
  s.index.assign(r, 0);
  for (int64_t i = 0; i < out.size(); ++i) {
    int64_t ic = 0, ix = 0, iy = 0;
    for (size_t k = 0; k < r; ++k) {
      ic += s.index[k] * sc[k];
      ix += s.index[k] * sx[k];
      iy += s.index[k] * sy[k];
    }
    out[i] = cond[ic] != 0.0f ? x[ix] : y[iy];
    for (size_t k = r; k-- > 0;) {
      if (++s.index[k] < s.dims[k]) break;
      s.index[k] = 0;
    }
  }
}

}  // namespace

const Kernel& where() {
  static const Kernel kernel{"Where", 3, prepare, eval};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
