#pragma once
// One oneDNN CPU engine and stream for the process, and memory descriptors for our plain layouts.
#include <oneapi/dnnl/dnnl.hpp>

#include "nn/tensor.h"

namespace litepipe::nn {

dnnl::engine& cpu_engine();
dnnl::stream& cpu_stream();

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

inline dnnl::memory::dims dims_of(const Shape& s) { return dnnl::memory::dims(s.begin(), s.end()); }
// NHWC activations are described to oneDNN in its logical NCHW order with the nhwc tag.
inline dnnl::memory::desc nhwc_desc(int64_t n, int64_t h, int64_t w, int64_t c) {
  return dnnl::memory::desc({n, c, h, w}, dt::f32, tag::nhwc);
}
inline dnnl::memory::desc plain_desc(const Shape& s) {
  static const tag tags[] = {tag::undef, tag::a, tag::ab, tag::abc, tag::abcd, tag::abcde};
  return dnnl::memory::desc(dims_of(s), dt::f32, tags[s.size()]);
}
inline dnnl::memory mem(const dnnl::memory::desc& d, const Tensor& t) {
  return dnnl::memory(d, cpu_engine(), const_cast<float*>(t.data()));
}

}  // namespace litepipe::nn
