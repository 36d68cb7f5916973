#include "tflite/runtime/kernels/kernel_util.h"

#include <cmath>
#include <cstring>

namespace litepipe::tfl {

using ::tflite::ActivationFunctionType;

::tflite::ActivationFunctionType fused_activation(const OpContext& ctx, ActivationFunctionType value) {
  if (value < ::tflite::ActivationFunctionType_MIN || value > ::tflite::ActivationFunctionType_MAX) {
    ctx.fail("fused activation {} is not a TFLite ActivationFunctionType (0-{})", static_cast<int>(value),
             static_cast<int>(::tflite::ActivationFunctionType_MAX));
  }
  return value;
}

void apply_activation(float* x, int64_t n, ActivationFunctionType act) {
  switch (act) {
    case ::tflite::ActivationFunctionType_RELU: for (int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.0f); break;
    case ::tflite::ActivationFunctionType_RELU6: for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], 0.0f), 6.0f); break;
    case ::tflite::ActivationFunctionType_RELU_N1_TO_1: for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], -1.0f), 1.0f); break;
    case ::tflite::ActivationFunctionType_TANH: for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]); break;
    default: break;
  }
}

std::pair<int32_t, int32_t> int8_activation_range(const OpContext& ctx, ActivationFunctionType act, OpContext::QuantParams out) {
  auto q = [&](float v) { return qmath::quantize_value(v, out.scale, out.zero_point); };
  switch (act) {
    case ::tflite::ActivationFunctionType_NONE: return {-128, 127};
    case ::tflite::ActivationFunctionType_RELU: return {std::clamp(q(0.0f), -128, 127), 127};
    case ::tflite::ActivationFunctionType_RELU6: return {std::clamp(q(0.0f), -128, 127), std::clamp(q(6.0f), -128, 127)};
    case ::tflite::ActivationFunctionType_RELU_N1_TO_1: return {std::clamp(q(-1.0f), -128, 127), std::clamp(q(1.0f), -128, 127)};
    default: ctx.fail("fused activation {} has no int8 form", ::tflite::EnumNameActivationFunctionType(act));
  }
}

::tflite::Padding padding(const OpContext& ctx, ::tflite::Padding value) {
  if (value != ::tflite::Padding_SAME && value != ::tflite::Padding_VALID) ctx.fail("padding {} is neither SAME (0) nor VALID (1)", static_cast<int>(value));
  return value;
}

int32_t positive(const OpContext& ctx, int32_t value, const char* what) {
  if (value < 1) ctx.fail("{} is {}, expected at least 1", what, value);
  return value;
}

Window window(const OpContext& ctx, int64_t in, int64_t filter, int64_t stride, int64_t dilation, ::tflite::Padding padding, const char* axis) {
  // All inputs are below 2^31, so none of this overflows 64 bits.
  const int64_t effective = (filter - 1) * dilation + 1;
  Window w;
  w.out = padding == ::tflite::Padding_SAME ? (in + stride - 1) / stride : (in - effective + stride) / stride;
  if (w.out <= 0) ctx.fail("the window's {} ({} with dilation {}) is larger than the input's ({})", axis, filter, dilation, in);
  w.pad = std::max<int64_t>((w.out - 1) * stride + effective - in, 0) / 2;
  return w;
}

ConvGeometry conv_geometry(const OpContext& ctx, const ConvParams& p, bool depthwise) {
  const Tensor& x = ctx.input(0);
  const Tensor& f = ctx.input(1);
  ctx.expect_rank(x, 4, "input");
  ctx.expect_rank(f, 4, "filter");
  ConvGeometry g{};
  g.sh = p.stride_h; g.sw = p.stride_w; g.dh = p.dilation_h; g.dw = p.dilation_w;
  g.batch = x.shape[0]; g.ih = x.shape[1]; g.iw = x.shape[2]; g.ic = x.shape[3];
  g.kh = f.shape[1]; g.kw = f.shape[2];
  g.oc = depthwise ? f.shape[3] : f.shape[0];
  if (g.kh < 1 || g.kw < 1 || g.oc < 1) ctx.fail("filter '{}' has shape [{}]; every dimension must be at least 1", f.name, fmt::join(f.shape, ", "));
  if (g.ic < 1) ctx.fail("input '{}' has {} channels", x.name, g.ic);
  if (depthwise) {
    if (f.shape[0] != 1) ctx.fail("depthwise filter '{}' has shape [{}]; expected [1, height, width, channels]", f.name, fmt::join(f.shape, ", "));
    if (g.oc % g.ic != 0) ctx.fail("depthwise output channels {} are not a multiple of input channels {}", g.oc, g.ic);
  } else if (f.shape[3] != g.ic) {
    ctx.fail("filter '{}' has depth {}; the input '{}' has {} channels", f.name, f.shape[3], x.name, g.ic);
  }
  const Window h = window(ctx, g.ih, g.kh, g.sh, g.dh, p.padding, "height");
  const Window w = window(ctx, g.iw, g.kw, g.sw, g.dw, p.padding, "width");
  g.oh = h.out; g.ph = h.pad; g.ow = w.out; g.pw = w.pad;
  return g;
}

