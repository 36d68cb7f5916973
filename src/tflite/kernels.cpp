// Float32 and hybrid kernels of litepipe's TensorFlow Lite interpreter, one Prepare (validate, compute output
// shapes, precompute) and one Eval per builtin op, plus QUANTIZE / DEQUANTIZE. Matrix products go
// through oneDNN's sgemm (vectorized, multi-threaded for large batches).
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"
#include "nn/broadcast.h"
#include "nn/dnnl_util.h"
#include "tflite/fp16.h"
#include "tflite/interpreter.h"
#include "tflite/kernel_util.h"
#include "tflite/kernels_int8.h"
#include "tflite_subset_generated.h"

namespace litepipe::tfl {
namespace {

using ::tflite::ActivationFunctionType_NONE;
using ::tflite::ActivationFunctionType_RELU;
using ::tflite::ActivationFunctionType_RELU6;
using ::tflite::ActivationFunctionType_RELU_N1_TO_1;
using ::tflite::ActivationFunctionType_TANH;
using ::tflite::BuiltinOperator;

void apply_activation(float* x, int64_t n, int act) {
  switch (act) {
    case ActivationFunctionType_RELU: for (int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.0f); break;
    case ActivationFunctionType_RELU6: for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], 0.0f), 6.0f); break;
    case ActivationFunctionType_RELU_N1_TO_1: for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], -1.0f), 1.0f); break;
    case ActivationFunctionType_TANH: for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]); break;
    default: break;
  }
}

// sgemm on one thread for small products (batch-1 inference): waking a second thread costs more
// than the product; large batches use every core.
void gemm_nt(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
  bool small = m * n * k < (int64_t{1} << 23);
  int saved = omp_get_max_threads();
  if (small) omp_set_num_threads(1);
  dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, k, b, k, 1.0f, c, n);
  if (small) omp_set_num_threads(saved);
}

// ---- FULLY_CONNECTED: y = x W^T + b, W [units, depth] -------------------------------------------
void fc_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& w = input(in, n, 1);
  expect_type(in, n, x, DType::Float32, "input");
  expect_rank(in, n, w, 2, "weights");
  n.ints = {0};
  if (w.type == DType::Int8) {
    // Hybrid (dynamic range): int8 weights, per-tensor symmetric.
    if (w.scale.size() != 1 || (!w.zero_point.empty() && w.zero_point[0] != 0)) {
      in.fail_node(n, fmt::format("hybrid weights '{}' must be per-tensor symmetric int8", w.name));
    }
    if (!w.constant) in.fail_node(n, "hybrid weights must be constant");
    n.ints = {1};
    // Row sums of the weights, for the input zero-point correction.
    int32_t units = w.shape[0], depth = w.shape[1];
    n.floats.assign(static_cast<size_t>(units), 0.0f);
    for (int32_t r = 0; r < units; ++r) {
      int32_t sum = 0;
      for (int32_t c = 0; c < depth; ++c) sum += w.as<int8_t>()[static_cast<int64_t>(r) * depth + c];
      n.floats[static_cast<size_t>(r)] = static_cast<float>(sum);
    }
  } else if (w.type != DType::Float32) {
    in.fail_node(n, fmt::format("weights '{}' are {}; expected float32, or int8 for a hybrid op", w.name, dtype_name(w.type)));
  }
  int32_t depth = w.shape[1];
  if (x.elements() % depth != 0) in.fail_node(n, fmt::format("input '{}' ({} values) is not a multiple of the weights' depth {}", x.name, x.elements(), depth));
  if (Tensor* b = optional_input(in, n, 2); b && b->elements() != w.shape[0]) in.fail_node(n, "bias size differs from the number of units");
  output(in, n).shape = {static_cast<int32_t>(x.elements() / depth), w.shape[0]};
}
// std::round (halves away from zero, as TfLiteRound) without a libm call per value.
inline float round_half_away(float x) {
  float t = std::trunc(x);
  float d = x - t;
  return d >= 0.5f ? t + 1.0f : d <= -0.5f ? t - 1.0f : t;
}

// TFLite's AsymmetricQuantizeFloats (per batch row of a hybrid op's input).
void asymmetric_quantize(const float* values, int64_t size, int8_t* quantized, float* scaling_factor, int32_t* offset) {
  const double qmin = -128.0, qmax = 127.0;
  const auto minmax = std::minmax_element(values, values + size);
  const float rmin = std::min(0.0f, *minmax.first), rmax = std::max(0.0f, *minmax.second);
  if (rmin == rmax) {
    std::memset(quantized, 0, static_cast<size_t>(size));
    *scaling_factor = 1;
    *offset = 0;
    return;
  }
  double scale = (rmax - rmin) / (qmax - qmin);
  const double zp_from_min = qmin - rmin / scale, zp_from_max = qmax - rmax / scale;
  const double zp_from_min_error = std::abs(qmin) + std::abs(rmin / scale);
  const double zp_from_max_error = std::abs(qmax) + std::abs(rmax / scale);
  const double zp = zp_from_min_error < zp_from_max_error ? zp_from_min : zp_from_max;
  int8_t nudged = zp <= qmin ? -128 : zp >= qmax ? 127 : static_cast<int8_t>(std::round(zp));
  *scaling_factor = static_cast<float>(scale);
  *offset = nudged;
  const float inv = static_cast<float>(1.0 / *scaling_factor);
  for (int64_t i = 0; i < size; ++i) {
    auto q = static_cast<int32_t>(round_half_away(static_cast<float>(*offset) + values[i] * inv));
    quantized[i] = static_cast<int8_t>(std::min(127, std::max(-128, q)));
  }
}

