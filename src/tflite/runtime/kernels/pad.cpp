// PAD: constant padding of up to 5 dimensions (TFLite's limit) with constant int32 or int64
// paddings [rank, 2] (before, after per axis; never negative). float32 pads with 0; int8 keeps the
// input's scale and zero point on the output, as TFLite requires, and pads with the zero point
// (the int8 of 0.0).
#include <algorithm>
#include <cstring>

#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

constexpr size_t kMaxPadRank = 5;

struct PadData : OpData {
  // Init
  std::vector<int64_t> before, after;
  size_t element_size = 0;
  uint8_t pad_byte = 0;  // float 0.0 is all zero bits; int8 pads with the zero point
  // Prepare
  std::vector<int64_t> in_shape, out_strides;
  int64_t row = 1, rows = 0;  // the input as rows of its last axis
  int64_t offset = 0;         // where input element 0 lands in the output
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(2, 2, 1);
  auto d = std::make_unique<PadData>();
  const Tensor& x = ctx.input(0);
  const Tensor& paddings = ctx.input(1);
  const Tensor& y = ctx.output();
  if (!paddings.constant) ctx.fail("paddings '{}' must be constant", paddings.name);
  if (paddings.type != DType::Int32 && paddings.type != DType::Int64) {
    ctx.fail("paddings '{}' are {}; expected int32 or int64", paddings.name, dtype_name(paddings.type));
  }
  const size_t rank = x.shape.size();
  if (rank < 1 || rank > kMaxPadRank) ctx.fail("input '{}' has rank {}; PAD takes 1 to {} dimensions", x.name, rank, kMaxPadRank);
  if (paddings.shape != std::vector<int32_t>{static_cast<int32_t>(rank), 2}) {
    ctx.fail("paddings '{}' have shape [{}]; a rank-{} input needs [{}, 2]", paddings.name, fmt::join(paddings.shape, ", "), rank, rank);
  }
  for (size_t a = 0; a < rank; ++a) {
    const int64_t b = paddings.type == DType::Int32 ? paddings.as<int32_t>()[2 * a] : paddings.as<int64_t>()[2 * a];
    const int64_t e = paddings.type == DType::Int32 ? paddings.as<int32_t>()[2 * a + 1] : paddings.as<int64_t>()[2 * a + 1];
    if (b < 0 || e < 0 || b > kMaxTensorElements || e > kMaxTensorElements) ctx.fail("paddings on axis {} are {} and {}; expected >= 0", a, b, e);
    d->before.push_back(b);
    d->after.push_back(e);
  }
  if (expect_float_or_same_scale_int8(ctx, x, y, "input")) {
    const auto out = ctx.int8_params(y, "output");
    if (out.zero_point < -128 || out.zero_point > 127) ctx.fail("output zero point {} is outside int8", out.zero_point);
    d->pad_byte = static_cast<uint8_t>(static_cast<int8_t>(out.zero_point));
  }
  d->element_size = dtype_size(x.type);
  return d;
}

void eval(OpContext& ctx) {
  const auto& d = ctx.data<PadData>();
  const auto* from = static_cast<const uint8_t*>(ctx.input(0).data);
  Tensor& y = ctx.output();
  auto* to = static_cast<uint8_t*>(y.data);
  std::memset(to, d.pad_byte, y.bytes());
  const size_t rank = d.in_shape.size();
  const size_t row_bytes = static_cast<size_t>(d.row) * d.element_size;
  std::vector<int64_t> index(rank, 0);  // over the input's axes but the last
  int64_t o = d.offset;
  for (int64_t r = 0; r < d.rows; ++r) {
    std::memcpy(to + static_cast<size_t>(o) * d.element_size, from + static_cast<size_t>(r) * row_bytes, row_bytes);
    for (size_t a = rank - 1; a-- > 0;) {
      o += d.out_strides[a];
      if (++index[a] < d.in_shape[a]) break;
      o -= d.out_strides[a] * d.in_shape[a];
      index[a] = 0;
    }
  }
}

void prepare(OpContext& ctx) {
  auto& d = ctx.data<PadData>();
  const Tensor& x = ctx.input(0);
  const size_t rank = d.before.size();
  if (x.shape.size() != rank) ctx.fail("input '{}' has rank {}; the paddings are for rank {}", x.name, x.shape.size(), rank);
  std::vector<int64_t> out(rank);
  for (size_t a = 0; a < rank; ++a) {
    auto padded = checked_add(x.shape[a], d.before[a]);
    if (padded) padded = checked_add(*padded, d.after[a]);
    if (!padded) ctx.fail("padding axis {} of '{}' gives more than {} values", a, x.name, kMaxTensorElements);
    out[a] = *padded;
  }
  ctx.set_output_shape(ctx.output(), out);  // checks the element count
  d.in_shape.assign(x.shape.begin(), x.shape.end());
  d.out_strides.assign(rank, 1);
  for (size_t a = rank - 1; a-- > 0;) d.out_strides[a] = d.out_strides[a + 1] * out[a + 1];
  d.offset = 0;
  for (size_t a = 0; a < rank; ++a) d.offset += d.before[a] * d.out_strides[a];
  d.row = x.shape[rank - 1];
  d.rows = d.row == 0 ? 0 : x.elements() / d.row;
  ctx.node().eval = eval;
}

}  // namespace

// Versions 1-4: float32 (1), int8 (2), int16 (3, rejected by Init's type check), 5-D (4).
const Kernel& pad() {
  static const Kernel kernel{"PAD", 4, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