std::vector<int64_t> broadcast_shape(const OpContext& ctx, const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())], db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) ctx.fail("shapes [{}] and [{}] do not broadcast", fmt::join(a, ","), fmt::join(b, ","));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void expect_reduction_axes(const OpContext& ctx, const Tensor& axes) {
  ctx.expect_type(axes, DType::Int32, "axes");
  if (!axes.constant) ctx.fail("axes '{}' must be constant", axes.name);
  if (axes.shape.size() > 1) ctx.fail("axes '{}' has rank {}, expected 0 or 1", axes.name, axes.shape.size());
}

Reduction reduction(const OpContext& ctx, const Tensor& x, const Tensor& axes, bool keep_dims) {
  Reduction r;
  r.reduce.assign(x.shape.size(), false);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  for (int64_t i = 0; i < axes.elements(); ++i) {
    int64_t a = axes.as<int32_t>()[i];
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) ctx.fail("axis {} is out of range for the rank-{} input '{}'", axes.as<int32_t>()[i], rank, x.name);
    r.reduce[static_cast<size_t>(a)] = true;
  }
  for (size_t d = 0; d < x.shape.size(); ++d) {
    if (r.reduce[d]) r.count *= x.shape[d];
    if (!r.reduce[d]) r.output_shape.push_back(x.shape[d]);
    else if (keep_dims) r.output_shape.push_back(1);
  }
  if (r.count == 0) ctx.fail("reduces over an empty axis of '{}' [{}]", x.name, fmt::join(x.shape, ", "));
  return r;
}

namespace {
// std::round (halves away from zero, as TfLiteRound) without a libm call per value.
float round_half_away(float x) {
  const float t = std::trunc(x);
  const float f = x - t;
  return f >= 0.5f ? t + 1.0f : f <= -0.5f ? t - 1.0f : t;
}

}  // namespace

void quantize_hybrid_input(const float* values, int64_t size, bool asymmetric, int8_t* quantized, float* scaling_factor, int32_t* offset) {
  *scaling_factor = 1;
  *offset = 0;
  if (size <= 0) return;
  const auto minmax = std::minmax_element(values, values + size);
  if (!asymmetric) {
    const float range = std::max(std::abs(*minmax.first), std::abs(*minmax.second));
    *offset = 0;
    if (range == 0) {
      std::memset(quantized, 0, static_cast<size_t>(size));
      *scaling_factor = 1;
      return;
    }
    *scaling_factor = range / 127.0f;
    const float inv = 127.0f / range;
    for (int64_t i = 0; i < size; ++i) {
      const int32_t q = qmath::float_to_int32(round_half_away(values[i] * inv));
      quantized[i] = static_cast<int8_t>(std::min(127, std::max(-127, q)));
    }
    return;
  }
  const double qmin = -128.0, qmax = 127.0;
  const float rmin = std::min(0.0f, *minmax.first), rmax = std::max(0.0f, *minmax.second);
  if (rmin == rmax) {
    std::memset(quantized, 0, static_cast<size_t>(size));
    *scaling_factor = 1;
    *offset = 0;
    return;
  }
  const double scale = (rmax - rmin) / (qmax - qmin);
  const double zp_from_min = qmin - rmin / scale, zp_from_max = qmax - rmax / scale;
  const double zp_from_min_error = std::abs(qmin) + std::abs(rmin / scale);
  const double zp_from_max_error = std::abs(qmax) + std::abs(rmax / scale);
  const double zp = zp_from_min_error < zp_from_max_error ? zp_from_min : zp_from_max;
  // (NaN inputs or an infinite range make zp NaN: both comparisons fail, clamp to 127.)
  const int8_t nudged = zp <= qmin ? -128 : !(zp < qmax) ? 127 : static_cast<int8_t>(std::round(zp));
  *scaling_factor = static_cast<float>(scale);
  *offset = nudged;
  const float inv = static_cast<float>(1.0 / *scaling_factor);
  for (int64_t i = 0; i < size; ++i) {
    const int32_t q = qmath::float_to_int32(round_half_away(static_cast<float>(*offset) + values[i] * inv));
    quantized[i] = static_cast<int8_t>(std::min(127, std::max(-128, q)));
  }
}

