#pragma once
// oneDNN convolutions shared by CONV_2D and DEPTHWISE_CONV_2D: the window as oneDNN describes it,
// and the float32 convolution on NHWC tensors (plain or grouped filter), packed once when the
// filter is constant.
#include <oneapi/dnnl/dnnl.hpp>

#include <optional>

#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/tensor.h"

namespace litepipe::tfl {

// Strides, dilations (oneDNN counts them from 0) and padding of a convolution's geometry; the
// trailing padding is what the last window needs past the input, as TFLite's SAME computes it.
struct DnnlWindow {
  dnnl::memory::dims strides, dilation, pad_begin, pad_end;
};
DnnlWindow dnnl_window(const ConvGeometry& g);

// NHWC activations of the geometry's input and output, of `type`.
dnnl::memory::desc dnnl_input_desc(const ConvGeometry& g, dnnl::memory::data_type type);
dnnl::memory::desc dnnl_output_desc(const ConvGeometry& g, dnnl::memory::data_type type);

struct FloatConvolution {
  dnnl::memory::desc src, bias, dst, user_weights;
  std::optional<dnnl::convolution_forward> conv;
  dnnl::memory packed_weights;
  int64_t work = 0;  // multiply-adds per run: small ones run on one thread

  // `user_weights` describes the filter as the model stores it; `weights_dims` are oneDNN's
  // logical dims for it (e.g. {groups, out, in, kh, kw}), whose layout oneDNN then chooses.
  // `filter_values_per_output` is kh * kw * (input channels per group).
  void plan(const ConvGeometry& g, const dnnl::memory::desc& user_filter, const dnnl::memory::dims& weights_dims, int64_t filter_values_per_output,
            bool has_bias, const Tensor& filter);
  // y = conv(x, filter) + bias; a filter computed at run time (DEQUANTIZE'd float16) is packed first.
  void run(const Tensor& x, const Tensor& filter, const Tensor* bias, Tensor& y);
  bool single_thread() const { return work < (int64_t{1} << 23); }
};

}  // namespace litepipe::tfl
