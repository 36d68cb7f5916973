#include "tflite/kernels_int8.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "nn/broadcast.h"
#include "nn/dnnl_util.h"
#include "tflite/kernel_util.h"
#include "tflite/quantized_math.h"

namespace litepipe::tfl::int8 {
namespace {

using qmath::Multiplier;

// An activation tensor's per-tensor int8 parameters.
struct QuantParams {
  float scale;
  int32_t zero_point;
};
QuantParams activation_params(Interpreter& in, Node& n, const Tensor& t, const char* role) {
  expect_type(in, n, t, DType::Int8, role);
  if (t.scale.size() != 1) {
    in.fail_node(n, fmt::format("{} '{}' must be quantized per tensor (1 scale), has {} scales", role, t.name, t.scale.size()));
  }
  if (!(t.scale[0] > 0.0f)) in.fail_node(n, fmt::format("{} '{}' has scale {}, expected > 0", role, t.name, t.scale[0]));
  return {t.scale[0], static_cast<int32_t>(t.zero_point.empty() ? 0 : t.zero_point[0])};
}

// TFLite's CalculateActivationRangeQuantized for an int8 output.
std::pair<int32_t, int32_t> activation_range(Interpreter& in, Node& n, int activation, QuantParams out) {
  auto q = [&](float v) { return qmath::quantize_value(v, out.scale, out.zero_point); };
  switch (activation) {
    case ::tflite::ActivationFunctionType_NONE: return {-128, 127};
    case ::tflite::ActivationFunctionType_RELU: return {std::max(-128, q(0.0f)), 127};
    case ::tflite::ActivationFunctionType_RELU6: return {std::max(-128, q(0.0f)), std::min(127, q(6.0f))};
    case ::tflite::ActivationFunctionType_RELU_N1_TO_1: return {std::max(-128, q(-1.0f)), std::min(127, q(1.0f))};
    default: in.fail_node(n, fmt::format("fused activation {} has no int8 form", ::tflite::EnumNameActivationFunctionType(static_cast<::tflite::ActivationFunctionType>(activation))));
  }
}

// Per-output-channel multipliers input_scale * filter_scale[c] / output_scale, as TFLite's
// PopulateConvolutionQuantizationParams computes them (in double).
std::vector<Multiplier> channel_multipliers(Interpreter& in, Node& n, const Tensor& filter, int32_t channels, int32_t axis, QuantParams x, QuantParams y) {
  expect_type(in, n, filter, DType::Int8, "filter");
  if (!filter.constant) in.fail_node(n, fmt::format("int8 filter '{}' must be constant", filter.name));
  const size_t scales = filter.scale.size();
  if (scales != 1 && (scales != static_cast<size_t>(channels) || filter.quantized_dimension != axis)) {
    in.fail_node(n, fmt::format("filter '{}' has {} scales on axis {}; expected 1 or {} on axis {}", filter.name, scales, filter.quantized_dimension, channels, axis));
  }
  for (int64_t zp : filter.zero_point)
    if (zp != 0) in.fail_node(n, fmt::format("filter '{}' has zero point {}; int8 filters are symmetric (0)", filter.name, zp));
  std::vector<Multiplier> m(static_cast<size_t>(channels));
  for (int32_t c = 0; c < channels; ++c) {
    const double filter_scale = filter.scale[scales == 1 ? 0 : static_cast<size_t>(c)];
    m[static_cast<size_t>(c)] = qmath::quantize_multiplier(static_cast<double>(x.scale) * filter_scale / static_cast<double>(y.scale));
  }
  return m;
}

const int32_t* int32_bias(Interpreter& in, Node& n, int32_t channels) {
  Tensor* b = optional_input(in, n, 2);
  if (!b) return nullptr;
  expect_type(in, n, *b, DType::Int32, "bias");
  if (b->elements() != channels) in.fail_node(n, fmt::format("bias '{}' has {} values, expected {}", b->name, b->elements(), channels));
  return b->as<int32_t>();
}

// Small products (batch-1 inference) run on one thread: waking a second costs more.
void gemm_s8(int64_t rows, int64_t cols, int64_t depth, const int8_t* a, int8_t a_zero_point, const int8_t* b, int32_t* c) {
  const bool small = rows * cols * depth < (int64_t{1} << 22);
  const int saved = omp_get_max_threads();
  if (small) omp_set_num_threads(1);
  const int32_t zero = 0;
  // C = (A - a_zero_point) * B^T, exact in int32.
  dnnl_gemm_s8s8s32('N', 'T', 'F', rows, cols, depth, 1.0f, a, depth, a_zero_point, b, depth, 0, 0.0f, c, cols, &zero);
  if (small) omp_set_num_threads(saved);
}

// Requantization with ruy's single rounding over `count` values whose per-channel parameters are
// laid out alongside (repeated per row), written so the compiler vectorizes it (64-bit products,
// per-lane shifts); cloned for AVX-512 / AVX2 with a plain fallback.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void requantize_single_rounding(const int32_t* acc, const int32_t* bias, const int32_t* multiplier, const int64_t* rounding,
                                const int64_t* shift, int64_t count, int32_t zero_point, int32_t lo, int32_t hi, int8_t* out) {
  for (int64_t c = 0; c < count; ++c) {
    const int64_t product = static_cast<int64_t>(acc[c] + bias[c]) * static_cast<int64_t>(multiplier[c]);
    int32_t v = static_cast<int32_t>((product + rounding[c]) >> shift[c]) + zero_point;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    out[c] = static_cast<int8_t>(v);
  }
}

// acc + bias -> requantized, offset and clamped int8 (the tail of every int8 conv / FC). TFLite's
// optimized FULLY_CONNECTED and CONV_2D hand this step to ruy's GEMM, which rounds once (ties
// upward); its depthwise kernel uses the reference double rounding.
struct Requantizer {
  std::vector<Multiplier> multipliers;
  bool gemm_rounding = true;
  int32_t output_zero_point = 0, act_min = -128, act_max = 127;
  std::vector<int32_t> bias;  // zeros without a bias tensor
  std::vector<int32_t> significand, tiled_bias;  // single rounding, per channel, tiled
  std::vector<int64_t> rounding, total_shift;