// Hybrid FULLY_CONNECTED, as TFLite computes it: output = bias + (w . q - row_sum * offset) *
// (input_scale * weight_scale), one input quantization per batch row.
void fc_hybrid_eval(Node& n, Tensor& x, Tensor& w, Tensor* b, Tensor& y) {
  int64_t units = w.shape[0], depth = w.shape[1], rows = x.elements() / depth;
  float* out = y.as<float>();
  for (int64_t r = 0; r < rows; ++r) {
    if (b) std::memcpy(out + r * units, b->as<float>(), static_cast<size_t>(units) * 4);
    else std::memset(out + r * units, 0, static_cast<size_t>(units) * 4);
  }
  const float* xd = x.as<float>();
  bool all_zero = std::all_of(xd, xd + x.elements(), [](float v) { return v == 0.0f; });
  if (!all_zero) {
    // Quantize every row, then one int8 x int8 -> int32 GEMM (exact, so any order of summation
    // gives TFLite's dot products), then TFLite's float epilogue per element.
    std::vector<int8_t> q(static_cast<size_t>(rows * depth));
    std::vector<float> scales(static_cast<size_t>(rows));
    std::vector<int32_t> offsets(static_cast<size_t>(rows)), acc(static_cast<size_t>(rows * units));
    for (int64_t r = 0; r < rows; ++r) {
      asymmetric_quantize(xd + r * depth, depth, q.data() + r * depth, &scales[static_cast<size_t>(r)], &offsets[static_cast<size_t>(r)]);
    }
    int32_t zero = 0;
    bool small = rows * units * depth < (int64_t{1} << 23);
    int saved = omp_get_max_threads();
    if (small) omp_set_num_threads(1);
    dnnl_gemm_s8s8s32('N', 'T', 'F', rows, units, depth, 1.0f, q.data(), depth, 0, w.as<int8_t>(), depth, 0, 0.0f, acc.data(), units, &zero);
    if (small) omp_set_num_threads(saved);
    for (int64_t r = 0; r < rows; ++r) {
      const float scale = scales[static_cast<size_t>(r)] * w.scale[0];
      const auto batch_offset = static_cast<float>(offsets[static_cast<size_t>(r)]);
      for (int64_t u = 0; u < units; ++u) {
        int32_t dot = acc[static_cast<size_t>(r * units + u)];
        dot = static_cast<int32_t>(static_cast<float>(dot) - n.floats[static_cast<size_t>(u)] * batch_offset);
        out[r * units + u] += static_cast<float>(dot) * scale;
      }
    }
  }
  apply_activation(out, y.elements(), n.op->builtin_options_as_FullyConnectedOptions()->fused_activation_function());
}

void fc_eval(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& w = input(in, n, 1);
  Tensor* b = optional_input(in, n, 2);
  Tensor& y = output(in, n);
  if (n.ints[0] == 1) return fc_hybrid_eval(n, x, w, b, y);
  int64_t units = w.shape[0], depth = w.shape[1], rows = x.elements() / depth;
  float* out = y.as<float>();
  for (int64_t r = 0; r < rows; ++r) {
    if (b) std::memcpy(out + r * units, b->as<float>(), static_cast<size_t>(units) * 4);
    else std::memset(out + r * units, 0, static_cast<size_t>(units) * 4);
  }
  gemm_nt(rows, units, depth, x.as<float>(), w.as<float>(), out);
  apply_activation(out, y.elements(), n.op->builtin_options_as_FullyConnectedOptions()->fused_activation_function());
}

