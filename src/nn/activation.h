#pragma once
// Activation functions on oneDNN: eltwise (relu, relu6 = clip(0, 6), logistic, tanh) and softmax
// over the last axis, forward and backward, with primitives cached per tensor size.
#include <map>
#include <string>

#include <oneapi/dnnl/dnnl.hpp>

#include "nn/layers.h"
#include "onnx/graph_builder.h"

namespace litepipe::nn {

// The backward of a Relu or Relu6 from its output y, for one that a convolution applied as a
// post-op: dy where 0 < y (< 6 for Relu6), else 0, as TensorFlow's ReluGrad and Relu6Grad.
Tensor relu_backward_from_output(const Tensor& dy, const Tensor& y, Activation relu);
// The attribute that makes a forward primitive apply a Relu or Relu6 to its output (a post-op: no
// pass of its own over the output); an empty one for Linear.
dnnl::primitive_attr relu_post_op(Activation relu);

class ActivationKernel {
 public:
  explicit ActivationKernel(Activation activation) : activation_(activation) {}
  Activation activation() const { return activation_; }
  void set_backward_from_logits(bool on) { backward_from_logits_ = on && activation_ == Activation::Softmax; }
  // In training mode the input and output are kept for backward().
  Tensor forward(const Tensor& x, bool training);
  Tensor backward(const Tensor& dy);
  // ONNX node(s) applying the activation to `input`, writing `output`.
  void to_onnx(onnxio::GraphBuilder& g, const std::string& input, const std::string& output) const;

 private:
  struct Eltwise {
    dnnl::eltwise_forward::primitive_desc fwd_pd;
    dnnl::eltwise_forward fwd;
    dnnl::eltwise_backward bwd;
  };
  struct Softmax {
    dnnl::softmax_forward::primitive_desc fwd_pd;
    dnnl::softmax_forward fwd;
    dnnl::softmax_backward bwd;
  };
  Eltwise& eltwise(int64_t n);
  Softmax& softmax(int64_t rows, int64_t cols);

  Activation activation_;
  bool backward_from_logits_ = false;
  Tensor x_, y_;
  std::map<int64_t, Eltwise> eltwise_;
  std::map<std::pair<int64_t, int64_t>, Softmax> softmax_;
};

}  // namespace litepipe::nn