  int64_t tile_rows = 1;  // rows per vectorized block (parameters repeated that often)

  void set(std::vector<Multiplier> m, const int32_t* bias_values) {
    multipliers = std::move(m);
    const size_t channels = multipliers.size();
    bias.assign(channels, 0);
    if (bias_values) std::copy(bias_values, bias_values + channels, bias.begin());
    // Few channels (e.g. 32) would leave the vector loop idle: treat several rows as one block.
    tile_rows = std::max<int64_t>(1, 256 / static_cast<int64_t>(std::max<size_t>(channels, 1)));
    const size_t tile = channels * static_cast<size_t>(tile_rows);
    significand.resize(tile);
    rounding.resize(tile);
    total_shift.resize(tile);
    tiled_bias.resize(tile);
    for (size_t i = 0; i < tile; ++i) {
      const size_t c = i % channels;
      total_shift[i] = 31 - multipliers[c].shift;
      significand[i] = multipliers[c].significand;
      rounding[i] = int64_t{1} << (total_shift[i] - 1);
      tiled_bias[i] = bias[c];
    }
  }

  void run(const int32_t* acc, int64_t rows, int32_t channels, int8_t* out) const {
    if (gemm_rounding) {
      const int64_t blocks = (rows + tile_rows - 1) / tile_rows;
#pragma omp parallel for if (rows * channels > (1 << 17)) schedule(static)
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t first = b * tile_rows, count = (std::min(rows, first + tile_rows) - first) * channels;
        requantize_single_rounding(acc + first * channels, tiled_bias.data(), significand.data(), rounding.data(), total_shift.data(), count,
                                   output_zero_point, act_min, act_max, out + first * channels);
      }
      return;
    }
    for (int64_t r = 0; r < rows; ++r) {
      for (int32_t c = 0; c < channels; ++c) {
        const int32_t v = qmath::apply(acc[r * channels + c] + bias[static_cast<size_t>(c)], multipliers[static_cast<size_t>(c)]);
        out[r * channels + c] = qmath::clamp_int8(v + output_zero_point, act_min, act_max);
      }
    }
  }
};

// A oneDNN int8 primitive (matmul or convolution) with the input zero point as an attribute,
// weights packed once and exact int32 sums out; requantization stays ours. Left empty when
// oneDNN has no such kernel here (the caller then uses an int8 GEMM).
struct Int8Primitive {
  std::optional<dnnl::primitive> primitive;
  dnnl::memory src, dst;  // bound to the tensors' memory at each run
  dnnl::memory packed_weights;

  template <typename Primitive, typename MakeDesc>
  void plan(MakeDesc make_primitive_desc, const dnnl::memory::desc& src_desc, const dnnl::memory::desc& user_weights,
            const dnnl::memory::desc& dst_desc, int32_t input_zero_point, const Tensor& weights) {
    dnnl::primitive_attr attr;
    attr.set_zero_points(DNNL_ARG_SRC, 0, {input_zero_point});
    try {
      auto pd = make_primitive_desc(attr);
      packed_weights = dnnl::memory(pd.weights_desc(), nn::cpu_engine());
      dnnl::memory user(user_weights, nn::cpu_engine(), const_cast<uint8_t*>(weights.data));
      dnnl::reorder(user, packed_weights).execute(nn::cpu_stream(), user, packed_weights);
      nn::cpu_stream().wait();
      primitive = Primitive(pd);
      src = dnnl::memory(src_desc, nn::cpu_engine(), DNNL_MEMORY_NONE);
      dst = dnnl::memory(dst_desc, nn::cpu_engine(), DNNL_MEMORY_NONE);
    } catch (const dnnl::error&) {
      primitive.reset();
    }
  }

  // Small products (batch-1 inference) on one thread: waking a second costs more.
  void execute(void* input, int32_t* sums, int64_t work) {
    const bool small = work < (int64_t{1} << 22);
    const int saved = omp_get_max_threads();
    if (small) omp_set_num_threads(1);
    src.set_data_handle(input);
    dst.set_data_handle(sums);
    primitive->execute(nn::cpu_stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, packed_weights}, {DNNL_ARG_DST, dst}});
    nn::cpu_stream().wait();
    if (small) omp_set_num_threads(saved);
  }
};

// ---- FULLY_CONNECTED ----------------------------------------------------------------------------
struct FullyConnected {
  Requantizer requantize;
  int32_t input_zero_point = 0;
  std::vector<int32_t> acc;
  Int8Primitive matmul;
};

void plan_onednn_matmul(FullyConnected& s, const Tensor& weights, int64_t rows, int64_t units, int64_t depth) {
  using namespace dnnl;
  memory::desc src({rows, depth}, memory::data_type::s8, memory::format_tag::ab);
  memory::desc user_weights({depth, units}, memory::data_type::s8, memory::format_tag::ba);  // TFLite's [units, depth]
  memory::desc packed({depth, units}, memory::data_type::s8, memory::format_tag::any);
  memory::desc dst({rows, units}, memory::data_type::s32, memory::format_tag::ab);
  s.matmul.plan<dnnl::matmul>([&](const primitive_attr& attr) { return matmul::primitive_desc(matmul::desc(src, packed, dst), attr, nn::cpu_engine()); },
                              src, user_weights, dst, s.input_zero_point, weights);
}

}  // namespace

