#pragma once
// Helpers shared by the kernel files: options with TFLite's defaults, fused activations, TFLite's
// padding arithmetic and convolution geometry (in 64 bits, checked), broadcasting, reductions,
// and the quantization parameters every int8 kernel derives.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tflite/runtime/kernel.h"
#include "tflite/runtime/kernels/quantization.h"

namespace litepipe::tfl {

// ---- options ----------------------------------------------------------------------------------------
// The operator's options as `T` (the object-API table, whose members hold the schema's defaults),
// or those defaults when the options are absent or of another operator's type — what TFLite's
// ParseOpData gives such an operator.
template <typename T>
T options_or_default(const OpContext& ctx) {
  T value;
  using Table = typename T::TableType;
  if (const auto* table = ctx.op().builtin_options_as<Table>()) table->UnPackTo(&value);
  return value;
}

// A fused activation: one of TFLite's ActivationFunctionType values (an Error otherwise).
::tflite::ActivationFunctionType fused_activation(const OpContext& ctx, ::tflite::ActivationFunctionType value);
// The float kernels' fused activation, in place over n values.
void apply_activation(float* x, int64_t n, ::tflite::ActivationFunctionType act);
// TFLite's CalculateActivationRangeQuantized for an int8 output ({-128, 127} for NONE); TANH and
// SIGN_BIT have no int8 form (an Error).
std::pair<int32_t, int32_t> int8_activation_range(const OpContext& ctx, ::tflite::ActivationFunctionType act, OpContext::QuantParams out);

// A padding value TFLite knows (SAME or VALID).
::tflite::Padding padding(const OpContext& ctx, ::tflite::Padding value);
// A stride / filter size / dilation: at least 1.
int32_t positive(const OpContext& ctx, int32_t value, const char* what);

// TFLite's padding arithmetic for one spatial dimension: output size and leading pad. Errors
// when the (dilated) filter is larger than a VALID-padded input.
struct Window {
  int64_t out = 0, pad = 0;
};
Window window(const OpContext& ctx, int64_t in, int64_t filter, int64_t stride, int64_t dilation, ::tflite::Padding padding, const char* axis);

struct ConvGeometry {
  int64_t batch, ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw, ph, pw;
};
struct ConvParams {
  ::tflite::Padding padding = ::tflite::Padding_SAME;
  int32_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  ::tflite::ActivationFunctionType activation = ::tflite::ActivationFunctionType_NONE;
};
// Shapes, strides and padding of a CONV_2D (filter OHWI) or DEPTHWISE_CONV_2D (filter 1HWO) with
// 4-D input and filter, checked; element types are checked by the caller.
ConvGeometry conv_geometry(const OpContext& ctx, const ConvParams& params, bool depthwise);

// Ops that move values without changing them (PAD, GATHER, REDUCE_MAX, RESIZE_NEAREST_NEIGHBOR):
// `x` float32 with a float32 output, or int8 with the output at x's scale and zero point, as TFLite
// requires (`role` names x in errors). Returns whether x is int8.
bool expect_float_or_same_scale_int8(const OpContext& ctx, const Tensor& x, const Tensor& y, const char* role);

// NumPy broadcasting of two operand shapes (an Error naming both when they do not broadcast).
std::vector<int64_t> broadcast_shape(const OpContext& ctx, const std::vector<int32_t>& a, const std::vector<int32_t>& b);
// Calls f(output index, a index, b index) over every element of `out` (shapes already broadcast).
template <typename F>
void for_each_broadcast(const std::vector<int32_t>& out, const std::vector<int32_t>& a, const std::vector<int32_t>& b, F f) {
  const size_t rank = out.size();
  auto strides = [rank](const std::vector<int32_t>& s) {
    std::vector<int64_t> st(rank, 0);
    int64_t stride = 1;
    for (size_t i = 0; i < s.size(); ++i) {
      const size_t d = s.size() - 1 - i, od = rank - 1 - i;
      st[od] = s[d] == 1 ? 0 : stride;
      stride *= s[d];
    }
    return st;
  };
  const std::vector<int64_t> sa = strides(a), sb = strides(b);
  int64_t total = 1;
  for (int32_t d : out) total *= d;
  std::vector<int32_t> index(rank, 0);
  int64_t ia = 0, ib = 0;
  for (int64_t o = 0; o < total; ++o) {
    f(o, ia, ib);
    for (size_t d = rank; d-- > 0;) {
      ia += sa[d];
      ib += sb[d];
      if (++index[d] < out[d]) break;
      ia -= sa[d] * out[d];
      ib -= sb[d] * out[d];
      index[d] = 0;
    }
  }
}

// The axes a reduction (MEAN, REDUCE_MAX) collapses, from its constant int32 axes input, and its output
// shape (collapsed axes kept as 1 with keep_dims).
struct Reduction {
  std::vector<bool> reduce;  // per input axis
  std::vector<int64_t> output_shape;
  int64_t count = 1;  // input values per output value
};
Reduction reduction(const OpContext& ctx, const Tensor& x, const Tensor& axes, bool keep_dims);
// Init's check of a reducer's axes operand: constant int32, rank 0 or 1.
void expect_reduction_axes(const OpContext& ctx, const Tensor& axes);
// f(acc[output index], x[i]) for every input value, over the collapsed axes.
template <typename In, typename Acc, typename F>
void reduce_into(const std::vector<int32_t>& shape, const std::vector<bool>& reduce, const In* x, Acc* acc, F f) {
  const size_t rank = shape.size();
  std::vector<int64_t> out_stride(rank, 0);
  int64_t stride = 1, total = 1;
  for (size_t d = rank; d-- > 0;) {
    total *= shape[d];
    if (!reduce[d]) {
      out_stride[d] = stride;
      stride *= shape[d];
    }
  }
  std::vector<int32_t> index(rank, 0);
  int64_t o = 0;
  for (int64_t i = 0; i < total; ++i) {
    f(acc[o], x[i]);
    for (size_t d = rank; d-- > 0;) {
      o += out_stride[d];
      if (++index[d] < shape[d]) break;
      o -= out_stride[d] * shape[d];
      index[d] = 0;
    }
  }
}

// sums[output index] += x[i] over the collapsed axes.
template <typename In, typename Sum>
void reduce_sum(const std::vector<int32_t>& shape, const std::vector<bool>& reduce, const In* x, Sum* sums) {
  reduce_into(shape, reduce, x, sums, [](Sum& s, In v) { s += v; });
}

// ---- hybrid kernels --------------------------------------------------------------------------------
// TFLite's AsymmetricQuantizeFloats (asymmetric) or SymmetricQuantizeFloats of `size` values: int8
// values, their scale and (asymmetric) zero point, as the hybrid kernels quantize an input at run time.
void quantize_hybrid_input(const float* values, int64_t size, bool asymmetric, int8_t* quantized, float* scaling_factor, int32_t* offset);

// ---- quantization -----------------------------------------------------------------------------------
// TFLite's QuantizeMultiplier of `real`, which must be finite, non-negative and below 2^30 (the
// fixed-point code's range); an Error naming `what` otherwise.
qmath::Multiplier checked_multiplier(const OpContext& ctx, double real, const char* what);
// Per-output-channel multipliers input_scale * filter_scale[c] / output_scale of an int8 filter
// (constant, symmetric, per tensor or per channel along `axis`), as TFLite's
// PopulateConvolutionQuantizationParams computes them (in double).
std::vector<qmath::Multiplier> channel_multipliers(const OpContext& ctx, const Tensor& filter, int64_t channels, int32_t axis,
                                                   OpContext::QuantParams x, OpContext::QuantParams y);
// An int8 filter's static checks (Init): int8, constant, symmetric, one scale or one per channel of `axis`.
void check_int8_filter(const OpContext& ctx, const Tensor& filter, int32_t axis);
// The optional int32 bias of an int8 conv / fully connected op: `channels` values or nullptr.
const int32_t* int32_bias(const OpContext& ctx, int64_t channels);

}  // namespace litepipe::tfl