qmath::Multiplier checked_multiplier(const OpContext& ctx, double real, const char* what) {
  if (!std::isfinite(real) || real < 0.0) ctx.fail("{} multiplier {} is not a finite non-negative number", what, real);
  const qmath::Multiplier m = qmath::quantize_multiplier(real);
  if (m.shift > qmath::kMaxMultiplierShift) ctx.fail("{} multiplier {} is too large for TFLite's fixed-point arithmetic (at most 2^{})", what, real, qmath::kMaxMultiplierShift);
  return m;
}

void check_int8_filter(const OpContext& ctx, const Tensor& filter, int32_t axis) {
  ctx.expect_type(filter, DType::Int8, "filter");
  if (!filter.constant) ctx.fail("int8 filter '{}' must be constant", filter.name);
  if (filter.scale.empty()) ctx.fail("int8 filter '{}' has no quantization scale", filter.name);
  if (filter.scale.size() != 1 && filter.quantized_dimension != axis) {
    ctx.fail("filter '{}' is quantized per channel along axis {}; expected axis {}", filter.name, filter.quantized_dimension, axis);
  }
  for (int64_t zp : filter.zero_point)
    if (zp != 0) ctx.fail("filter '{}' has zero point {}; int8 filters are symmetric (0)", filter.name, zp);
}

std::vector<qmath::Multiplier> channel_multipliers(const OpContext& ctx, const Tensor& filter, int64_t channels, int32_t axis,
                                                   OpContext::QuantParams x, OpContext::QuantParams y) {
  check_int8_filter(ctx, filter, axis);
  const size_t scales = filter.scale.size();
  if (scales != 1 && scales != static_cast<size_t>(channels)) {
    ctx.fail("filter '{}' has {} scales; expected 1 or {} (one per output channel)", filter.name, scales, channels);
  }
  std::vector<qmath::Multiplier> m(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const double filter_scale = filter.scale[scales == 1 ? 0 : static_cast<size_t>(c)];
    m[static_cast<size_t>(c)] = checked_multiplier(ctx, static_cast<double>(x.scale) * filter_scale / static_cast<double>(y.scale), "requantization");
  }
  return m;
}

const int32_t* int32_bias(const OpContext& ctx, int64_t channels) {
  const Tensor* b = ctx.optional_input(2);
  if (!b) return nullptr;
  ctx.expect_type(*b, DType::Int32, "bias");
  if (b->elements() != channels) ctx.fail("bias '{}' has {} values, expected {}", b->name, b->elements(), channels);
  return b->as<int32_t>();
}

bool expect_float_or_same_scale_int8(const OpContext& ctx, const Tensor& x, const Tensor& y, const char* role) {
  if (x.type == DType::Float32) {
    ctx.expect_type(y, DType::Float32, "output");
    return false;
  }
  if (x.type != DType::Int8) ctx.fail("{} '{}' is {}; expected float32 or int8", role, x.name, dtype_name(x.type));
  const auto in = ctx.int8_params(x, role), out = ctx.int8_params(y, "output");
  if (in.scale != out.scale || in.zero_point != out.zero_point) {
    ctx.fail("int8 output '{}' must have the {}'s scale and zero point ({} and {}), has {} and {}", y.name, role, in.scale, in.zero_point, out.scale,
             out.zero_point);
  }
  return true;
}

}  // namespace litepipe::tfl
