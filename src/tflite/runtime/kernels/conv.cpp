// CONV_2D (filter OHWI). Three Evals: float32 (oneDNN's direct convolution on NHWC data);
// hybrid (dynamic range: per-channel int8 filter, the input quantized per batch at run time, as
// TFLite's optimized hybrid kernel); int8 (TFLite's per-channel int8 kernel: a oneDNN int8
// convolution, or im2col + int8 GEMM, then ruy's single-rounding requantization).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "tflite/runtime/kernels/dnnl_convolution.h"
#include "tflite/runtime/kernels/gemm.h"
#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"
#include "tflite/runtime/kernels/requantizer.h"

namespace litepipe::tfl::kernels {
namespace {

enum class Path { Float, Hybrid, Int8 };

struct ConvData : OpData {
  // Init
  ConvParams params;
  Path path = Path::Float;
  std::vector<int32_t> row_sums;  // hybrid: sum of each output channel's int8 filter values
  bool hybrid_per_channel = true;  // hybrid: inputs quantized asymmetrically (TFLite's per-channel kernel)
  // Prepare
  ConvGeometry g{};
  int64_t k = 0;  // filter values per output channel
  FloatConvolution float_conv;
  // hybrid / int8
  size_t quantized = 0, cols = 0, acc = 0, scales = 0, offsets = 0;  // scratch buffers
  OpContext::QuantParams x{}, y{};
  Requantizer requantize;
  Int8Primitive int8_conv;
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(2, 3, 1);
  auto d = std::make_unique<ConvData>();
  const auto o = options_or_default<::tflite::Conv2DOptionsT>(ctx);
  d->params.padding = padding(ctx, o.padding);
  d->params.stride_h = positive(ctx, o.stride_h, "stride_h");
  d->params.stride_w = positive(ctx, o.stride_w, "stride_w");
  d->params.dilation_h = positive(ctx, o.dilation_h_factor, "dilation_h_factor");
  d->params.dilation_w = positive(ctx, o.dilation_w_factor, "dilation_w_factor");
  d->params.activation = fused_activation(ctx, o.fused_activation_function);
  const Tensor& x = ctx.input(0);
  const Tensor& f = ctx.input(1);
  const Tensor& y = ctx.output();
  const Tensor* b = ctx.optional_input(2);
  if (x.type == DType::Float32 && f.type == DType::Float32) {
    d->path = Path::Float;
  } else if (x.type == DType::Float32 && f.type == DType::Int8) {
    d->path = Path::Hybrid;
    // TFLite's hybrid conv applies only clamping activations.
    if (d->params.activation == ::tflite::ActivationFunctionType_TANH || d->params.activation == ::tflite::ActivationFunctionType_SIGN_BIT) {
      ctx.fail("a hybrid CONV_2D cannot fuse {}", ::tflite::EnumNameActivationFunctionType(d->params.activation));
    }
    if (!f.constant) ctx.fail("hybrid filter '{}' must be constant", f.name);
    ctx.expect_rank(f, 4, "filter");
    const int64_t oc = f.shape[0];
    if (f.scale.size() != static_cast<size_t>(oc) || f.quantized_dimension != 0) {
      ctx.fail("hybrid filter '{}' must be quantized per output channel (axis 0): {} scales on axis {} for {} channels", f.name, f.scale.size(),
               f.quantized_dimension, oc);
    }
    // As TFLite's Prepare: the per-channel kernel (asymmetric inputs) only when the channels' scales
    // differ; one scale for all takes the per-tensor kernel (symmetric inputs, no offset).
    d->hybrid_per_channel = std::any_of(f.scale.begin(), f.scale.end(), [&](float s) { return s != f.scale[0]; });
    const int64_t k = oc > 0 ? f.elements() / oc : 0;
    d->row_sums.assign(static_cast<size_t>(oc), 0);
    for (int64_t c = 0; c < oc; ++c) {
      int64_t sum = 0;
      for (int64_t i = 0; i < k; ++i) sum += f.as<int8_t>()[c * k + i];
      d->row_sums[static_cast<size_t>(c)] = static_cast<int32_t>(sum);  // |sum| <= 128 * k < 2^31 here
    }
  } else if (x.type == DType::Int8) {
    d->path = Path::Int8;
    check_int8_filter(ctx, f, 0);
    d->x = ctx.int8_params(x, "input");
    d->y = ctx.int8_params(y, "output");
    int8_activation_range(ctx, d->params.activation, d->y);
    if (b) ctx.expect_type(*b, DType::Int32, "bias");
  } else {
    ctx.fail("input '{}' is {} with a {} filter '{}'; expected float32 input with a float32 or int8 filter, or int8 with int8", x.name,
             dtype_name(x.type), dtype_name(f.type), f.name);
  }
  if (d->path != Path::Int8) {
    ctx.expect_type(y, DType::Float32, "output");
    if (b) ctx.expect_type(*b, DType::Float32, "bias");
  }
  return d;
}

void eval_float(OpContext& ctx);
void eval_hybrid(OpContext& ctx);
void eval_int8(OpContext& ctx);

void prepare(OpContext& ctx) {
  using namespace dnnl;
  auto& d = ctx.data<ConvData>();
  d.g = conv_geometry(ctx, d.params, false);
  const ConvGeometry& g = d.g;
  d.k = g.kh * g.kw * g.ic;
  ctx.set_output_shape(ctx.output(), {g.batch, g.oh, g.ow, g.oc});
  const Tensor* b = ctx.optional_input(2);
  if (b && b->elements() != g.oc) ctx.fail("bias '{}' has {} values; the filter has {} output channels", b->name, b->elements(), g.oc);
  const Tensor& filter = ctx.input(1);
  const int64_t rows = g.batch * g.oh * g.ow;
  const DnnlWindow w = dnnl_window(g);
  switch (d.path) {
    case Path::Float:
      d.float_conv.plan(g, memory::desc({g.oc, g.ic, g.kh, g.kw}, memory::data_type::f32, memory::format_tag::ohwi), {g.oc, g.ic, g.kh, g.kw}, d.k,
                        b != nullptr, filter);
      ctx.node().eval = eval_float;
      break;
    case Path::Hybrid:
      d.quantized = ctx.request_scratch(ctx.scratch_bytes(g.batch * g.ih * g.iw * g.ic, 1, "quantized input"));
      d.cols = ctx.request_scratch(ctx.scratch_bytes(rows * d.k, 1, "im2col buffer"));
      d.acc = ctx.request_scratch(ctx.scratch_bytes(rows * g.oc, sizeof(int32_t), "accumulators"));
      d.scales = ctx.request_scratch(ctx.scratch_bytes(g.batch, sizeof(float), "input scales"));
      d.offsets = ctx.request_scratch(ctx.scratch_bytes(g.batch, sizeof(int32_t), "input offsets"));
      ctx.node().eval = eval_hybrid;
      break;
    case Path::Int8: {
      auto [lo, hi] = int8_activation_range(ctx, d.params.activation, d.y);
      d.requantize.set(channel_multipliers(ctx, filter, g.oc, 0, d.x, d.y), int32_bias(ctx, g.oc), true, d.y.zero_point, lo, hi);
      d.acc = ctx.request_scratch(ctx.scratch_bytes(rows * g.oc, sizeof(int32_t), "accumulators"));
      const memory::desc src = dnnl_input_desc(g, memory::data_type::s8), dst = dnnl_output_desc(g, memory::data_type::s32);
      const memory::desc user_weights({g.oc, g.ic, g.kh, g.kw}, memory::data_type::s8, memory::format_tag::ohwi);
      const memory::desc weights({g.oc, g.ic, g.kh, g.kw}, memory::data_type::s8, memory::format_tag::any);
      d.int8_conv.plan<convolution_forward>(
          [&](const primitive_attr& attr) {
            convolution_forward::desc desc(prop_kind::forward_inference, algorithm::convolution_direct, src, weights, dst, w.strides, w.dilation,
                                           w.pad_begin, w.pad_end);
            return convolution_forward::primitive_desc(desc, attr, nn::cpu_engine());
          },
          src, user_weights, dst, d.x.zero_point, filter, rows * g.oc * d.k);
      if (!d.int8_conv.primitive) d.cols = ctx.request_scratch(ctx.scratch_bytes(rows * d.k, 1, "im2col buffer"));
      ctx.node().eval = eval_int8;
      break;
    }
  }
}

void eval_float(OpContext& ctx) {
  auto& d = ctx.data<ConvData>();
  Tensor& y = ctx.output();
  d.float_conv.run(ctx.input(0), ctx.input(1), ctx.optional_input(2), y);
  apply_activation(y.as<float>(), y.elements(), d.params.activation);
}

// im2col of one batch element's rows: each output pixel's window, `pad` where it leaves the input.
void im2col(const ConvGeometry& g, int64_t k, const int8_t* x, int8_t pad, int64_t first_row, int64_t rows, int8_t* cols) {
  for (int64_t r = first_row; r < first_row + rows; ++r) {
    const int64_t b = r / (g.oh * g.ow), oy = r / g.ow % g.oh, ox = r % g.ow;
    int8_t* dst = cols + r * k;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const int64_t iy = oy * g.sh - g.ph + ky * g.dh;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const int64_t ix = ox * g.sw - g.pw + kx * g.dw;
        int8_t* to = dst + (ky * g.kw + kx) * g.ic;
        if (iy < 0 || iy >= g.ih || ix < 0 || ix >= g.iw) std::memset(to, pad, static_cast<size_t>(g.ic));
        else std::memcpy(to, x + ((b * g.ih + iy) * g.iw + ix) * g.ic, static_cast<size_t>(g.ic));
      }
    }
  }
}

