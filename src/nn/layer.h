#pragma once
// Layers and the symbolic graph they form, after Keras: a layer is built once for its input
// shapes (without the batch dimension), then runs forward and backward on batches. Calling a
// layer on symbolic tensors (`Dense(64)(x)`) records a graph node; a Model runs the nodes.
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/tensor.h"
#include "onnx/graph_builder.h"

namespace litepipe::nn {

using Rng = std::mt19937_64;

struct Parameter {
  std::string name;  // e.g. "kernel", "bias"
  Tensor value;
  Tensor grad;  // same shape; written by backward()
  bool trainable = true;
};

class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  virtual std::string type() const = 0;
  // Keras-style configuration, for summaries and saved metadata.
  virtual nlohmann::json config() const { return nlohmann::json::object(); }

  // Validates the input shapes (no batch dimension), creates parameters, returns the output shape.
  virtual Shape build(const std::vector<Shape>& inputs, Rng& rng) = 0;
  virtual Tensor forward(const std::vector<Tensor>& inputs, bool training) = 0;
  // Gradient of the loss w.r.t. each input, given the gradient w.r.t. the output of the last
  // forward(training=true). Parameter gradients are written into Parameter::grad.
  virtual std::vector<Tensor> backward(const Tensor& grad_output) = 0;
  // Adds this layer's ONNX nodes computing `output` from `inputs`.
  virtual void to_onnx(onnxio::GraphBuilder& g, const std::vector<std::string>& inputs, const std::string& output) const = 0;

  // Builds on first call (LayerRef does this); a shared layer must see the same shapes again.
  Shape build_once(const std::vector<Shape>& inputs, Rng& rng);
  bool built() const { return built_; }

  // Whether backward() must compute the gradient w.r.t. the inputs. The Model turns it off where
  // nothing trainable lies upstream (e.g. the first layer after an Input): a convolution then
  // skips its backward-data pass, a third of a small CNN's step.
  void set_input_gradient_needed(bool needed) { input_gradient_needed_ = needed; }
  bool input_gradient_needed() const { return input_gradient_needed_; }

  // True when the layer's output is a softmax. With backward_from_logits set, backward() takes
  // the gradient w.r.t. the softmax's input (the loss fused it) and skips the softmax.
  virtual bool ends_with_softmax() const { return false; }
  virtual void set_backward_from_logits(bool) {}

  // A ReLU output consumed only by a max pooling: the pool's backward passes gradient only to
  // window maxima above zero, which is the ReLU's own mask, so the producer skips its pass over
  // the gradient. The Model pairs them (relu_masked_by_consumer on the producer,
  // masks_relu_gradient on the pool) before each training forward of its graph.
  virtual bool ends_with_relu() const { return false; }
  virtual void set_relu_masked_by_consumer(bool) {}
  virtual bool can_mask_relu_gradient() const { return false; }
  virtual void set_masks_relu_gradient(bool) {}

  // Data-parallel training, or a batch computed in several passes: the next forwards(training=true)
  // compute, in order, the rows at `positions` (ascending) of a global batch of `rows` rows; no
  // forward follows when there are none. A layer that draws random numbers per element (Dropout)
  // skips the draws of the other rows, so its masks are those of one pass over the whole batch.
  virtual void set_batch_rows(const std::vector<int64_t>& /*positions*/, int64_t /*rows*/) {}
  // Whether a training forward's output rows depend on other rows of its batch (BatchNormalization's
  // batch statistics): such a model cannot split a batch into passes (FitOptions::rows_per_pass).
  virtual bool training_mixes_rows() const { return false; }

  std::vector<Parameter>& parameters() { return params_; }
  const std::vector<Parameter>& parameters() const { return params_; }
  Parameter& param(const std::string& name);
  const Parameter& param(const std::string& name) const;

 protected:
  Parameter& add_param(const std::string& name, Shape shape, bool trainable = true);

 private:
  std::string name_;
  std::vector<Parameter> params_;
  bool built_ = false;
  bool input_gradient_needed_ = true;
  std::vector<Shape> built_inputs_;
  Shape built_output_;
};

// The process-wide generator that initializes weights and dropout masks, as
// tf.keras.utils.set_random_seed: the same seed gives the same weights, bit for bit.
void set_random_seed(uint64_t seed);
Rng& global_rng();

// A symbolic tensor: the output of a layer applied to other symbolic tensors.
struct Node {
  std::shared_ptr<Layer> layer;  // null for an Input
  std::vector<std::shared_ptr<Node>> inputs;
  Shape shape;       // without batch
  std::string name;  // Input name, or the layer's name
};
using NodeRef = std::shared_ptr<Node>;

// Keras's Input(shape=..., name=...).
NodeRef Input(Shape shape, std::string name = "input");

// A layer handle that can be called on symbolic tensors: `auto y = Dense(10)(x);`.
class LayerRef {
 public:
  LayerRef(std::shared_ptr<Layer> layer) : layer_(std::move(layer)) {}
  NodeRef operator()(const NodeRef& input) const { return (*this)(std::vector<NodeRef>{input}); }
  NodeRef operator()(const std::vector<NodeRef>& inputs) const;
  Layer* operator->() const { return layer_.get(); }
  const std::shared_ptr<Layer>& get() const { return layer_; }

 private:
  std::shared_ptr<Layer> layer_;
};

// Layers get a unique default name ("dense", "dense_1", ...), as in Keras.
std::string default_layer_name(const std::string& base);
void reset_layer_names();

}  // namespace litepipe::nn