void fully_connected_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& w = input(in, n, 1);
  Tensor& y = output(in, n);
  expect_rank(in, n, w, 2, "weights");
  QuantParams xq = activation_params(in, n, x, "input"), yq = activation_params(in, n, y, "output");
  const int32_t units = w.shape[0], depth = w.shape[1];
  if (x.elements() % depth != 0) in.fail_node(n, fmt::format("input '{}' ({} values) is not a multiple of the weights' depth {}", x.name, x.elements(), depth));
  auto* options = n.op->builtin_options_as_FullyConnectedOptions();
  auto s = std::make_shared<FullyConnected>();
  s->input_zero_point = xq.zero_point;
  s->requantize.set(channel_multipliers(in, n, w, units, 0, xq, yq), int32_bias(in, n, units));
  s->requantize.output_zero_point = yq.zero_point;
  std::tie(s->requantize.act_min, s->requantize.act_max) = activation_range(in, n, options ? options->fused_activation_function() : 0, yq);
  const int64_t rows = x.elements() / depth;
  s->acc.resize(static_cast<size_t>(rows * units));
  plan_onednn_matmul(*s, w, rows, units, depth);
  y.shape = {static_cast<int32_t>(rows), units};
  n.state = s;
}

void fully_connected_eval(Interpreter& in, Node& n) {
  auto* s = static_cast<FullyConnected*>(n.state.get());
  Tensor& x = input(in, n, 0);
  Tensor& w = input(in, n, 1);
  Tensor& y = output(in, n);
  const int32_t units = w.shape[0], depth = w.shape[1];
  const int64_t rows = x.elements() / depth;
  if (s->matmul.primitive) {
    s->matmul.execute(x.data, s->acc.data(), rows * units * depth);
  } else {
    gemm_s8(rows, units, depth, x.as<int8_t>(), static_cast<int8_t>(s->input_zero_point), w.as<int8_t>(), s->acc.data());
  }
  s->requantize.run(s->acc.data(), rows, units, y.as<int8_t>());
}

// ---- CONV_2D: im2col (padding with the input's zero point, which contributes nothing) + int8
// GEMM + per-channel requantization ------------------------------------------------------------
namespace {
struct Conv {
  ConvGeometry g;
  Requantizer requantize;
  int32_t input_zero_point = 0;
  std::vector<int8_t> cols;
  std::vector<int32_t> acc;
  Int8Primitive convolution;
};

void plan_onednn_conv(Conv& s, const Tensor& filter) {
  using namespace dnnl;
  const ConvGeometry& g = s.g;
  memory::desc src({g.batch, g.ic, g.ih, g.iw}, memory::data_type::s8, memory::format_tag::nhwc);
  memory::desc user_weights({g.oc, g.ic, g.kh, g.kw}, memory::data_type::s8, memory::format_tag::ohwi);
  memory::desc weights({g.oc, g.ic, g.kh, g.kw}, memory::data_type::s8, memory::format_tag::any);
  memory::desc dst({g.batch, g.oc, g.oh, g.ow}, memory::data_type::s32, memory::format_tag::nhwc);
  const int32_t pad_b = std::max((g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1 - g.ih - g.ph, 0);
  const int32_t pad_r = std::max((g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1 - g.iw - g.pw, 0);
  s.convolution.plan<convolution_forward>(
      [&](const primitive_attr& attr) {
        convolution_forward::desc desc(prop_kind::forward_inference, algorithm::convolution_direct, src, weights, dst, {g.sh, g.sw},
                                       {g.dh - 1, g.dw - 1}, {g.ph, g.pw}, {pad_b, pad_r});
        return convolution_forward::primitive_desc(desc, attr, nn::cpu_engine());
      },
      src, user_weights, dst, s.input_zero_point, filter);
}
}  // namespace

void conv_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  QuantParams xq = activation_params(in, n, x, "input"), yq = activation_params(in, n, y, "output");
  auto s = std::make_shared<Conv>();
  s->g = conv_geometry(in, n, false);
  const ConvGeometry& g = s->g;
  s->input_zero_point = xq.zero_point;
  s->requantize.set(channel_multipliers(in, n, input(in, n, 1), g.oc, 0, xq, yq), int32_bias(in, n, g.oc));
  s->requantize.output_zero_point = yq.zero_point;
  std::tie(s->requantize.act_min, s->requantize.act_max) = activation_range(in, n, n.op->builtin_options_as_Conv2DOptions()->fused_activation_function(), yq);
  const int64_t rows = int64_t{g.batch} * g.oh * g.ow, k = int64_t{g.kh} * g.kw * g.ic;
  s->acc.resize(static_cast<size_t>(rows * g.oc));
  plan_onednn_conv(*s, input(in, n, 1));
  if (!s->convolution.primitive) s->cols.resize(static_cast<size_t>(rows * k));
  y.shape = {g.batch, g.oh, g.ow, g.oc};
  n.state = s;
}

void conv_eval(Interpreter& in, Node& n) {
  auto* s = static_cast<Conv*>(n.state.get());
  const ConvGeometry& g = s->g;
  if (s->convolution.primitive) {
    s->convolution.execute(input(in, n, 0).data, s->acc.data(), int64_t{g.batch} * g.oh * g.ow * g.oc * g.kh * g.kw * g.ic);
    s->requantize.run(s->acc.data(), int64_t{g.batch} * g.oh * g.ow, g.oc, output(in, n).as<int8_t>());
    return;
  }
  const int8_t* x = input(in, n, 0).as<int8_t>();
  const int8_t pad = static_cast<int8_t>(s->input_zero_point);
  const int64_t k = int64_t{g.kh} * g.kw * g.ic, rows = int64_t{g.batch} * g.oh * g.ow;
#pragma omp parallel for if (rows * k > (1 << 18)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const auto b = static_cast<int32_t>(r / (int64_t{g.oh} * g.ow));
    const auto oy = static_cast<int32_t>(r / g.ow % g.oh), ox = static_cast<int32_t>(r % g.ow);
    int8_t* dst = s->cols.data() + r * k;
    for (int32_t ky = 0; ky < g.kh; ++ky) {
      const int32_t iy = oy * g.sh - g.ph + ky * g.dh;
      for (int32_t kx = 0; kx < g.kw; ++kx) {
        const int32_t ix = ox * g.sw - g.pw + kx * g.dw;
        int8_t* d = dst + (int64_t{ky} * g.kw + kx) * g.ic;
        if (iy < 0 || iy >= g.ih || ix < 0 || ix >= g.iw) std::memset(d, pad, static_cast<size_t>(g.ic));
        else std::memcpy(d, x + ((int64_t{b} * g.ih + iy) * g.iw + ix) * g.ic, static_cast<size_t>(g.ic));
      }
    }
  }
  gemm_s8(rows, g.oc, k, s->cols.data(), pad, input(in, n, 1).as<int8_t>(), s->acc.data());
  s->requantize.run(s->acc.data(), rows, g.oc, output(in, n).as<int8_t>());
}

