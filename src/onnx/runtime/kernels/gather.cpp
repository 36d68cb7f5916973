// Gather on axis 0: rows of `data` picked by integer ids -> [ids..., data's other dims].
#include <algorithm>
#include <cmath>

#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

std::unique_ptr<OpData> prepare(PrepareContext& ctx) {
  if (ctx.attr_int("axis", 0) != 0) ctx.fail("only axis 0 is supported");
  return std::make_unique<OpData>();
}

void eval(const Node& node, Frame& frame) {
  const Tensor& data = frame.input(node, 0);
  const Tensor& ids = frame.input(node, 1);
  if (data.rank() < 1) node.fail("only axis 0 is supported");
  const int64_t rows = data.dim(0), row = data.size() / std::max<int64_t>(rows, 1);
  Shape& shape = frame.scratch<DimsScratch>(node).dims;
  shape = ids.shape();
  shape.insert(shape.end(), data.shape().begin() + 1, data.shape().end());
  Tensor& out = frame.output(node, shape);
  for (int64_t i = 0; i < ids.size(); ++i) {
    const float v = ids[i];
    // Checked as a float first: converting a NaN or a huge value to an integer is undefined.
    if (!(v == std::floor(v) && v >= -static_cast<float>(rows) && v < static_cast<float>(rows))) node.fail("index {} is out of range [-{}, {})", v, rows, rows);
    auto id = static_cast<int64_t>(v);
    if (id < 0) id += rows;  // ONNX: negative ids count from the end
    std::copy_n(data.data() + id * row, row, out.data() + i * row);
  }
}

}  // namespace

const Kernel& gather() {
  static const Kernel kernel{"Gather", 2, prepare, eval};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
