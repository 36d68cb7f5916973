#pragma once
// Helpers shared by the interpreter's kernel files: tensor access with errors naming the operator,
// type and rank checks, TFLite's padding arithmetic and convolution geometry.
#include <algorithm>
#include <cstdint>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tflite/interpreter.h"
#include "tflite_subset_generated.h"

namespace litepipe::tfl {

inline Tensor& input(Interpreter& in, Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i] < 0) in.fail_node(n, fmt::format("missing input {}", i));
  return in.tensor(n.inputs[i]);
}
inline Tensor* optional_input(Interpreter& in, Node& n, size_t i) {
  return i < n.inputs.size() && n.inputs[i] >= 0 ? &in.tensor(n.inputs[i]) : nullptr;
}
inline Tensor& output(Interpreter& in, Node& n, size_t i = 0) { return in.tensor(n.outputs.at(i)); }

inline void expect_type(Interpreter& in, Node& n, const Tensor& t, DType want, const char* role) {
  if (t.type != want) in.fail_node(n, fmt::format("{} '{}' is {}, expected {}", role, t.name, dtype_name(t.type), dtype_name(want)));
}
inline void expect_rank(Interpreter& in, Node& n, const Tensor& t, size_t rank, const char* role) {
  if (t.shape.size() != rank) in.fail_node(n, fmt::format("{} '{}' has rank {}, expected {}", role, t.name, t.shape.size(), rank));
}

// TFLite's padding: output size and the leading pad of one spatial dimension.
inline void window(int32_t in, int32_t filter, int32_t stride, int32_t dilation, ::tflite::Padding padding, int32_t* out, int32_t* pad) {
  int32_t eff = (filter - 1) * dilation + 1;
  *out = padding == ::tflite::Padding_SAME ? (in + stride - 1) / stride : (in - eff + stride) / stride;
  *pad = std::max((*out - 1) * stride + eff - in, 0) / 2;
}

// NumPy broadcasting of two operand shapes.
inline std::vector<int32_t> broadcast_shape(Interpreter& in, Node& n, const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t r = std::max(a.size(), b.size());
  std::vector<int32_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    int32_t da = i < r - a.size() ? 1 : a[i - (r - a.size())], db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) in.fail_node(n, fmt::format("shapes [{}] and [{}] do not broadcast", fmt::join(a, ","), fmt::join(b, ",")));
    out[i] = std::max(da, db);
  }
  return out;
}

// The axes a reduction (MEAN) collapses, from its constant int32 axes input, and its output
// shape (collapsed axes kept as 1 with keep_dims).
struct Reduction {
  std::vector<bool> reduce;  // per input axis
  std::vector<int32_t> output_shape;
  int64_t count = 1;  // input values per output value
};
inline Reduction reduction(Interpreter& in, Node& n, const Tensor& x, const Tensor& axes) {
  expect_type(in, n, axes, DType::Int32, "axes");
  Reduction r;
  r.reduce.assign(x.shape.size(), false);
  for (int64_t i = 0; i < axes.elements(); ++i) {
    int32_t a = axes.as<int32_t>()[i];
    if (a < 0) a += static_cast<int32_t>(x.shape.size());
    if (a < 0 || a >= static_cast<int32_t>(x.shape.size())) in.fail_node(n, fmt::format("axis {} out of range", axes.as<int32_t>()[i]));
    r.reduce[static_cast<size_t>(a)] = true;
  }
  const bool keep = n.op->builtin_options_as_ReducerOptions() && n.op->builtin_options_as_ReducerOptions()->keep_dims();
  for (size_t d = 0; d < x.shape.size(); ++d) {
    if (r.reduce[d]) r.count *= x.shape[d];
    if (!r.reduce[d]) r.output_shape.push_back(x.shape[d]);
    else if (keep) r.output_shape.push_back(1);
  }
  return r;
}
// sums[output index] += x[i] over the collapsed axes.
template <typename In, typename Sum>
void reduce_sum(const std::vector<int32_t>& shape, const std::vector<bool>& reduce, const In* x, Sum* sums) {
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
  for (int64_t i = 0; i < total; ++i) {
    int64_t o = 0;
    for (size_t d = 0; d < rank; ++d) o += index[d] * out_stride[d];
    sums[o] += x[i];
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

struct ConvGeometry {
  int32_t batch, ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw, ph, pw;
};
// Shapes, strides and padding of a CONV_2D (filter OHWI) or DEPTHWISE_CONV_2D (filter 1HWO);
// element types are checked by the caller.
inline ConvGeometry conv_geometry(Interpreter& in, Node& n, bool depthwise) {
  Tensor& x = input(in, n, 0);
  Tensor& f = input(in, n, 1);
  expect_rank(in, n, x, 4, "input");
  expect_rank(in, n, f, 4, "filter");
  ConvGeometry g{};
  ::tflite::Padding padding;
  if (depthwise) {
    auto* o = n.op->builtin_options_as_DepthwiseConv2DOptions();
    if (!o) in.fail_node(n, "has no DepthwiseConv2DOptions");
    g.sh = o->stride_h(); g.sw = o->stride_w(); g.dh = o->dilation_h_factor(); g.dw = o->dilation_w_factor();
    padding = o->padding();
  } else {
    auto* o = n.op->builtin_options_as_Conv2DOptions();
    if (!o) in.fail_node(n, "has no Conv2DOptions");
    g.sh = o->stride_h(); g.sw = o->stride_w(); g.dh = o->dilation_h_factor(); g.dw = o->dilation_w_factor();
    padding = o->padding();
  }
  g.batch = x.shape[0]; g.ih = x.shape[1]; g.iw = x.shape[2]; g.ic = x.shape[3];
  g.kh = f.shape[1]; g.kw = f.shape[2];
  g.oc = depthwise ? f.shape[3] : f.shape[0];
  if (!depthwise && f.shape[3] != g.ic) in.fail_node(n, fmt::format("filter depth {} differs from input channels {}", f.shape[3], g.ic));
  if (depthwise && g.oc % g.ic != 0) in.fail_node(n, "depthwise output channels are not a multiple of input channels");
  window(g.ih, g.kh, g.sh, g.dh, padding, &g.oh, &g.ph);
  window(g.iw, g.kw, g.sw, g.dw, padding, &g.ow, &g.pw);
  if (g.oh <= 0 || g.ow <= 0) in.fail_node(n, "filter is larger than the input");
  return g;
}

}  // namespace litepipe::tfl