// ---- CONV_2D (im2col + sgemm) and DEPTHWISE_CONV_2D ---------------------------------------------
// The float kernels keep the geometry in the node's scratch integers.
void store(Node& n, const ConvGeometry& g) {
  n.ints = {g.batch, g.ih, g.iw, g.ic, g.oh, g.ow, g.oc, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.ph, g.pw};
}
ConvGeometry load(const Node& n) {
  const auto& v = n.ints;
  auto i = [&](size_t k) { return static_cast<int32_t>(v[k]); };
  return {i(0), i(1), i(2), i(3), i(4), i(5), i(6), i(7), i(8), i(9), i(10), i(11), i(12), i(13), i(14)};
}
// oneDNN's direct convolution on NHWC data with TFLite's OHWI filter, planned once per shape.
struct ConvPrimitive {
  dnnl::memory::desc src, weights, bias, dst;
  dnnl::convolution_forward conv;
  dnnl::memory packed_weights;  // the filter in oneDNN's layout (reordered once when constant)
  dnnl::memory::desc user_weights;
  bool repack = false;          // filter computed at run time (e.g. DEQUANTIZE of float16)
};
// Per-channel hybrid CONV_2D, as TFLite's optimized kernel: the input is quantized per batch
// (asymmetric), im2col pads with the input's zero point, an int8 GEMM gives exact int32 sums, and
// out = float(acc - row_sum * zero_point) * (channel_scale * input_scale) + bias.
struct HybridConv {
  std::vector<int32_t> row_sums;
  std::vector<int8_t> quantized, cols;
  std::vector<int32_t> acc;
};
void hybrid_conv_prepare(Interpreter& in, Node& n, const ConvGeometry& g) {
  Tensor& f = input(in, n, 1);
  // TFLite's hybrid conv applies only clamping activations.
  if (n.op->builtin_options_as_Conv2DOptions()->fused_activation_function() == ActivationFunctionType_TANH) {
    in.fail_node(n, "a hybrid CONV_2D cannot fuse TANH");
  }
  if (!f.constant) in.fail_node(n, "hybrid filters must be constant");
  if (f.scale.size() != static_cast<size_t>(g.oc) || f.quantized_dimension != 0) {
    in.fail_node(n, fmt::format("hybrid filter '{}' must be quantized per output channel (axis 0)", f.name));
  }
  auto h = std::make_shared<HybridConv>();
  int64_t k = static_cast<int64_t>(g.kh) * g.kw * g.ic;
  h->row_sums.assign(static_cast<size_t>(g.oc), 0);
  for (int32_t o = 0; o < g.oc; ++o)
    for (int64_t i = 0; i < k; ++i) h->row_sums[static_cast<size_t>(o)] += f.as<int8_t>()[o * k + i];
  h->quantized.resize(static_cast<size_t>(int64_t{g.batch} * g.ih * g.iw * g.ic));
  h->cols.resize(static_cast<size_t>(int64_t{g.batch} * g.oh * g.ow * k));
  h->acc.resize(static_cast<size_t>(int64_t{g.batch} * g.oh * g.ow * g.oc));
  n.state = h;
  n.ints.push_back(1);  // hybrid marker after the geometry
}
void hybrid_conv_eval(Interpreter& in, Node& n, const ConvGeometry& g) {
  auto* h = static_cast<HybridConv*>(n.state.get());
  Tensor& x = input(in, n, 0);
  Tensor& f = input(in, n, 1);
  Tensor* b = optional_input(in, n, 2);
  Tensor& y = output(in, n);
  int64_t image = int64_t{g.ih} * g.iw * g.ic, k = int64_t{g.kh} * g.kw * g.ic, pixels = int64_t{g.oh} * g.ow;
  std::vector<float> scales(static_cast<size_t>(g.batch));
  std::vector<int32_t> offsets(static_cast<size_t>(g.batch));
  for (int32_t bi = 0; bi < g.batch; ++bi) {
    asymmetric_quantize(x.as<float>() + bi * image, image, h->quantized.data() + bi * image, &scales[static_cast<size_t>(bi)], &offsets[static_cast<size_t>(bi)]);
  }
  for (int32_t bi = 0; bi < g.batch; ++bi) {
    const auto pad = static_cast<int8_t>(offsets[static_cast<size_t>(bi)]);
    const int8_t* src = h->quantized.data() + bi * image;
    for (int32_t oy = 0; oy < g.oh; ++oy)
      for (int32_t ox = 0; ox < g.ow; ++ox) {
        int8_t* dst = h->cols.data() + ((int64_t{bi} * g.oh + oy) * g.ow + ox) * k;
        for (int32_t ky = 0; ky < g.kh; ++ky) {
          int32_t iy = oy * g.sh - g.ph + ky * g.dh;
          for (int32_t kx = 0; kx < g.kw; ++kx) {
            int32_t ix = ox * g.sw - g.pw + kx * g.dw;
            int8_t* d = dst + (int64_t{ky} * g.kw + kx) * g.ic;
            if (iy < 0 || iy >= g.ih || ix < 0 || ix >= g.iw) std::memset(d, pad, static_cast<size_t>(g.ic));
            else std::memcpy(d, src + (int64_t{iy} * g.iw + ix) * g.ic, static_cast<size_t>(g.ic));
          }
        }
      }
  }
  int64_t rows = int64_t{g.batch} * pixels;
  int32_t zero = 0;
  bool small = rows * g.oc * k < (int64_t{1} << 23);
  int saved = omp_get_max_threads();
  if (small) omp_set_num_threads(1);
  dnnl_gemm_s8s8s32('N', 'T', 'F', rows, g.oc, k, 1.0f, h->cols.data(), k, 0, f.as<int8_t>(), k, 0, 0.0f, h->acc.data(), g.oc, &zero);
  if (small) omp_set_num_threads(saved);
  int act = n.op->builtin_options_as_Conv2DOptions()->fused_activation_function();
  float lo = act == ActivationFunctionType_RELU || act == ActivationFunctionType_RELU6 ? 0.0f : act == ActivationFunctionType_RELU_N1_TO_1 ? -1.0f : -INFINITY;
  float hi = act == ActivationFunctionType_RELU6 ? 6.0f : act == ActivationFunctionType_RELU_N1_TO_1 ? 1.0f : INFINITY;
  float* out = y.as<float>();
  for (int64_t r = 0; r < rows; ++r) {
    auto bi = static_cast<size_t>(r / pixels);
    const float input_scale = scales[bi];
    const int32_t zp = offsets[bi];
    for (int32_t o = 0; o < g.oc; ++o) {
      int32_t a = h->acc[static_cast<size_t>(r * g.oc + o)] - h->row_sums[static_cast<size_t>(o)] * zp;
      float v = static_cast<float>(a) * (f.scale[static_cast<size_t>(o)] * input_scale) + (b ? b->as<float>()[o] : 0.0f);
      out[r * g.oc + o] = std::max(std::min(v, hi), lo);
    }
  }
}