// ---- DEPTHWISE_CONV_2D (per-channel filter on axis 3) -------------------------------------------
void depthwise_conv_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  QuantParams xq = activation_params(in, n, x, "input"), yq = activation_params(in, n, y, "output");
  auto s = std::make_shared<Conv>();
  s->g = conv_geometry(in, n, true);
  s->input_zero_point = xq.zero_point;
  s->requantize.set(channel_multipliers(in, n, input(in, n, 1), s->g.oc, 3, xq, yq), int32_bias(in, n, s->g.oc));
  s->requantize.gemm_rounding = false;
  s->requantize.output_zero_point = yq.zero_point;
  std::tie(s->requantize.act_min, s->requantize.act_max) = activation_range(in, n, n.op->builtin_options_as_DepthwiseConv2DOptions()->fused_activation_function(), yq);
  s->acc.resize(static_cast<size_t>(int64_t{s->g.batch} * s->g.oh * s->g.ow * s->g.oc));
  y.shape = {s->g.batch, s->g.oh, s->g.ow, s->g.oc};
  n.state = s;
}

void depthwise_conv_eval(Interpreter& in, Node& n) {
  auto* s = static_cast<Conv*>(n.state.get());
  const ConvGeometry& g = s->g;
  const int8_t* x = input(in, n, 0).as<int8_t>();
  const int8_t* f = input(in, n, 1).as<int8_t>();
  const int32_t multiplier = g.oc / g.ic;
  const int64_t rows = int64_t{g.batch} * g.oh * g.ow;
#pragma omp parallel for if (rows * g.oc * g.kh * g.kw > (1 << 18)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const auto b = static_cast<int32_t>(r / (int64_t{g.oh} * g.ow));
    const auto oy = static_cast<int32_t>(r / g.ow % g.oh), ox = static_cast<int32_t>(r % g.ow);
    for (int32_t oc = 0; oc < g.oc; ++oc) {
      const int32_t ic = oc / multiplier;
      int32_t acc = 0;
      for (int32_t ky = 0; ky < g.kh; ++ky) {
        const int32_t iy = oy * g.sh - g.ph + ky * g.dh;
        if (iy < 0 || iy >= g.ih) continue;
        for (int32_t kx = 0; kx < g.kw; ++kx) {
          const int32_t ix = ox * g.sw - g.pw + kx * g.dw;
          if (ix < 0 || ix >= g.iw) continue;
          const int32_t v = x[((int64_t{b} * g.ih + iy) * g.iw + ix) * g.ic + ic] - s->input_zero_point;
          acc += v * f[(int64_t{ky} * g.kw + kx) * g.oc + oc];
        }
      }
      s->acc[static_cast<size_t>(r * g.oc + oc)] = acc;
    }
  }
  s->requantize.run(s->acc.data(), rows, g.oc, output(in, n).as<int8_t>());
}

// ---- MAX_POOL_2D / AVERAGE_POOL_2D: the output keeps the input's scale and zero point ----------
void pool_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  expect_rank(in, n, x, 4, "input");
  QuantParams xq = activation_params(in, n, x, "input"), yq = activation_params(in, n, y, "output");
  if (std::abs(xq.scale - yq.scale) > 1e-6f || xq.zero_point != yq.zero_point) {
    in.fail_node(n, fmt::format("int8 pooling needs equal input and output quantization, got scale {} / {} and zero point {} / {}", xq.scale, yq.scale, xq.zero_point, yq.zero_point));
  }
  auto* o = n.op->builtin_options_as_Pool2DOptions();
  if (!o) in.fail_node(n, "has no Pool2DOptions");
  int32_t oh, ow, ph, pw;
  window(x.shape[1], o->filter_height(), o->stride_h(), 1, o->padding(), &oh, &ph);
  window(x.shape[2], o->filter_width(), o->stride_w(), 1, o->padding(), &ow, &pw);
  if (oh <= 0 || ow <= 0) in.fail_node(n, "pool window is larger than the input");
  auto [lo, hi] = activation_range(in, n, o->fused_activation_function(), yq);
  n.ints = {ph, pw, lo, hi};
  y.shape = {x.shape[0], oh, ow, x.shape[3]};
}

