// RESIZE_NEAREST_NEIGHBOR: an NHWC image resized to a constant int32 size [height, width], each
// output pixel a copy of the input pixel TFLite's reference kernel picks (align_corners,
// half_pixel_centers). float32 or int8 (which keeps the input's scale and zero point, as TFLite
// requires); Prepare maps every output row and column to its source once.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

struct ResizeData : OpData {
  // Init
  int64_t out_h = 0, out_w = 0;
  bool align_corners = false, half_pixel_centers = false;
  size_t element_size = 0;
  // Prepare
  std::vector<int64_t> source_row, source_col;
  int64_t batch = 0, in_h = 0, in_w = 0, channels = 0;
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(2, 2, 1);
  auto d = std::make_unique<ResizeData>();
  const Tensor& x = ctx.input(0);
  const Tensor& size = ctx.input(1);
  const Tensor& y = ctx.output();
  ctx.expect_type(size, DType::Int32, "size");
  if (!size.constant) ctx.fail("size '{}' must be constant", size.name);
  if (size.elements() != 2) ctx.fail("size '{}' has {} values; expected [height, width]", size.name, size.elements());
  d->out_h = size.as<int32_t>()[0];
  d->out_w = size.as<int32_t>()[1];
  if (d->out_h < 1 || d->out_w < 1) ctx.fail("size '{}' is [{}, {}]; expected positive sizes", size.name, d->out_h, d->out_w);
  const auto o = options_or_default<::tflite::ResizeNearestNeighborOptionsT>(ctx);
  d->align_corners = o.align_corners;
  d->half_pixel_centers = o.half_pixel_centers;
  expect_float_or_same_scale_int8(ctx, x, y, "input");
  d->element_size = dtype_size(x.type);
  return d;
}

// TFLite's reference GetNearestNeighbor: the source index of output index `o` on one axis.
int64_t nearest(int64_t o, int64_t in, int64_t out, bool align_corners, bool half_pixel_centers) {
  const float scale = align_corners && out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : static_cast<float>(in) / static_cast<float>(out);
  const float offset = half_pixel_centers ? 0.5f : 0.0f;
  const float at = (static_cast<float>(o) + offset) * scale;
  int64_t source = std::min<int64_t>(align_corners ? static_cast<int64_t>(std::round(at)) : static_cast<int64_t>(std::floor(at)), in - 1);
  if (half_pixel_centers) source = std::max<int64_t>(0, source);
  return source;
}

void eval(OpContext& ctx) {
  const auto& d = ctx.data<ResizeData>();
  const auto* from = static_cast<const uint8_t*>(ctx.input(0).data);
  auto* to = static_cast<uint8_t*>(ctx.output().data);
  const size_t pixel = static_cast<size_t>(d.channels) * d.element_size;
  for (int64_t b = 0; b < d.batch; ++b) {
    for (int64_t y = 0; y < d.out_h; ++y) {
      const uint8_t* row = from + static_cast<size_t>((b * d.in_h + d.source_row[static_cast<size_t>(y)]) * d.in_w) * pixel;
      for (int64_t x = 0; x < d.out_w; ++x, to += pixel) std::memcpy(to, row + static_cast<size_t>(d.source_col[static_cast<size_t>(x)]) * pixel, pixel);
    }
  }
}

void prepare(OpContext& ctx) {
  auto& d = ctx.data<ResizeData>();
  const Tensor& x = ctx.input(0);
  if (x.shape.size() != 4) ctx.fail("input '{}' has rank {}; expected a 4-D NHWC image", x.name, x.shape.size());
  d.batch = x.shape[0];
  d.in_h = x.shape[1];
  d.in_w = x.shape[2];
  d.channels = x.shape[3];
  if (d.in_h < 1 || d.in_w < 1) ctx.fail("input '{}' has an empty image ({} x {})", x.name, d.in_h, d.in_w);
  ctx.set_output_shape(ctx.output(), {d.batch, d.out_h, d.out_w, d.channels});  // checks the element count
  d.source_row.resize(static_cast<size_t>(d.out_h));
  d.source_col.resize(static_cast<size_t>(d.out_w));
  for (int64_t y = 0; y < d.out_h; ++y) d.source_row[static_cast<size_t>(y)] = nearest(y, d.in_h, d.out_h, d.align_corners, d.half_pixel_centers);
  for (int64_t c = 0; c < d.out_w; ++c) d.source_col[static_cast<size_t>(c)] = nearest(c, d.in_w, d.out_w, d.align_corners, d.half_pixel_centers);
  ctx.node().eval = eval;
}

}  // namespace

// Versions 1-3: float32 (1), int8 (2), half_pixel_centers / align_corners (3); int16 (4) is
// rejected by Init's type check.
const Kernel& resize_nearest_neighbor() {
  static const Kernel kernel{"RESIZE_NEAREST_NEIGHBOR", 3, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
