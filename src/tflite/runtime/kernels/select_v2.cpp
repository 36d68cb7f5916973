// SELECT_V2: out = condition ? x : y with NumPy broadcasting of all three (bool condition, any
// nonzero byte true; float32 values).
#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(3, 3, 1);
  ctx.expect_type(ctx.input(0), DType::Bool, "condition");
  ctx.expect_type(ctx.input(1), DType::Float32, "input");
  ctx.expect_type(ctx.input(2), DType::Float32, "input");
  ctx.expect_type(ctx.output(), DType::Float32, "output");
  return std::make_unique<OpData>();
}

// Element strides of `shape` seen at rank `rank` (leading 1s added), 0 along broadcast dimensions.
std::vector<int64_t> strides(const std::vector<int32_t>& shape, size_t rank) {
  std::vector<int64_t> s(rank, 0);
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const size_t axis = rank - 1 - i;
    const int64_t dim = shape[shape.size() - 1 - i];
    s[axis] = dim == 1 ? 0 : stride;
    stride *= dim;
  }
  return s;
}

void eval(OpContext& ctx) {
  const Tensor& c = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const Tensor& y = ctx.input(2);
  Tensor& out = ctx.output();
  const uint8_t* cd = c.as<uint8_t>();
  const float* xd = x.as<float>();
  const float* yd = y.as<float>();
  float* od = out.as<float>();
  const int64_t count = out.elements();
  if (c.elements() == count && x.elements() == count && y.elements() == count) {
    for (int64_t i = 0; i < count; ++i) od[i] = cd[i] ? xd[i] : yd[i];
    return;
  }
  const size_t r = out.shape.size();
  const auto sc = strides(c.shape, r), sx = strides(x.shape, r), sy = strides(y.shape, r);
  std::vector<int32_t> idx(r, 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t ic = 0, ix = 0, iy = 0;
    for (size_t k = 0; k < r; ++k) {
      ic += idx[k] * sc[k];
      ix += idx[k] * sx[k];
      iy += idx[k] * sy[k];
    }
    od[i] = cd[ic] ? xd[ix] : yd[iy];
    for (size_t k = r; k-- > 0;) {
      if (++idx[k] < out.shape[k]) break;
      idx[k] = 0;
    }
  }
}

void prepare(OpContext& ctx) {
  const Tensor& c = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const Tensor& y = ctx.input(2);
  const std::vector<int64_t> cx = broadcast_shape(ctx, c.shape, x.shape);
  const std::vector<int64_t> all = broadcast_shape(ctx, std::vector<int32_t>(cx.begin(), cx.end()), y.shape);
  ctx.set_output_shape(ctx.output(), all);
  ctx.node().eval = eval;
}

}  // namespace

const Kernel& select_v2() {
  static const Kernel kernel{"SELECT_V2", 1, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