namespace {
template <bool kMax>
void pool(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  auto* o = n.op->builtin_options_as_Pool2DOptions();
  const int32_t ih = x.shape[1], iw = x.shape[2], c = x.shape[3], oh = y.shape[1], ow = y.shape[2];
  const int32_t sh = o->stride_h(), sw = o->stride_w(), fh = o->filter_height(), fw = o->filter_width();
  const auto ph = static_cast<int32_t>(n.ints[0]), pw = static_cast<int32_t>(n.ints[1]);
  const auto lo = static_cast<int8_t>(n.ints[2]), hi = static_cast<int8_t>(n.ints[3]);
  const int8_t* xd = x.as<int8_t>();
  int8_t* yd = y.as<int8_t>();
  std::vector<int32_t> acc(kMax ? 0 : static_cast<size_t>(c));
  const int32_t batch = x.shape[0];
  for (int32_t b = 0; b < batch; ++b)
    for (int32_t oy = 0; oy < oh; ++oy)
      for (int32_t ox = 0; ox < ow; ++ox) {
        const int32_t y0 = std::max(oy * sh - ph, 0), y1 = std::min(oy * sh - ph + fh, ih);
        const int32_t x0 = std::max(ox * sw - pw, 0), x1 = std::min(ox * sw - pw + fw, iw);
        int8_t* out = yd + ((int64_t{b} * oh + oy) * ow + ox) * c;
        if (kMax) {
          // Channels are contiguous: a vectorized int8 max per window tap.
          std::fill(out, out + c, lo);
          for (int32_t iy = y0; iy < y1; ++iy)
            for (int32_t ix = x0; ix < x1; ++ix) {
              const int8_t* p = xd + ((int64_t{b} * ih + iy) * iw + ix) * c;
              for (int32_t ch = 0; ch < c; ++ch) out[ch] = std::max(out[ch], p[ch]);
            }
          for (int32_t ch = 0; ch < c; ++ch) out[ch] = std::min(out[ch], hi);
          continue;
        }
        std::fill(acc.begin(), acc.end(), 0);
        for (int32_t iy = y0; iy < y1; ++iy)
          for (int32_t ix = x0; ix < x1; ++ix) {
            const int8_t* p = xd + ((int64_t{b} * ih + iy) * iw + ix) * c;
            for (int32_t ch = 0; ch < c; ++ch) acc[static_cast<size_t>(ch)] += p[ch];
          }
        const int32_t count = (y1 - y0) * (x1 - x0);
        for (int32_t ch = 0; ch < c; ++ch) {
          int32_t v = acc[static_cast<size_t>(ch)];
          // TFLite's average: divide rounding half away from zero.
          v = v > 0 ? (v + count / 2) / count : (v - count / 2) / count;
          out[ch] = qmath::clamp_int8(v, lo, hi);
        }
      }
}
}  // namespace

void max_pool_eval(Interpreter& in, Node& n) { pool<true>(in, n); }
void average_pool_eval(Interpreter& in, Node& n) { pool<false>(in, n); }

// ---- SOFTMAX: TFLite's int8 lookup-table kernel (exp of every possible input difference in float,
// normalized and rounded per row); the output has scale 1/256 and zero point -128 -----------------
namespace {
struct Softmax {
  float table[256];
  float output_scale;
  int32_t output_zero_point;
};
}  // namespace

void softmax_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  QuantParams xq = activation_params(in, n, x, "input"), yq = activation_params(in, n, y, "output");
  if (yq.zero_point != -128 || std::abs(yq.scale - 1.0f / 256) > 1e-6f) {
    in.fail_node(n, fmt::format("int8 softmax output '{}' must have scale 1/256 and zero point -128, has {} and {}", y.name, yq.scale, yq.zero_point));
  }
  auto* o = n.op->builtin_options_as_SoftmaxOptions();
  const float beta = o ? o->beta() : 1.0f;
  auto s = std::make_shared<Softmax>();
  const float scale = -xq.scale * beta;
  for (int32_t v = 0; v <= 255; ++v) s->table[255 - v] = std::exp(scale * static_cast<float>(v));
  s->output_scale = yq.scale;
  s->output_zero_point = yq.zero_point;
  y.shape = x.shape;
  n.state = s;
}

void softmax_eval(Interpreter& in, Node& n) {
  auto* s = static_cast<Softmax*>(n.state.get());
  Tensor& x = input(in, n, 0);
  const int64_t depth = x.shape.back(), rows = x.elements() / std::max<int64_t>(depth, 1);
  const int8_t* xd = x.as<int8_t>();
  int8_t* yd = output(in, n).as<int8_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* p = xd + r * depth;
    int8_t* q = yd + r * depth;
    int32_t max_value = -128;
    for (int64_t j = 0; j < depth; ++j) max_value = std::max<int32_t>(max_value, p[j]);
    // table_offset[v] = exp(scale * (max - v)) for v in [-128, max].
    const float* table_offset = &s->table[255 - max_value];
    float sum = 0.0f;
    for (int64_t j = 0; j < depth; ++j) sum += table_offset[p[j]];
    const float inverse = 1.0f / (sum * s->output_scale);
    for (int64_t j = 0; j < depth; ++j) {
      const float rescaled = table_offset[p[j]] * inverse;
      q[j] = qmath::clamp_int8(static_cast<int32_t>(std::round(rescaled)) + s->output_zero_point);
    }
  }
}

