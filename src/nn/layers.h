#pragma once
// The Keras layers litepipe trains with. Factories return callable handles:
//   auto x = Input({784}, "image_floats");
//   x = Dense(64, {.activation = "relu"})(x);
#include <optional>
#include <string>
#include <vector>

#include "nn/layer.h"

namespace litepipe::nn {

// Activation by Keras name: "linear" (none), "relu", "relu6", "sigmoid", "tanh", "softmax",
// "hard_swish" (x * relu6(x + 3) / 6, MobileNetV3), "swish" (alias "silu": x * sigmoid(x)),
// "gelu" (the tanh approximation, Keras's gelu(approximate=True)).
enum class Activation { Linear, Relu, Relu6, Sigmoid, Tanh, Softmax, HardSwish, Swish, Gelu };
Activation parse_activation(const std::string& name);
std::string activation_name(Activation a);

struct DenseOptions {
  std::string activation = "linear";
  bool use_bias = true;
  std::string name = {};
};
LayerRef Dense(int64_t units, const DenseOptions& options = {});

struct Conv2DOptions {
  std::vector<int64_t> strides = {1, 1};
  std::string padding = "valid";  // valid | same
  std::string activation = "linear";
  bool use_bias = true;
  std::string name = {};
};
LayerRef Conv2D(int64_t filters, std::vector<int64_t> kernel_size, const Conv2DOptions& options = {});
struct DepthwiseConv2DOptions {
  int64_t depth_multiplier = 1;
  std::vector<int64_t> strides = {1, 1};
  std::string padding = "valid";  // valid | same
  std::string activation = "linear";
  bool use_bias = true;
  std::string name = {};
};
// Keras's DepthwiseConv2D: each input channel convolved on its own (kernel [kh, kw, in, multiplier]).
LayerRef DepthwiseConv2D(std::vector<int64_t> kernel_size, const DepthwiseConv2DOptions& options = {});
struct SeparableConv2DOptions {
  std::vector<int64_t> strides = {1, 1};
  std::string padding = "valid";  // valid | same
  int64_t depth_multiplier = 1;
  std::string activation = "linear";
  bool use_bias = true;
  std::string name = {};
};
// Keras's SeparableConv2D: a depthwise convolution (depthwise_kernel [kh, kw, in, multiplier], no
// bias) then a pointwise 1x1 one (pointwise_kernel [1, 1, in * multiplier, filters], bias).
LayerRef SeparableConv2D(int64_t filters, std::vector<int64_t> kernel_size, const SeparableConv2DOptions& options = {});

struct Conv1DOptions {
  int64_t strides = 1;
  std::string padding = "valid";  // valid | same ('causal' is not supported)
  std::string activation = "linear";
  bool use_bias = true;
  std::string name = {};
};
// Keras's Conv1D on [steps, channels] (kernel [kernel_size, in, filters]): computed, exported and
// converted as a Conv2D on a [1, steps, channels] image, as TensorFlow does.
LayerRef Conv1D(int64_t filters, int64_t kernel_size, const Conv1DOptions& options = {});

struct PoolOptions {
  std::vector<int64_t> strides = {};  // default: pool_size
  std::string padding = "valid";
  std::string name = {};
};
LayerRef MaxPooling2D(std::vector<int64_t> pool_size = {2, 2}, const PoolOptions& options = {});
LayerRef AveragePooling2D(std::vector<int64_t> pool_size = {2, 2}, const PoolOptions& options = {});
LayerRef GlobalAveragePooling2D(std::string name = {});
struct Pool1DOptions {
  int64_t strides = 0;  // 0: pool_size
  std::string padding = "valid";
  std::string name = {};
};
// Keras's MaxPooling1D / AveragePooling1D on [steps, channels] (as their 2-D forms on [1, steps, channels]).
LayerRef MaxPooling1D(int64_t pool_size = 2, const Pool1DOptions& options = {});
LayerRef AveragePooling1D(int64_t pool_size = 2, const Pool1DOptions& options = {});
// Keras's GlobalMaxPooling2D: [height, width, channels] -> [channels], the maximum of each channel.
LayerRef GlobalMaxPooling2D(std::string name = {});
// Keras's ZeroPadding2D on [height, width, channels]: `padding` is one value (every side),
// {rows, cols} (Keras's symmetric (rows, cols)) or {top, bottom, left, right} (Keras's
// ((top, bottom), (left, right))).
LayerRef ZeroPadding2D(std::vector<int64_t> padding = {1, 1}, std::string name = {});
// Keras's UpSampling2D(size, interpolation="nearest"): each pixel repeated size[0] x size[1] times
// (ONNX Resize, TFLite RESIZE_NEAREST_NEIGHBOR).
LayerRef UpSampling2D(std::vector<int64_t> size = {2, 2}, const std::string& interpolation = "nearest", std::string name = {});

LayerRef Flatten(std::string name = {});
LayerRef Reshape(Shape target_shape, std::string name = {});
LayerRef Dropout(float rate, std::string name = {});
LayerRef ActivationLayer(const std::string& activation, std::string name = {});
LayerRef Rescaling(float scale, float offset = 0.0f, std::string name = {});
LayerRef Add(std::string name = {});
// Keras's Multiply: the element-wise product of two or more inputs of one shape.
LayerRef Multiply(std::string name = {});
// Keras's Concatenate (axis -1): `Concatenate()({a, b, c})`.
LayerRef Concatenate(std::string name = {});
// Keras's Embedding(input_dim, output_dim): ids [steps] (whole numbers in [0, input_dim)) become
// vectors [steps, output_dim]; exported as ONNX Gather.
LayerRef Embedding(int64_t input_dim, int64_t output_dim, std::string name = {});
// Keras's GlobalAveragePooling1D: [steps, features] -> [features], the mean over the steps.
LayerRef GlobalAveragePooling1D(std::string name = {});
// Keras's GlobalMaxPooling1D: [steps, features] -> [features], the maximum over the steps
// (ONNX ReduceMax, TFLite REDUCE_MAX).
LayerRef GlobalMaxPooling1D(std::string name = {});
// Keras's CategoryEncoding(num_tokens, output_mode="one_hot"): an integer id (shape [1]) becomes a
// one-hot row of num_tokens (an id outside [0, num_tokens) gives zeros).
LayerRef CategoryEncoding(int64_t num_tokens, std::string name = {});
// Keras's Normalization with known statistics (one value, or one per feature of the last axis).
LayerRef Normalization(std::vector<float> mean, std::vector<float> variance, std::string name = {});

struct BatchNormOptions {
  float momentum = 0.99f;
  float epsilon = 1e-3f;
  std::string name = {};
};
LayerRef BatchNormalization(const BatchNormOptions& options = {});

// Keras's LayerNormalization: each example normalized over its last axis by its own mean and
// variance, then gamma * x + beta (gamma [features] ones, beta [features] zeros). Exported to
// ONNX (opset 13) as ReduceMean / Sub / Mul / Sqrt / Div; TFLite MEAN, SUB, MUL, ADD, RSQRT.
struct LayerNormOptions {
  int64_t axis = -1;  // the last axis only
  float epsilon = 1e-3f;
  bool center = true;  // learn beta
  bool scale = true;   // learn gamma
  std::string name = {};
};
LayerRef LayerNormalization(const LayerNormOptions& options = {});

}  // namespace litepipe::nn