void float_conv_types(Interpreter& in, Node& n, bool depthwise) {
  expect_type(in, n, input(in, n, 0), DType::Float32, "input");
  Tensor& f = input(in, n, 1);
  if (f.type != DType::Float32 && !(f.type == DType::Int8 && !depthwise)) {
    in.fail_node(n, fmt::format("filter '{}' is {}; expected float32 (or int8 for a hybrid CONV_2D)", f.name, dtype_name(f.type)));
  }
}
void conv_prepare(Interpreter& in, Node& n) {
  using namespace dnnl;
  float_conv_types(in, n, false);
  ConvGeometry g = conv_geometry(in, n, false);
  store(n, g);
  output(in, n).shape = {g.batch, g.oh, g.ow, g.oc};
  if (input(in, n, 1).type == DType::Int8) return hybrid_conv_prepare(in, n, g);
  auto p = std::make_shared<ConvPrimitive>();
  p->src = memory::desc({g.batch, g.ic, g.ih, g.iw}, memory::data_type::f32, memory::format_tag::nhwc);
  memory::desc user_weights({g.oc, g.ic, g.kh, g.kw}, memory::data_type::f32, memory::format_tag::ohwi);
  p->weights = memory::desc({g.oc, g.ic, g.kh, g.kw}, memory::data_type::f32, memory::format_tag::any);
  p->bias = memory::desc({g.oc}, memory::data_type::f32, memory::format_tag::a);
  p->dst = memory::desc({g.batch, g.oc, g.oh, g.ow}, memory::data_type::f32, memory::format_tag::nhwc);
  int32_t pad_b = std::max((g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1 - g.ih - g.ph, 0);
  int32_t pad_r = std::max((g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1 - g.iw - g.pw, 0);
  memory::dims strides = {g.sh, g.sw}, dilation = {g.dh - 1, g.dw - 1}, pad_l = {g.ph, g.pw}, pad_hr = {pad_b, pad_r};
  bool has_bias = optional_input(in, n, 2) != nullptr;
  auto desc = has_bias ? convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, p->src, p->weights, p->bias, p->dst, strides, dilation, pad_l, pad_hr)
                       : convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, p->src, p->weights, p->dst, strides, dilation, pad_l, pad_hr);
  convolution_forward::primitive_desc pd(desc, nn::cpu_engine());
  p->conv = convolution_forward(pd);
  p->weights = pd.weights_desc();
  Tensor& filter = input(in, n, 1);
  p->packed_weights = memory(p->weights, nn::cpu_engine());
  p->user_weights = user_weights;
  p->repack = !filter.constant;
  if (filter.constant) {
    memory user(user_weights, nn::cpu_engine(), filter.data);
    reorder(user, p->packed_weights).execute(nn::cpu_stream(), user, p->packed_weights);
    nn::cpu_stream().wait();
  }
  n.state = p;
}
void conv_eval(Interpreter& in, Node& n) {
  if (n.ints.size() > 15) return hybrid_conv_eval(in, n, load(n));
  auto* p = static_cast<ConvPrimitive*>(n.state.get());
  Tensor& y = output(in, n);
  if (p->repack) {
    dnnl::memory user(p->user_weights, nn::cpu_engine(), input(in, n, 1).data);
    dnnl::reorder(user, p->packed_weights).execute(nn::cpu_stream(), user, p->packed_weights);
  }
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, dnnl::memory(p->src, nn::cpu_engine(), input(in, n, 0).data)},
      {DNNL_ARG_WEIGHTS, p->packed_weights},
      {DNNL_ARG_DST, dnnl::memory(p->dst, nn::cpu_engine(), y.data)}};
  if (Tensor* b = optional_input(in, n, 2)) args[DNNL_ARG_BIAS] = dnnl::memory(p->bias, nn::cpu_engine(), b->data);
  // Small convolutions (batch-1 inference) on one thread: waking the others costs more.
  ConvGeometry g = load(n);
  bool small = int64_t{g.batch} * g.oh * g.ow * g.oc * g.kh * g.kw * g.ic < (int64_t{1} << 23);
  int saved = omp_get_max_threads();
  if (small) omp_set_num_threads(1);
  p->conv.execute(nn::cpu_stream(), args);
  nn::cpu_stream().wait();
  if (small) omp_set_num_threads(saved);
  apply_activation(y.as<float>(), y.elements(), n.op->builtin_options_as_Conv2DOptions()->fused_activation_function());
}
void dwconv_prepare(Interpreter& in, Node& n) {
  float_conv_types(in, n, true);
  ConvGeometry g = conv_geometry(in, n, true);
  store(n, g);
  output(in, n).shape = {g.batch, g.oh, g.ow, g.oc};
}
void dwconv_eval(Interpreter& in, Node& n) {
  ConvGeometry g = load(n);
  const float* x = input(in, n, 0).as<float>();
  const float* f = input(in, n, 1).as<float>();
  Tensor* b = optional_input(in, n, 2);
  float* y = output(in, n).as<float>();
  int32_t mult = g.oc / g.ic;
  for (int32_t bi = 0; bi < g.batch; ++bi)
    for (int32_t oy = 0; oy < g.oh; ++oy)
      for (int32_t ox = 0; ox < g.ow; ++ox)
        for (int32_t oc = 0; oc < g.oc; ++oc) {
          int32_t ic = oc / mult;
          float acc = b ? b->as<float>()[oc] : 0.0f;
          for (int32_t ky = 0; ky < g.kh; ++ky) {
            int32_t iy = oy * g.sh - g.ph + ky * g.dh;
            if (iy < 0 || iy >= g.ih) continue;
            for (int32_t kx = 0; kx < g.kw; ++kx) {
              int32_t ix = ox * g.sw - g.pw + kx * g.dw;
              if (ix < 0 || ix >= g.iw) continue;
              acc += x[((static_cast<int64_t>(bi) * g.ih + iy) * g.iw + ix) * g.ic + ic] * f[(static_cast<int64_t>(ky) * g.kw + kx) * g.oc + oc];
            }
          }
          y[((static_cast<int64_t>(bi) * g.oh + oy) * g.ow + ox) * g.oc + oc] = acc;
        }
  apply_activation(y, output(in, n).elements(), n.op->builtin_options_as_DepthwiseConv2DOptions()->fused_activation_function());
}