// ---- ADD / MUL with broadcasting ----------------------------------------------------------------
namespace {
struct Binary {
  int32_t input1_offset, input2_offset, output_offset, act_min, act_max;
  int left_shift = 0;
  Multiplier input1, input2, output;
};

int binary_activation(Node& n, bool add) {
  if (auto* o = n.op->builtin_options_as_SubOptions()) return o->fused_activation_function();
  if (add) return n.op->builtin_options_as_AddOptions() ? n.op->builtin_options_as_AddOptions()->fused_activation_function() : 0;
  return n.op->builtin_options_as_MulOptions() ? n.op->builtin_options_as_MulOptions()->fused_activation_function() : 0;
}

std::shared_ptr<Binary> binary_prepare(Interpreter& in, Node& n, bool add) {
  Tensor& a = input(in, n, 0);
  Tensor& b = input(in, n, 1);
  Tensor& y = output(in, n);
  QuantParams aq = activation_params(in, n, a, "input"), bq = activation_params(in, n, b, "input"), yq = activation_params(in, n, y, "output");
  auto s = std::make_shared<Binary>();
  s->input1_offset = -aq.zero_point;
  s->input2_offset = -bq.zero_point;
  s->output_offset = yq.zero_point;
  std::tie(s->act_min, s->act_max) = activation_range(in, n, binary_activation(n, add), yq);
  if (add) {
    // Both inputs rescaled to twice the larger input scale with 20 bits of headroom.
    s->left_shift = 20;
    const double twice_max_input_scale = 2.0 * static_cast<double>(std::max(aq.scale, bq.scale));
    s->input1 = qmath::quantize_multiplier(static_cast<double>(aq.scale) / twice_max_input_scale);
    s->input2 = qmath::quantize_multiplier(static_cast<double>(bq.scale) / twice_max_input_scale);
    s->output = qmath::quantize_multiplier(twice_max_input_scale / (static_cast<double>(1 << s->left_shift) * static_cast<double>(yq.scale)));
    if (s->output.shift > 0) in.fail_node(n, fmt::format("output scale {} is too small for the inputs' scales {} and {}", yq.scale, aq.scale, bq.scale));
  } else {
    s->output = qmath::quantize_multiplier(static_cast<double>(aq.scale * bq.scale / yq.scale));
  }
  const std::vector<int32_t> shape = broadcast_shape(in, n, a.shape, b.shape);
  y.shape = shape;
  return s;
}

template <typename Op>
void binary_eval(Interpreter& in, Node& n, Op op) {
  Tensor& a = input(in, n, 0);
  Tensor& b = input(in, n, 1);
  Tensor& y = output(in, n);
  const int8_t* ad = a.as<int8_t>();
  const int8_t* bd = b.as<int8_t>();
  int8_t* yd = y.as<int8_t>();
  if (a.elements() == y.elements() && b.elements() == 1) {
    const int8_t v = bd[0];
    for (int64_t i = 0; i < y.elements(); ++i) yd[i] = op(ad[i], v);
  } else if (a.elements() == y.elements() && b.elements() == y.elements()) {
    for (int64_t i = 0; i < y.elements(); ++i) yd[i] = op(ad[i], bd[i]);
  } else {
    nn::for_each_broadcast(y.shape, a.shape, b.shape, [&](int64_t o, int64_t ia, int64_t ib) { yd[o] = op(ad[ia], bd[ib]); });
  }
}
}  // namespace

namespace {
// ADD and SUB: both inputs rescaled to twice the larger input scale, then summed or subtracted.
template <bool kSubtract>
void add_or_sub(Interpreter& in, Node& n) {
  const Binary& s = *static_cast<Binary*>(n.state.get());
  binary_eval(in, n, [&s](int8_t u, int8_t v) {
    const int32_t shifted1 = (s.input1_offset + u) * (1 << s.left_shift);
    const int32_t shifted2 = (s.input2_offset + v) * (1 << s.left_shift);
    const int32_t scaled1 = qmath::multiply_by_quantized_multiplier_smaller_than_one(shifted1, s.input1.significand, s.input1.shift);
    const int32_t scaled2 = qmath::multiply_by_quantized_multiplier_smaller_than_one(shifted2, s.input2.significand, s.input2.shift);
    const int32_t raw = kSubtract ? scaled1 - scaled2 : scaled1 + scaled2;
    const int32_t out = qmath::multiply_by_quantized_multiplier_smaller_than_one(raw, s.output.significand, s.output.shift) + s.output_offset;
    return qmath::clamp_int8(out, s.act_min, s.act_max);
  });
}
}  // namespace

void add_prepare(Interpreter& in, Node& n) { n.state = binary_prepare(in, n, true); }
void add_eval(Interpreter& in, Node& n) { add_or_sub<false>(in, n); }
void sub_prepare(Interpreter& in, Node& n) { n.state = binary_prepare(in, n, true); }
void sub_eval(Interpreter& in, Node& n) { add_or_sub<true>(in, n); }

