#pragma once
// The execution shared by layers with a kernel and an optional bias (Dense on inner product,
// Conv2D on convolution): one oneDNN forward primitive, and backward-data + backward-weights.
#include <unordered_map>

#include "nn/dnnl_util.h"
#include "nn/layer.h"

namespace litepipe::nn {

struct WeightedDescs {
  dnnl::memory::desc src, weights, bias, dst;
};

// z = forward(x; kernel, bias)
inline void run_weighted_forward(const dnnl::primitive& fwd, const WeightedDescs& d, const Tensor& x, const Parameter& kernel,
                                 const Parameter* bias, Tensor& z) {
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, mem(d.src, x)}, {DNNL_ARG_WEIGHTS, mem(d.weights, kernel.value)}, {DNNL_ARG_DST, mem(d.dst, z)}};
  if (bias) args[DNNL_ARG_BIAS] = mem(d.bias, bias->value);
  fwd.execute(cpu_stream(), args);
  cpu_stream().wait();
}

// dx from dz; kernel.grad and bias->grad from x and dz.
// An empty `dx` skips the backward-data pass (no one needs the input's gradient).
inline void run_weighted_backward(const dnnl::primitive& bwd_data, const dnnl::primitive& bwd_weights, const WeightedDescs& d,
                                  const Tensor& x, const Tensor& dz, Parameter& kernel, Parameter* bias, Tensor& dx) {
  if (!dx.empty()) {
    bwd_data.execute(cpu_stream(), {{DNNL_ARG_DIFF_DST, mem(d.dst, dz)},
                                    {DNNL_ARG_WEIGHTS, mem(d.weights, kernel.value)},
                                    {DNNL_ARG_DIFF_SRC, mem(d.src, dx)}});
  }
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, mem(d.src, x)}, {DNNL_ARG_DIFF_DST, mem(d.dst, dz)}, {DNNL_ARG_DIFF_WEIGHTS, mem(d.weights, kernel.grad)}};
  if (bias) args[DNNL_ARG_DIFF_BIAS] = mem(d.bias, bias->grad);
  bwd_weights.execute(cpu_stream(), args);
  cpu_stream().wait();
}

}  // namespace litepipe::nn