// ---- MAX_POOL_2D / AVERAGE_POOL_2D ---------------------------------------------------------------
void pool_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  expect_type(in, n, x, DType::Float32, "input");
  expect_rank(in, n, x, 4, "input");
  auto* o = n.op->builtin_options_as_Pool2DOptions();
  int32_t oh, ow, ph, pw;
  window(x.shape[1], o->filter_height(), o->stride_h(), 1, o->padding(), &oh, &ph);
  window(x.shape[2], o->filter_width(), o->stride_w(), 1, o->padding(), &ow, &pw);
  if (oh <= 0 || ow <= 0) in.fail_node(n, "pool window is larger than the input");
  n.ints = {ph, pw};
  output(in, n).shape = {x.shape[0], oh, ow, x.shape[3]};
}
template <bool kMax>
void pool_eval(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  auto* o = n.op->builtin_options_as_Pool2DOptions();
  int32_t ih = x.shape[1], iw = x.shape[2], c = x.shape[3], oh = y.shape[1], ow = y.shape[2];
  int32_t ph = static_cast<int32_t>(n.ints[0]), pw = static_cast<int32_t>(n.ints[1]);
  const float* xd = x.as<float>();
  float* yd = y.as<float>();
  for (int32_t b = 0; b < x.shape[0]; ++b)
    for (int32_t oy = 0; oy < oh; ++oy)
      for (int32_t ox = 0; ox < ow; ++ox) {
        int32_t y0 = std::max(oy * o->stride_h() - ph, 0), y1 = std::min(oy * o->stride_h() - ph + o->filter_height(), ih);
        int32_t x0 = std::max(ox * o->stride_w() - pw, 0), x1 = std::min(ox * o->stride_w() - pw + o->filter_width(), iw);
        float* out = yd + ((static_cast<int64_t>(b) * oh + oy) * ow + ox) * c;
        for (int32_t ch = 0; ch < c; ++ch) out[ch] = kMax ? -INFINITY : 0.0f;
        for (int32_t iy = y0; iy < y1; ++iy)
          for (int32_t ix = x0; ix < x1; ++ix) {
            const float* p = xd + ((static_cast<int64_t>(b) * ih + iy) * iw + ix) * c;
            for (int32_t ch = 0; ch < c; ++ch) out[ch] = kMax ? std::max(out[ch], p[ch]) : out[ch] + p[ch];
          }
        if (!kMax) {
          float count = static_cast<float>((y1 - y0) * (x1 - x0));
          for (int32_t ch = 0; ch < c; ++ch) out[ch] /= count;
        }
      }
  apply_activation(yd, y.elements(), o->fused_activation_function());
}

// ---- MEAN over constant axes ---------------------------------------------------------------------
void mean_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  expect_type(in, n, x, DType::Float32, "input");
  Reduction r = reduction(in, n, x, input(in, n, 1));
  n.ints.assign(r.reduce.begin(), r.reduce.end());
  output(in, n).shape = r.output_shape;
}
void mean_eval(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  std::vector<double> sums(static_cast<size_t>(y.elements()), 0.0);
  reduce_sum(x.shape, std::vector<bool>(n.ints.begin(), n.ints.end()), x.as<float>(), sums.data());
  double count = static_cast<double>(x.elements()) / static_cast<double>(std::max<int64_t>(y.elements(), 1));
  for (int64_t i = 0; i < y.elements(); ++i) y.as<float>()[i] = static_cast<float>(sums[static_cast<size_t>(i)] / count);
}

// ---- SOFTMAX, activations --------------------------------------------------------------------------
void same_shape_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  expect_type(in, n, x, DType::Float32, "input");
  output(in, n).shape = x.shape;
}
void softmax_eval(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  float beta = n.op->builtin_options_as_SoftmaxOptions() ? n.op->builtin_options_as_SoftmaxOptions()->beta() : 1.0f;
  int64_t c = x.shape.back(), rows = x.elements() / c;
  const float* xd = x.as<float>();
  float* yd = output(in, n).as<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = xd + r * c;
    float* q = yd + r * c;
    float m = *std::max_element(p, p + c);
    float sum = 0;
    for (int64_t k = 0; k < c; ++k) sum += q[k] = std::exp((p[k] - m) * beta);
    for (int64_t k = 0; k < c; ++k) q[k] /= sum;
  }
}
template <int kActivation>
void activation_eval(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  float* y = output(in, n).as<float>();
  std::memcpy(y, x.data, x.bytes());
  if (kActivation == -1) {
    for (int64_t i = 0; i < x.elements(); ++i) y[i] = 1.0f / (1.0f + std::exp(-y[i]));
  } else {
    apply_activation(y, x.elements(), kActivation);
  }
}

// ---- RESHAPE ------------------------------------------------------------------------------------------
void reshape_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  std::vector<int32_t> shape;
  if (Tensor* s = optional_input(in, n, 1); s && s->constant) {
    expect_type(in, n, *s, DType::Int32, "shape");
    shape.assign(s->as<int32_t>(), s->as<int32_t>() + s->elements());
  } else if (auto* o = n.op->builtin_options_as_ReshapeOptions(); o && o->new_shape()) {
    shape.assign(o->new_shape()->begin(), o->new_shape()->end());
  } else {
    in.fail_node(n, "needs a constant shape input or new_shape option");
  }
  int64_t known = 1;
  int unknown = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) unknown = static_cast<int>(i);
    else known *= shape[i];
  }
  if (unknown >= 0) shape[static_cast<size_t>(unknown)] = static_cast<int32_t>(x.elements() / std::max<int64_t>(known, 1));
  int64_t total = 1;
  for (int32_t d : shape) total *= d;
  if (total != x.elements()) in.fail_node(n, fmt::format("cannot reshape {} values of '{}' to [{}]", x.elements(), x.name, fmt::join(shape, ", ")));
  output(in, n).shape = shape;
}
void copy_eval(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  std::memcpy(output(in, n).data, x.data, x.bytes());
}