// Hybrid, as TFLite's optimized kernels: the input quantized per batch (asymmetric for the
// per-channel kernel, symmetric with offset 0 for the per-tensor one),
// im2col padding with the input's zero point, an int8 GEMM for exact int32 sums, and
// out = float(acc - row_sum * zero_point) * (channel_scale * input_scale) + bias.
void eval_hybrid(OpContext& ctx) {
  auto& d = ctx.data<ConvData>();
  const ConvGeometry& g = d.g;
  const Tensor& f = ctx.input(1);
  const Tensor* b = ctx.optional_input(2);
  auto* quantized = ctx.scratch<int8_t>(d.quantized);
  auto* cols = ctx.scratch<int8_t>(d.cols);
  auto* acc = ctx.scratch<int32_t>(d.acc);
  auto* scales = ctx.scratch<float>(d.scales);
  auto* offsets = ctx.scratch<int32_t>(d.offsets);
  const int64_t image = g.ih * g.iw * g.ic, pixels = g.oh * g.ow;
  const float* x = ctx.input(0).as<float>();
  for (int64_t bi = 0; bi < g.batch; ++bi) {
    quantize_hybrid_input(x + bi * image, image, d.hybrid_per_channel, quantized + bi * image, &scales[bi], &offsets[bi]);
  }
  for (int64_t bi = 0; bi < g.batch; ++bi) {
    im2col(g, d.k, quantized, static_cast<int8_t>(offsets[bi]), bi * pixels, pixels, cols);
  }
  const int64_t rows = g.batch * pixels;
  gemm_s8_nt(rows, g.oc, d.k, cols, 0, f.as<int8_t>(), acc, int64_t{1} << 23);
  const auto act = d.params.activation;
  const float lo = act == ::tflite::ActivationFunctionType_RELU || act == ::tflite::ActivationFunctionType_RELU6 ? 0.0f
                   : act == ::tflite::ActivationFunctionType_RELU_N1_TO_1                                        ? -1.0f
                                                                                                                  : -INFINITY;
  const float hi = act == ::tflite::ActivationFunctionType_RELU6 ? 6.0f : act == ::tflite::ActivationFunctionType_RELU_N1_TO_1 ? 1.0f : INFINITY;
  float* out = ctx.output().as<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t bi = r / pixels;
    const float input_scale = scales[bi];
    const int32_t zp = offsets[bi];
    for (int64_t o = 0; o < g.oc; ++o) {
      const int64_t a = int64_t{acc[r * g.oc + o]} - int64_t{d.row_sums[static_cast<size_t>(o)]} * zp;
      const float v = static_cast<float>(static_cast<int32_t>(a)) * (f.scale[static_cast<size_t>(o)] * input_scale) + (b ? b->as<float>()[o] : 0.0f);
      out[r * g.oc + o] = std::max(std::min(v, hi), lo);
    }
  }
}

void eval_int8(OpContext& ctx) {
  auto& d = ctx.data<ConvData>();
  const ConvGeometry& g = d.g;
  auto* acc = ctx.scratch<int32_t>(d.acc);
  const int64_t rows = g.batch * g.oh * g.ow;
  if (d.int8_conv.primitive) {
    d.int8_conv.execute(ctx.input(0).data, acc);
  } else {
    auto* cols = ctx.scratch<int8_t>(d.cols);
    const int8_t* x = ctx.input(0).as<int8_t>();
    const auto pad = static_cast<int8_t>(d.x.zero_point);
#pragma omp parallel for if (rows * d.k > (1 << 18)) schedule(static)
    for (int64_t r = 0; r < rows; ++r) im2col(g, d.k, x, pad, r, 1, cols);
    gemm_s8_nt(rows, g.oc, d.k, cols, pad, ctx.input(1).as<int8_t>(), acc, int64_t{1} << 22);
  }
  d.requantize.run(acc, rows, g.oc, ctx.output().as<int8_t>());
}

}  // namespace

const Kernel& conv_2d() {
  static const Kernel kernel{"CONV_2D", 5, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