void mul_prepare(Interpreter& in, Node& n) { n.state = binary_prepare(in, n, false); }
void mul_eval(Interpreter& in, Node& n) {
  const Binary& s = *static_cast<Binary*>(n.state.get());
  binary_eval(in, n, [&s](int8_t u, int8_t v) {
    const int32_t product = (s.input1_offset + u) * (s.input2_offset + v);
    const int32_t out = qmath::apply(product, s.output) + s.output_offset;
    return qmath::clamp_int8(out, s.act_min, s.act_max);
  });
}

// ---- RELU / RELU6: rescale to the output's parameters, then clamp (TFLite's QuantizedReluX) ------
namespace {
struct Rescale {
  Multiplier multiplier;
  int32_t input_zero_point, output_zero_point, lo, hi;
};
void rescaling_prepare(Interpreter& in, Node& n, float act_min, float act_max) {
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  QuantParams xq = activation_params(in, n, x, "input"), yq = activation_params(in, n, y, "output");
  auto s = std::make_shared<Rescale>();
  s->multiplier = qmath::quantize_multiplier(static_cast<double>(xq.scale) / static_cast<double>(yq.scale));
  s->input_zero_point = xq.zero_point;
  s->output_zero_point = yq.zero_point;
  s->lo = std::max(-128, yq.zero_point + static_cast<int32_t>(std::round(act_min / yq.scale)));
  s->hi = std::isinf(act_max) ? 127 : std::min(127, yq.zero_point + static_cast<int32_t>(std::round(act_max / yq.scale)));
  y.shape = x.shape;
  n.state = s;
}
}  // namespace

void relu_prepare(Interpreter& in, Node& n) { rescaling_prepare(in, n, 0.0f, INFINITY); }
void relu6_prepare(Interpreter& in, Node& n) { rescaling_prepare(in, n, 0.0f, 6.0f); }
void relu_eval(Interpreter& in, Node& n) {
  const Rescale& s = *static_cast<Rescale*>(n.state.get());
  Tensor& x = input(in, n, 0);
  const int8_t* xd = x.as<int8_t>();
  int8_t* yd = output(in, n).as<int8_t>();
  for (int64_t i = 0; i < x.elements(); ++i) {
    const int32_t v = s.output_zero_point + qmath::apply(xd[i] - s.input_zero_point, s.multiplier);
    yd[i] = qmath::clamp_int8(v, s.lo, s.hi);
  }
}

// ---- QUANTIZE int8 -> int8 (requantization, e.g. to a concatenation's parameters) ---------------
void requantize_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  if (x.type != DType::Int8) in.fail_node(n, fmt::format("int8 QUANTIZE needs an int8 input, '{}' is {}", x.name, dtype_name(x.type)));
  rescaling_prepare(in, n, -INFINITY, INFINITY);
  static_cast<Rescale*>(n.state.get())->lo = -128;
}
void requantize_eval(Interpreter& in, Node& n) { relu_eval(in, n); }

// ---- LOGISTIC / TANH: a 256-entry table of the float function at every int8 input (TFLite's
// lookup-table kernels); outputs at the fixed parameters TFLite requires ---------------------------
namespace {
struct LookupTable {
  int8_t table[256];
};
void lookup_table_prepare(Interpreter& in, Node& n, float (*f)(float), float want_scale, int32_t want_zero_point, const char* what) {
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  QuantParams xq = activation_params(in, n, x, "input"), yq = activation_params(in, n, y, "output");
  if (yq.zero_point != want_zero_point || std::abs(yq.scale - want_scale) > want_scale * 1e-3f) {
    in.fail_node(n, fmt::format("int8 {} output '{}' must have scale {} and zero point {}, has {} and {}", what, y.name, want_scale, want_zero_point, yq.scale, yq.zero_point));
  }
  auto s = std::make_shared<LookupTable>();
  const float inverse_scale = 1.0f / yq.scale;
  for (int32_t v = -128; v <= 127; ++v) {
    const float dequantized = xq.scale * static_cast<float>(v - xq.zero_point);
    const float rescaled = std::round(f(dequantized) * inverse_scale);
    s->table[static_cast<uint8_t>(static_cast<int8_t>(v))] = qmath::clamp_int8(static_cast<int32_t>(rescaled + static_cast<float>(yq.zero_point)));
  }
  y.shape = x.shape;
  n.state = s;
}
}  // namespace

void logistic_prepare(Interpreter& in, Node& n) {
  lookup_table_prepare(in, n, [](float v) { return 1.0f / (1.0f + std::exp(-v)); }, 1.0f / 256, -128, "LOGISTIC");
}
void tanh_prepare(Interpreter& in, Node& n) {
  lookup_table_prepare(in, n, [](float v) { return std::tanh(v); }, 1.0f / 128, 0, "TANH");
}
void lookup_table_eval(Interpreter& in, Node& n) {
  const LookupTable& s = *static_cast<LookupTable*>(n.state.get());
  Tensor& x = input(in, n, 0);
  const int8_t* xd = x.as<int8_t>();
  int8_t* yd = output(in, n).as<int8_t>();
  for (int64_t i = 0; i < x.elements(); ++i) yd[i] = s.table[static_cast<uint8_t>(xd[i])];
}

