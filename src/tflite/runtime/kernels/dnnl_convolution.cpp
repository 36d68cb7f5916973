#include "tflite/runtime/kernels/dnnl_convolution.h"

#include <algorithm>
#include <unordered_map>

#include "nn/dnnl_util.h"
#include "tflite/runtime/kernels/gemm.h"

namespace litepipe::tfl {

DnnlWindow dnnl_window(const ConvGeometry& g) {
  const int64_t pad_bottom = std::max<int64_t>((g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1 - g.ih - g.ph, 0);
  const int64_t pad_right = std::max<int64_t>((g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1 - g.iw - g.pw, 0);
  return {{g.sh, g.sw}, {g.dh - 1, g.dw - 1}, {g.ph, g.pw}, {pad_bottom, pad_right}};
}

dnnl::memory::desc dnnl_input_desc(const ConvGeometry& g, dnnl::memory::data_type type) {
  return dnnl::memory::desc({g.batch, g.ic, g.ih, g.iw}, type, dnnl::memory::format_tag::nhwc);
}
dnnl::memory::desc dnnl_output_desc(const ConvGeometry& g, dnnl::memory::data_type type) {
  return dnnl::memory::desc({g.batch, g.oc, g.oh, g.ow}, type, dnnl::memory::format_tag::nhwc);
}

void FloatConvolution::plan(const ConvGeometry& g, const dnnl::memory::desc& user_filter, const dnnl::memory::dims& weights_dims,
                            int64_t filter_values_per_output, bool has_bias, const Tensor& filter) {
  using namespace dnnl;
  work = g.batch * g.oh * g.ow * g.oc * filter_values_per_output;
  src = dnnl_input_desc(g, memory::data_type::f32);
  dst = dnnl_output_desc(g, memory::data_type::f32);
  user_weights = user_filter;
  bias = memory::desc({g.oc}, memory::data_type::f32, memory::format_tag::a);
  const memory::desc any_weights(weights_dims, memory::data_type::f32, memory::format_tag::any);
  const DnnlWindow w = dnnl_window(g);
  auto desc = has_bias ? convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src, any_weights, bias, dst, w.strides,
                                                   w.dilation, w.pad_begin, w.pad_end)
                       : convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src, any_weights, dst, w.strides,
                                                   w.dilation, w.pad_begin, w.pad_end);
  // oneDNN fixes a primitive's thread count when it is created: created under run()'s limit.
  ThreadLimit limit(single_thread());
  convolution_forward::primitive_desc pd(desc, nn::cpu_engine());
  conv = convolution_forward(pd);
  packed_weights = memory(pd.weights_desc(), nn::cpu_engine());
  if (filter.constant) {
    memory user(user_weights, nn::cpu_engine(), filter.data);
    reorder(user, packed_weights).execute(nn::cpu_stream(), user, packed_weights);
    nn::cpu_stream().wait();
  }
}

void FloatConvolution::run(const Tensor& x, const Tensor& filter, const Tensor* b, Tensor& y) {
  if (!filter.constant) {
    dnnl::memory user(user_weights, nn::cpu_engine(), filter.data);
    dnnl::reorder(user, packed_weights).execute(nn::cpu_stream(), user, packed_weights);
  }
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, dnnl::memory(src, nn::cpu_engine(), x.data)},
                                                {DNNL_ARG_WEIGHTS, packed_weights},
                                                {DNNL_ARG_DST, dnnl::memory(dst, nn::cpu_engine(), y.data)}};
  if (b) args[DNNL_ARG_BIAS] = dnnl::memory(bias, nn::cpu_engine(), b->data);
  ThreadLimit limit(single_thread());
  conv->execute(nn::cpu_stream(), args);
  nn::cpu_stream().wait();
}

}  // namespace litepipe::tfl