// ---- ADD / SUB / MUL / DIV with broadcasting ---------------------------------------------------------
void binary_prepare(Interpreter& in, Node& n) {
  Tensor& a = input(in, n, 0);
  Tensor& b = input(in, n, 1);
  expect_type(in, n, a, DType::Float32, "input");
  expect_type(in, n, b, DType::Float32, "input");
  output(in, n).shape = broadcast_shape(in, n, a.shape, b.shape);
}
template <int kOp>
inline float binary_op(float u, float v) {
  return kOp == 0 ? u + v : kOp == 1 ? u - v : kOp == 2 ? u * v : u / v;
}

template <int kOp>
int binary_activation(const Node& n) {
  int act = ActivationFunctionType_NONE;
  if (kOp == 0 && n.op->builtin_options_as_AddOptions()) act = n.op->builtin_options_as_AddOptions()->fused_activation_function();
  if (kOp == 1 && n.op->builtin_options_as_SubOptions()) act = n.op->builtin_options_as_SubOptions()->fused_activation_function();
  if (kOp == 2 && n.op->builtin_options_as_MulOptions()) act = n.op->builtin_options_as_MulOptions()->fused_activation_function();
  if (kOp == 3 && n.op->builtin_options_as_DivOptions()) act = n.op->builtin_options_as_DivOptions()->fused_activation_function();
  return act;
}

template <int kOp>
void binary_eval(Interpreter& in, Node& n) {
  Tensor& a = input(in, n, 0);
  Tensor& b = input(in, n, 1);
  Tensor& y = output(in, n);
  // Fast paths: same shape, or a scalar / per-channel (last axis) second operand.
  int64_t count = y.elements();
  const float* ad = a.as<float>();
  const float* bd = b.as<float>();
  float* yd = y.as<float>();
  if (a.elements() == count && (b.elements() == count || b.elements() == 1 || (b.shape.size() == 1 && !a.shape.empty() && b.shape[0] == a.shape.back()))) {
    int64_t bn = b.elements();
    if (bn == count) for (int64_t i = 0; i < count; ++i) yd[i] = binary_op<kOp>(ad[i], bd[i]);
    else if (bn == 1) { float v = bd[0]; for (int64_t i = 0; i < count; ++i) yd[i] = binary_op<kOp>(ad[i], v); }
    else for (int64_t i = 0; i < count; i += bn) for (int64_t k = 0; k < bn; ++k) yd[i + k] = binary_op<kOp>(ad[i + k], bd[k]);
    apply_activation(yd, count, binary_activation<kOp>(n));
    return;
  }
  nn::for_each_broadcast(y.shape, a.shape, b.shape, [&](int64_t o, int64_t ia, int64_t ib) { yd[o] = binary_op<kOp>(ad[ia], bd[ib]); });
  apply_activation(yd, y.elements(), binary_activation<kOp>(n));
}

// ---- NOT_EQUAL (float32 -> bool) and SELECT_V2 (bool condition, float32 values), broadcasting ----------
void not_equal_prepare(Interpreter& in, Node& n) {
  Tensor& a = input(in, n, 0);
  Tensor& b = input(in, n, 1);
  Tensor& y = output(in, n);
  expect_type(in, n, a, DType::Float32, "input");
  expect_type(in, n, b, DType::Float32, "input");
  expect_type(in, n, y, DType::Bool, "output");
  y.shape = broadcast_shape(in, n, a.shape, b.shape);
}
void not_equal_eval(Interpreter& in, Node& n) {
  Tensor& a = input(in, n, 0);
  Tensor& b = input(in, n, 1);
  Tensor& y = output(in, n);
  const float* ad = a.as<float>();
  const float* bd = b.as<float>();
  uint8_t* yd = y.as<uint8_t>();  // TFLite's bool: one byte, 1 / 0
  const int64_t count = y.elements();
  if (a.elements() == count && b.elements() == count) {
    for (int64_t i = 0; i < count; ++i) yd[i] = ad[i] != bd[i];  // true for NaN, as in TFLite
    return;
  }
  nn::for_each_broadcast(y.shape, a.shape, b.shape, [&](int64_t o, int64_t ia, int64_t ib) { yd[o] = ad[ia] != bd[ib]; });
}

void select_v2_prepare(Interpreter& in, Node& n) {
  Tensor& c = input(in, n, 0);
  Tensor& x = input(in, n, 1);
  Tensor& y = input(in, n, 2);
  Tensor& out = output(in, n);
  expect_type(in, n, c, DType::Bool, "condition");
  expect_type(in, n, x, DType::Float32, "input");
  expect_type(in, n, y, DType::Float32, "input");
  expect_type(in, n, out, DType::Float32, "output");
  out.shape = broadcast_shape(in, n, broadcast_shape(in, n, c.shape, x.shape), y.shape);
}
void select_v2_eval(Interpreter& in, Node& n) {
  Tensor& c = input(in, n, 0);
  Tensor& x = input(in, n, 1);
  Tensor& y = input(in, n, 2);
  Tensor& out = output(in, n);
  const uint8_t* cd = c.as<uint8_t>();  // any nonzero byte is true
  const float* xd = x.as<float>();
  const float* yd = y.as<float>();
  float* od = out.as<float>();
  const int64_t count = out.elements();
  if (c.elements() == count && x.elements() == count && y.elements() == count) {
    for (int64_t i = 0; i < count; ++i) od[i] = cd[i] ? xd[i] : yd[i];
    return;
  }
  const size_t r = out.shape.size();
  auto sc = nn::broadcast_strides(c.shape, r), sx = nn::broadcast_strides(x.shape, r), sy = nn::broadcast_strides(y.shape, r);
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

// ---- CONCATENATION --------------------------------------------------------------------------------------
void concat_prepare(Interpreter& in, Node& n) {
  Tensor& first = input(in, n, 0);
  int32_t axis = n.op->builtin_options_as_ConcatenationOptions()->axis();
  if (axis < 0) axis += static_cast<int32_t>(first.shape.size());
  std::vector<int32_t> shape = first.shape;
  shape[static_cast<size_t>(axis)] = 0;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    Tensor& t = input(in, n, i);
    expect_type(in, n, t, DType::Float32, "input");
    shape[static_cast<size_t>(axis)] += t.shape[static_cast<size_t>(axis)];
  }
  n.ints = {axis};
  output(in, n).shape = shape;
}
void concat_eval(Interpreter& in, Node& n) {
  Tensor& y = output(in, n);
  auto axis = static_cast<size_t>(n.ints[0]);
  int64_t outer = 1;
  for (size_t d = 0; d < axis; ++d) outer *= y.shape[d];
  int64_t out_row = y.elements() / std::max<int64_t>(outer, 1), offset = 0;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    Tensor& t = input(in, n, i);
    int64_t row = t.elements() / std::max<int64_t>(outer, 1);
    for (int64_t o = 0; o < outer; ++o) std::memcpy(y.as<float>() + o * out_row + offset, t.as<float>() + o * row, static_cast<size_t>(row) * 4);
    offset += row;
  }
  apply_activation(y.as<float>(), y.elements(), n.op->builtin_options_as_ConcatenationOptions()->fused_activation_function());
}

