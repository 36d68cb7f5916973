// DEPTHWISE_CONV_2D (filter [1, height, width, channels], channels = input channels x depth
// multiplier): float32, and int8 with a per-channel filter along axis 3 (TFLite's reference
// double rounding). Both run oneDNN's grouped convolution (one group per input channel): the
// filter's [height, width, channel, multiplier] order is oneDNN's hwigo; int8 takes exact int32
// sums from it and requantizes as TFLite does. The plain loops remain for what oneDNN cannot
// plan (zero-sized tensors, or no int8 kernel for the shape here) and for int8 where oneDNN's
// int8 kernels are not exact (no VNNI: see onednn_int8_exact).
#include <algorithm>

#include "tflite/runtime/kernels/dnnl_convolution.h"
#include "tflite/runtime/kernels/gemm.h"
#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"
#include "tflite/runtime/kernels/requantizer.h"

namespace litepipe::tfl::kernels {
namespace {

struct DepthwiseConvData : OpData {
  ConvParams params;
  int32_t depth_multiplier = 0;  // 0: implied by the filter
  bool int8 = false;
  ConvGeometry g{};
  size_t acc = 0;  // int8: scratch accumulators
  OpContext::QuantParams x{}, y{};
  Requantizer requantize;
  FloatConvolution float_conv;
  Int8Primitive int8_conv;
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(2, 3, 1);
  auto d = std::make_unique<DepthwiseConvData>();
  const auto o = options_or_default<::tflite::DepthwiseConv2DOptionsT>(ctx);
  d->params.padding = padding(ctx, o.padding);
  d->params.stride_h = positive(ctx, o.stride_h, "stride_h");
  d->params.stride_w = positive(ctx, o.stride_w, "stride_w");
  d->params.dilation_h = positive(ctx, o.dilation_h_factor, "dilation_h_factor");
  d->params.dilation_w = positive(ctx, o.dilation_w_factor, "dilation_w_factor");
  d->params.activation = fused_activation(ctx, o.fused_activation_function);
  if (o.depth_multiplier < 0) ctx.fail("depth_multiplier is {}, expected at least 0", o.depth_multiplier);
  d->depth_multiplier = o.depth_multiplier;
  const Tensor& x = ctx.input(0);
  const Tensor& f = ctx.input(1);
  const Tensor& y = ctx.output();
  const Tensor* b = ctx.optional_input(2);
  if (x.type == DType::Float32) {
    ctx.expect_type(f, DType::Float32, "filter");
    ctx.expect_type(y, DType::Float32, "output");
    if (b) ctx.expect_type(*b, DType::Float32, "bias");
  } else if (x.type == DType::Int8) {
    d->int8 = true;
    check_int8_filter(ctx, f, 3);
    d->x = ctx.int8_params(x, "input");
    d->y = ctx.int8_params(y, "output");
    int8_activation_range(ctx, d->params.activation, d->y);
    if (b) ctx.expect_type(*b, DType::Int32, "bias");
  } else {
    ctx.fail("input '{}' is {}; expected float32 or int8", x.name, dtype_name(x.type));
  }
  return d;
}

void eval_float(OpContext& ctx);
void eval_int8(OpContext& ctx);

void prepare(OpContext& ctx) {
  auto& d = ctx.data<DepthwiseConvData>();
  d.g = conv_geometry(ctx, d.params, true);
  const ConvGeometry& g = d.g;
  if (d.depth_multiplier > 0 && g.oc != g.ic * d.depth_multiplier) {
    ctx.fail("filter has {} channels; the input's {} channels times depth_multiplier {} make {}", g.oc, g.ic, d.depth_multiplier, g.ic * d.depth_multiplier);
  }
  ctx.set_output_shape(ctx.output(), {g.batch, g.oh, g.ow, g.oc});
  const Tensor* b = ctx.optional_input(2);
  if (b && b->elements() != g.oc) ctx.fail("bias '{}' has {} values; the filter has {} channels", b->name, b->elements(), g.oc);
  using namespace dnnl;
  const int64_t multiplier = g.oc / std::max<int64_t>(g.ic, 1);
  const memory::dims weights_dims = {g.ic, multiplier, 1, g.kh, g.kw};  // groups, out and in per group, window
  const bool sized = g.batch * g.ih * g.iw * g.ic > 0 && g.oh * g.ow * g.oc > 0;
  if (!d.int8) {
    if (sized) d.float_conv.plan(g, memory::desc(weights_dims, memory::data_type::f32, memory::format_tag::hwigo), weights_dims, g.kh * g.kw, b != nullptr,
                                 ctx.input(1));
    ctx.node().eval = eval_float;
    return;
  }
  auto [lo, hi] = int8_activation_range(ctx, d.params.activation, d.y);
  d.requantize.set(channel_multipliers(ctx, ctx.input(1), g.oc, 3, d.x, d.y), int32_bias(ctx, g.oc), false, d.y.zero_point, lo, hi);
  d.acc = ctx.request_scratch(ctx.scratch_bytes(g.batch * g.oh * g.ow * g.oc, sizeof(int32_t), "accumulators"));
  const DnnlWindow w = dnnl_window(g);
  const memory::desc src = dnnl_input_desc(g, memory::data_type::s8), dst = dnnl_output_desc(g, memory::data_type::s32);
  d.int8_conv.plan<convolution_forward>(
      [&](const primitive_attr& attr) {
        convolution_forward::desc desc(prop_kind::forward_inference, algorithm::convolution_direct, src,
                                       memory::desc(weights_dims, memory::data_type::s8, memory::format_tag::any), dst, w.strides, w.dilation, w.pad_begin,
                                       w.pad_end);
        return convolution_forward::primitive_desc(desc, attr, nn::cpu_engine());
      },
      src, memory::desc(weights_dims, memory::data_type::s8, memory::format_tag::hwigo), dst, d.x.zero_point, ctx.input(1),
      g.batch * g.oh * g.ow * g.oc * g.kh * g.kw);
  ctx.node().eval = eval_int8;
}

// Calls f(input pixel, tap) for each tap of the window of output pixel (b, oy, ox) that lies
// inside the input: the pixel's index in the NHWC input, the tap's in the filter's window.
template <typename F>
void for_each_tap(const ConvGeometry& g, int64_t b, int64_t oy, int64_t ox, F f) {
  for (int64_t ky = 0; ky < g.kh; ++ky) {
    const int64_t iy = oy * g.sh - g.ph + ky * g.dh;
    if (iy < 0 || iy >= g.ih) continue;
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t ix = ox * g.sw - g.pw + kx * g.dw;
      if (ix >= 0 && ix < g.iw) f((b * g.ih + iy) * g.iw + ix, ky * g.kw + kx);
    }
  }
}

void eval_float(OpContext& ctx) {
  auto& d = ctx.data<DepthwiseConvData>();
  if (d.float_conv.conv) {
    Tensor& y = ctx.output();
    d.float_conv.run(ctx.input(0), ctx.input(1), ctx.optional_input(2), y);
    apply_activation(y.as<float>(), y.elements(), d.params.activation);
    return;
  }
  const ConvGeometry& g = d.g;
  const float* x = ctx.input(0).as<float>();
  const float* f = ctx.input(1).as<float>();
  const Tensor* b = ctx.optional_input(2);
  Tensor& out = ctx.output();
  float* y = out.as<float>();
  const int64_t mult = g.oc / g.ic;
  for (int64_t bi = 0; bi < g.batch; ++bi)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox)
        for (int64_t oc = 0; oc < g.oc; ++oc) {
          const int64_t ic = oc / mult;
          float acc = b ? b->as<float>()[oc] : 0.0f;
          for_each_tap(g, bi, oy, ox, [&](int64_t pixel, int64_t tap) { acc += x[pixel * g.ic + ic] * f[tap * g.oc + oc]; });
          y[((bi * g.oh + oy) * g.ow + ox) * g.oc + oc] = acc;
        }
  apply_activation(y, out.elements(), d.params.activation);
}

