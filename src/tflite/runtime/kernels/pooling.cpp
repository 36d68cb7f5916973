// MAX_POOL_2D and AVERAGE_POOL_2D over NHWC: one Init and Prepare for both ops and both types,
// an Eval per (op, type). int8 pooling keeps the input's scale and zero point.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"

namespace litepipe::tfl::kernels {
namespace {

struct PoolData : OpData {
  // Init
  ::tflite::Padding padding = ::tflite::Padding_SAME;
  int64_t stride_h = 1, stride_w = 1, filter_h = 1, filter_w = 1;
  ::tflite::ActivationFunctionType activation = ::tflite::ActivationFunctionType_NONE;
  bool int8 = false;
  int32_t act_min = -128, act_max = 127;  // int8
  // Prepare
  int64_t batch = 0, ih = 0, iw = 0, channels = 0, oh = 0, ow = 0, ph = 0, pw = 0;
  size_t acc = 0;  // int8 average: per-channel sums (scratch)
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(1, 1, 1);
  auto d = std::make_unique<PoolData>();
  // Absent options are TFLite's zero-initialized parameters: a stride of 0, which is an Error.
  const auto o = options_or_default<::tflite::Pool2DOptionsT>(ctx);
  d->padding = padding(ctx, o.padding);
  d->stride_h = positive(ctx, o.stride_h, "stride_h");
  d->stride_w = positive(ctx, o.stride_w, "stride_w");
  d->filter_h = positive(ctx, o.filter_height, "filter_height");
  d->filter_w = positive(ctx, o.filter_width, "filter_width");
  d->activation = fused_activation(ctx, o.fused_activation_function);
  const Tensor& x = ctx.input(0);
  const Tensor& y = ctx.output();
  if (x.type == DType::Float32) {
    ctx.expect_type(y, DType::Float32, "output");
  } else if (x.type == DType::Int8) {
    d->int8 = true;
    const auto xq = ctx.int8_params(x, "input"), yq = ctx.int8_params(y, "output");
    if (std::abs(xq.scale - yq.scale) > 1e-6f || xq.zero_point != yq.zero_point) {
      ctx.fail("int8 pooling needs equal input and output quantization, got scale {} / {} and zero point {} / {}", xq.scale, yq.scale, xq.zero_point,
               yq.zero_point);
    }
    std::tie(d->act_min, d->act_max) = int8_activation_range(ctx, d->activation, yq);
  } else {
    ctx.fail("input '{}' is {}; expected float32 or int8", x.name, dtype_name(x.type));
  }
  return d;
}

template <typename T, bool kMax>
void eval(OpContext& ctx);

template <bool kMax>
void prepare(OpContext& ctx) {
  auto& d = ctx.data<PoolData>();
  const Tensor& x = ctx.input(0);
  ctx.expect_rank(x, 4, "input");
  d.batch = x.shape[0];
  d.ih = x.shape[1];
  d.iw = x.shape[2];
  d.channels = x.shape[3];
  const Window h = window(ctx, d.ih, d.filter_h, d.stride_h, 1, d.padding, "height");
  const Window w = window(ctx, d.iw, d.filter_w, d.stride_w, 1, d.padding, "width");
  d.oh = h.out;
  d.ph = h.pad;
  d.ow = w.out;
  d.pw = w.pad;
  ctx.set_output_shape(ctx.output(), {d.batch, d.oh, d.ow, d.channels});
  if (d.int8 && !kMax) d.acc = ctx.request_scratch(ctx.scratch_bytes(d.channels, sizeof(int64_t), "sums"));
  ctx.node().eval = d.int8 ? eval<int8_t, kMax> : eval<float, kMax>;
}

template <typename T, bool kMax>
void eval(OpContext& ctx) {
  const auto& d = ctx.data<PoolData>();
  const T* xd = ctx.input(0).as<T>();
  Tensor& y = ctx.output();
  T* yd = y.as<T>();
  const int64_t c = d.channels;
  for (int64_t b = 0; b < d.batch; ++b)
    for (int64_t oy = 0; oy < d.oh; ++oy)
      for (int64_t ox = 0; ox < d.ow; ++ox) {
        const int64_t y0 = std::max<int64_t>(oy * d.stride_h - d.ph, 0), y1 = std::min(oy * d.stride_h - d.ph + d.filter_h, d.ih);
        const int64_t x0 = std::max<int64_t>(ox * d.stride_w - d.pw, 0), x1 = std::min(ox * d.stride_w - d.pw + d.filter_w, d.iw);
        // TFLite's padding puts every window over at least one input value.
        const int64_t count = std::max<int64_t>((y1 - y0) * (x1 - x0), 1);
        T* out = yd + ((b * d.oh + oy) * d.ow + ox) * c;
        if constexpr (std::is_same_v<T, float>) {
          for (int64_t ch = 0; ch < c; ++ch) out[ch] = kMax ? -INFINITY : 0.0f;
          for (int64_t iy = y0; iy < y1; ++iy)
            for (int64_t ix = x0; ix < x1; ++ix) {
              const float* p = xd + ((b * d.ih + iy) * d.iw + ix) * c;
              for (int64_t ch = 0; ch < c; ++ch) out[ch] = kMax ? std::max(out[ch], p[ch]) : out[ch] + p[ch];
            }
          if (!kMax)
            for (int64_t ch = 0; ch < c; ++ch) out[ch] /= static_cast<float>(count);
        } else if constexpr (kMax) {
          // Channels are contiguous: a vectorized int8 max per window tap.
          const auto lo = static_cast<int8_t>(d.act_min), hi = static_cast<int8_t>(d.act_max);
          std::fill(out, out + c, lo);
          for (int64_t iy = y0; iy < y1; ++iy)
            for (int64_t ix = x0; ix < x1; ++ix) {
              const int8_t* p = xd + ((b * d.ih + iy) * d.iw + ix) * c;
              for (int64_t ch = 0; ch < c; ++ch) out[ch] = std::max(out[ch], p[ch]);
            }
          for (int64_t ch = 0; ch < c; ++ch) out[ch] = std::min(out[ch], hi);
        } else {
          int64_t* acc = ctx.scratch<int64_t>(d.acc);
          std::fill(acc, acc + c, 0);
          for (int64_t iy = y0; iy < y1; ++iy)
            for (int64_t ix = x0; ix < x1; ++ix) {
              const int8_t* p = xd + ((b * d.ih + iy) * d.iw + ix) * c;
              for (int64_t ch = 0; ch < c; ++ch) acc[ch] += p[ch];
            }
          for (int64_t ch = 0; ch < c; ++ch) {
            // TFLite's average: divide rounding half away from zero.
            const int64_t v = acc[ch] > 0 ? (acc[ch] + count / 2) / count : (acc[ch] - count / 2) / count;
            out[ch] = static_cast<int8_t>(std::clamp<int64_t>(v, d.act_min, d.act_max));
          }
        }
      }
  if constexpr (std::is_same_v<T, float>) apply_activation(yd, y.elements(), d.activation);
}

}  // namespace

const Kernel& max_pool_2d() {
  static const Kernel kernel{"MAX_POOL_2D", 2, init, prepare<true>};
  return kernel;
}

const Kernel& average_pool_2d() {
  static const Kernel kernel{"AVERAGE_POOL_2D", 2, init, prepare<false>};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