// ---- QUANTIZE / DEQUANTIZE ------------------------------------------------------------------------------
void quantize_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  expect_type(in, n, x, DType::Float32, "input");
  if (y.type != DType::Int8 || y.scale.size() != 1) in.fail_node(n, "QUANTIZE writes a per-tensor int8 tensor");
  y.shape = x.shape;
}
// A power-of-two scale (e.g. 1 for raw pixels) divides exactly as a float multiplication, so this
// path gives the double division's result; it is branch-free (values clamped first) so it
// vectorizes, which needs comparisons that may not trap.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default"), optimize("no-trapping-math")))
void quantize_power_of_two_scale(const float* __restrict x, int64_t count, float inverse_scale, int32_t zero_point, int8_t* __restrict y) {
  for (int64_t i = 0; i < count; ++i) {
    float v = x[i] * inverse_scale;
    v = v < -1024.0f ? -1024.0f : v;
    v = v > 1024.0f ? 1024.0f : v;
    int32_t r = static_cast<int32_t>(v);
    const float fraction = v - static_cast<float>(r);
    r += (fraction >= 0.5f ? 1 : 0) - (fraction <= -0.5f ? 1 : 0);  // halves away from zero
    r += zero_point;
    r = r < -128 ? -128 : r;
    r = r > 127 ? 127 : r;
    y[i] = static_cast<int8_t>(r);
  }
}

// q = round(x / scale) + zero point with halves away from zero, the division in double, as
// TFLite's AffineQuantize.
void quantize_eval(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  Tensor& y = output(in, n);
  const double scale = y.scale[0];
  const auto zero_point = static_cast<int32_t>(y.zero_point.empty() ? 0 : y.zero_point[0]);
  const float* xd = x.as<float>();
  int8_t* yd = y.as<int8_t>();
  const int64_t count = x.elements();
  int exponent = 0;
  if (std::frexp(scale, &exponent) == 0.5 && exponent > -100 && exponent < 100) {
    return quantize_power_of_two_scale(xd, count, static_cast<float>(1.0 / scale), zero_point, yd);
  }
  for (int64_t i = 0; i < count; ++i) {
    const double v = static_cast<double>(xd[i]) / scale;
    const double t = std::trunc(v), d = v - t;
    const double r = d >= 0.5 ? t + 1.0 : d <= -0.5 ? t - 1.0 : t;
    yd[i] = static_cast<int8_t>(std::clamp(r + zero_point, -128.0, 127.0));
  }
}
void dequantize_prepare(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  if (x.type != DType::Int8 && x.type != DType::Float16) in.fail_node(n, fmt::format("input '{}' is {}, expected int8 or float16", x.name, dtype_name(x.type)));
  if (x.type == DType::Int8 && x.scale.empty()) in.fail_node(n, fmt::format("int8 input '{}' has no quantization scale", x.name));
  output(in, n).shape = x.shape;
}
void dequantize_eval(Interpreter& in, Node& n) {
  Tensor& x = input(in, n, 0);
  float* y = output(in, n).as<float>();
  if (x.type == DType::Float16) {
    for (int64_t i = 0; i < x.elements(); ++i) y[i] = half_to_float(x.as<uint16_t>()[i]);
    return;
  }
  // Per-tensor, or per-channel along quantized_dimension.
  int64_t inner = 1;
  size_t qd = static_cast<size_t>(x.quantized_dimension);
  for (size_t d = qd + 1; d < x.shape.size(); ++d) inner *= x.shape[d];
  int64_t channels = x.scale.size() > 1 ? x.shape[qd] : 1;
  for (int64_t i = 0; i < x.elements(); ++i) {
    size_t c = channels > 1 ? static_cast<size_t>((i / inner) % channels) : 0;
    int64_t zp = x.zero_point.empty() ? 0 : x.zero_point[std::min(c, x.zero_point.size() - 1)];
    y[i] = static_cast<float>(x.as<int8_t>()[i] - zp) * x.scale[c];
  }
}

// Kernels whose int8 form takes over when the first input is int8.
template <void (*kFloatPrepare)(Interpreter&, Node&), void (*kInt8Prepare)(Interpreter&, Node&)>
void prepare_by_type(Interpreter& in, Node& n) {
  n.quantized = input(in, n, 0).type == DType::Int8;
  (n.quantized ? kInt8Prepare : kFloatPrepare)(in, n);
}
template <void (*kFloatEval)(Interpreter&, Node&), void (*kInt8Eval)(Interpreter&, Node&)>
void eval_by_type(Interpreter& in, Node& n) {
  (n.quantized ? kInt8Eval : kFloatEval)(in, n);
}