// ---- CONCATENATION: every input already carries the output's parameters (TFLite requires it) ----
void concat_prepare(Interpreter& in, Node& n) {
  Tensor& first = input(in, n, 0);
  Tensor& y = output(in, n);
  QuantParams yq = activation_params(in, n, y, "output");
  auto* o = n.op->builtin_options_as_ConcatenationOptions();
  if (!o) in.fail_node(n, "has no ConcatenationOptions");
  int32_t axis = o->axis();
  if (axis < 0) axis += static_cast<int32_t>(first.shape.size());
  if (axis < 0 || axis >= static_cast<int32_t>(first.shape.size())) in.fail_node(n, fmt::format("axis {} out of range", o->axis()));
  std::vector<int32_t> shape = first.shape;
  shape[static_cast<size_t>(axis)] = 0;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    Tensor& t = input(in, n, i);
    QuantParams tq = activation_params(in, n, t, "input");
    if (std::abs(tq.scale - yq.scale) > 1e-6f * yq.scale || tq.zero_point != yq.zero_point) {
      in.fail_node(n, fmt::format("int8 concatenation input '{}' has scale {} / zero point {}; the output's are {} / {}", t.name, tq.scale, tq.zero_point, yq.scale, yq.zero_point));
    }
    if (t.shape.size() != shape.size()) in.fail_node(n, fmt::format("input '{}' has rank {}, expected {}", t.name, t.shape.size(), shape.size()));
    shape[static_cast<size_t>(axis)] += t.shape[static_cast<size_t>(axis)];
  }
  auto [lo, hi] = activation_range(in, n, o->fused_activation_function(), yq);
  n.ints = {axis, lo, hi};
  y.shape = shape;
}
void concat_eval(Interpreter& in, Node& n) {
  Tensor& y = output(in, n);
  const auto axis = static_cast<size_t>(n.ints[0]);
  const auto lo = static_cast<int32_t>(n.ints[1]), hi = static_cast<int32_t>(n.ints[2]);
  int64_t outer = 1;
  for (size_t d = 0; d < axis; ++d) outer *= y.shape[d];
  const int64_t out_row = y.elements() / std::max<int64_t>(outer, 1);
  int64_t offset = 0;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    Tensor& t = input(in, n, i);
    const int64_t row = t.elements() / std::max<int64_t>(outer, 1);
    for (int64_t r = 0; r < outer; ++r) std::memcpy(y.as<int8_t>() + r * out_row + offset, t.as<int8_t>() + r * row, static_cast<size_t>(row));
    offset += row;
  }
  if (lo > -128 || hi < 127)
    for (int64_t i = 0; i < y.elements(); ++i) y.as<int8_t>()[i] = qmath::clamp_int8(y.as<int8_t>()[i], lo, hi);
}

// ---- MEAN over constant axes. Global average pooling (4-D, axes {1, 2}, keep_dims) is TFLite's
// optimized integer Mean: the raw int8 sum times input_scale / (count * output_scale), plus a
// rounded zero-point bias. Any other reduction is its QuantizedMeanOrSum: the zero point removed
// from the sum, the 1 / count folded into the multiplier -------------------------------------------
namespace {
struct Mean {
  bool spatial = false;  // the 4-D global-average-pooling path
  Reduction reduction;
  Multiplier multiplier;
  int32_t bias = 0, input_zero_point = 0, output_zero_point = 0;
};
}  // namespace

void mean_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& axes = input(in, n, 1);
  Tensor& y = output(in, n);
  QuantParams xq = activation_params(in, n, x, "input"), yq = activation_params(in, n, y, "output");
  auto s = std::make_shared<Mean>();
  s->reduction = reduction(in, n, x, axes);
  const auto& reduce = s->reduction.reduce;
  const bool keep = n.op->builtin_options_as_ReducerOptions() && n.op->builtin_options_as_ReducerOptions()->keep_dims();
  s->input_zero_point = xq.zero_point;
  s->output_zero_point = yq.zero_point;
  s->spatial = keep && x.shape.size() == 4 && axes.elements() == 2 && reduce[1] && reduce[2] && !reduce[0] && !reduce[3];
  if (s->spatial) {
    const float count = static_cast<float>(s->reduction.count);
    const float real_scale = xq.scale / (count * yq.scale);
    s->multiplier = qmath::quantize_multiplier(static_cast<double>(real_scale));
    float shift = static_cast<float>(xq.zero_point) * xq.scale / yq.scale;
    shift = shift > 0 ? shift + 0.5f : shift - 0.5f;
    s->bias = yq.zero_point - static_cast<int32_t>(shift);
  } else {
    Multiplier m = qmath::quantize_multiplier(static_cast<double>(xq.scale) / static_cast<double>(yq.scale));
    // Fold 1 / count into the multiplier, keeping as many bits as the significand allows.
    const int64_t count = s->reduction.count;
    int bits = 63 - __builtin_clzll(static_cast<uint64_t>(count));
    bits = std::min(bits, 32);
    bits = std::min(bits, 31 + m.shift);
    m.significand = static_cast<int32_t>((static_cast<int64_t>(m.significand) << bits) / count);
    m.shift -= bits;
    s->multiplier = m;
  }
  y.shape = s->reduction.output_shape;
  n.state = s;
}

void mean_eval(Interpreter& in, Node& n) {
  const Mean& s = *static_cast<Mean*>(n.state.get());
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  std::vector<int32_t> sums(static_cast<size_t>(y.elements()), 0);
  reduce_sum(x.shape, s.reduction.reduce, x.as<int8_t>(), sums.data());
  int8_t* yd = y.as<int8_t>();
  for (int64_t o = 0; o < y.elements(); ++o) {
    const int32_t sum = sums[static_cast<size_t>(o)];
    const int32_t v = s.spatial ? qmath::apply(sum, s.multiplier) + s.bias
                                : qmath::apply(sum - s.input_zero_point * static_cast<int32_t>(s.reduction.count), s.multiplier) + s.output_zero_point;
    yd[o] = qmath::clamp_int8(v);
  }
}

}  // namespace litepipe::tfl::int8