// One window tap of an output pixel, over all output channels: out[c] += (x[c / multiplier] -
// zero point) * f[c], vectorized over channels, wrapping as an int32 accumulator does.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void depthwise_tap(const int8_t* __restrict__ x, const int8_t* __restrict__ f, int64_t channels, int64_t multiplier, int32_t zero_point,
                   int32_t* __restrict__ out) {
  if (multiplier == 1) {
    for (int64_t c = 0; c < channels; ++c) out[c] = static_cast<int32_t>(static_cast<uint32_t>(out[c]) + static_cast<uint32_t>((x[c] - zero_point) * f[c]));
  } else {
    for (int64_t c = 0; c < channels; ++c) {
      out[c] = static_cast<int32_t>(static_cast<uint32_t>(out[c]) + static_cast<uint32_t>((x[c / multiplier] - zero_point) * f[c]));
    }
  }
}

void eval_int8(OpContext& ctx) {
  auto& d = ctx.data<DepthwiseConvData>();
  const ConvGeometry& g = d.g;
  auto* acc = ctx.scratch<int32_t>(d.acc);
  const int64_t multiplier = g.oc / g.ic, rows = g.batch * g.oh * g.ow;
  if (d.int8_conv.primitive) {
    d.int8_conv.execute(ctx.input(0).data, acc);
    d.requantize.run(acc, rows, g.oc, ctx.output().as<int8_t>());
    return;
  }
  const int8_t* x = ctx.input(0).as<int8_t>();
  const int8_t* f = ctx.input(1).as<int8_t>();
#pragma omp parallel for if (rows * g.oc * g.kh * g.kw > (1 << 18)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = r / (g.oh * g.ow), oy = r / g.ow % g.oh, ox = r % g.ow;
    int32_t* out = acc + r * g.oc;
    std::fill(out, out + g.oc, 0);
    for_each_tap(g, b, oy, ox, [&](int64_t pixel, int64_t tap) { depthwise_tap(x + pixel * g.ic, f + tap * g.oc, g.oc, multiplier, d.x.zero_point, out); });
  }
  d.requantize.run(acc, rows, g.oc, ctx.output().as<int8_t>());
}

}  // namespace

const Kernel& depthwise_conv_2d() {
  static const Kernel kernel{"DEPTHWISE_CONV_2D", 3, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