constexpr Kernel kKernels[] = {
    {"FULLY_CONNECTED", 7, prepare_by_type<fc_prepare, int8::fully_connected_prepare>, eval_by_type<fc_eval, int8::fully_connected_eval>},
    {"CONV_2D", 5, prepare_by_type<conv_prepare, int8::conv_prepare>, eval_by_type<conv_eval, int8::conv_eval>},
    {"DEPTHWISE_CONV_2D", 3, prepare_by_type<dwconv_prepare, int8::depthwise_conv_prepare>, eval_by_type<dwconv_eval, int8::depthwise_conv_eval>},
    {"MAX_POOL_2D", 2, prepare_by_type<pool_prepare, int8::pool_prepare>, eval_by_type<pool_eval<true>, int8::max_pool_eval>},
    {"AVERAGE_POOL_2D", 2, prepare_by_type<pool_prepare, int8::pool_prepare>, eval_by_type<pool_eval<false>, int8::average_pool_eval>},
    {"MEAN", 2, prepare_by_type<mean_prepare, int8::mean_prepare>, eval_by_type<mean_eval, int8::mean_eval>},
    {"SOFTMAX", 2, prepare_by_type<same_shape_prepare, int8::softmax_prepare>, eval_by_type<softmax_eval, int8::softmax_eval>},
    {"RELU", 2, prepare_by_type<same_shape_prepare, int8::relu_prepare>, eval_by_type<activation_eval<ActivationFunctionType_RELU>, int8::relu_eval>},
    {"RELU6", 2, prepare_by_type<same_shape_prepare, int8::relu6_prepare>, eval_by_type<activation_eval<ActivationFunctionType_RELU6>, int8::relu_eval>},
    {"TANH", 2, prepare_by_type<same_shape_prepare, int8::tanh_prepare>, eval_by_type<activation_eval<ActivationFunctionType_TANH>, int8::lookup_table_eval>},
    {"LOGISTIC", 2, prepare_by_type<same_shape_prepare, int8::logistic_prepare>, eval_by_type<activation_eval<-1>, int8::lookup_table_eval>},
    {"RESHAPE", 1, reshape_prepare, copy_eval},
    {"ADD", 2, prepare_by_type<binary_prepare, int8::add_prepare>, eval_by_type<binary_eval<0>, int8::add_eval>},
    {"SUB", 2, prepare_by_type<binary_prepare, int8::sub_prepare>, eval_by_type<binary_eval<1>, int8::sub_eval>},
    {"MUL", 2, prepare_by_type<binary_prepare, int8::mul_prepare>, eval_by_type<binary_eval<2>, int8::mul_eval>},
    {"DIV", 1, binary_prepare, binary_eval<3>},
    {"NOT_EQUAL", 1, not_equal_prepare, not_equal_eval},
    {"SELECT_V2", 1, select_v2_prepare, select_v2_eval},
    {"CONCATENATION", 2, prepare_by_type<concat_prepare, int8::concat_prepare>, eval_by_type<concat_eval, int8::concat_eval>},
    {"QUANTIZE", 2, prepare_by_type<quantize_prepare, int8::requantize_prepare>, eval_by_type<quantize_eval, int8::requantize_eval>},
    {"DEQUANTIZE", 3, dequantize_prepare, dequantize_eval},
};

}  // namespace

const Kernel* find_kernel(int builtin) {
  static const std::map<int, const Kernel*> by_code = [] {
    std::map<int, const Kernel*> m;
    auto add = [&](BuiltinOperator op, const char* name) {
      for (const auto& k : kKernels)
        if (std::string(k.name) == name) m[static_cast<int>(op)] = &k;
    };
    add(::tflite::BuiltinOperator_FULLY_CONNECTED, "FULLY_CONNECTED");
    add(::tflite::BuiltinOperator_CONV_2D, "CONV_2D");
    add(::tflite::BuiltinOperator_DEPTHWISE_CONV_2D, "DEPTHWISE_CONV_2D");
    add(::tflite::BuiltinOperator_MAX_POOL_2D, "MAX_POOL_2D");
    add(::tflite::BuiltinOperator_AVERAGE_POOL_2D, "AVERAGE_POOL_2D");
    add(::tflite::BuiltinOperator_MEAN, "MEAN");
    add(::tflite::BuiltinOperator_SOFTMAX, "SOFTMAX");
    add(::tflite::BuiltinOperator_RELU, "RELU");
    add(::tflite::BuiltinOperator_RELU6, "RELU6");
    add(::tflite::BuiltinOperator_TANH, "TANH");
    add(::tflite::BuiltinOperator_LOGISTIC, "LOGISTIC");
    add(::tflite::BuiltinOperator_RESHAPE, "RESHAPE");
    add(::tflite::BuiltinOperator_ADD, "ADD");
    add(::tflite::BuiltinOperator_SUB, "SUB");
    add(::tflite::BuiltinOperator_MUL, "MUL");
    add(::tflite::BuiltinOperator_DIV, "DIV");
    add(::tflite::BuiltinOperator_NOT_EQUAL, "NOT_EQUAL");
    add(::tflite::BuiltinOperator_SELECT_V2, "SELECT_V2");
    add(::tflite::BuiltinOperator_CONCATENATION, "CONCATENATION");
    add(::tflite::BuiltinOperator_QUANTIZE, "QUANTIZE");
    add(::tflite::BuiltinOperator_DEQUANTIZE, "DEQUANTIZE");
    return m;
  }();
  auto it = by_code.find(builtin);
  return it == by_code.end() ? nullptr : it->second;
}

}  // namespace litepipe::tfl
