#pragma once
// The ONNX runner's kernel interface, shaped as the TFLite runtime's (tflite/runtime/kernel.h).
// A kernel is a registration with
// - prepare, run once per node when the model is loaded: the attributes parsed into the kernel's
//   typed OpData (ONNX's defaults when absent) and checked against hostile files, constant inputs
//   read and precomputed (Reshape targets, BatchNormalization's folded scale, Resize's scales) —
//   everything the file fixes;
// - eval, run on every call: reads only its OpData and its input values, checks what depends on
//   the fed shapes with integer comparisons, and writes its output into the call's Frame. Strings
//   are formatted only when failing.
// Errors name the model file, the node and what was expected.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include "core/error.h"
#include "nn/tensor.h"

namespace litepipe::onnxio::runtime {

using nn::Shape;
using nn::Tensor;

// What a kernel keeps for one node: its attributes (parsed at load) and what prepare precomputed.
// Read-only while the model runs: calls on several threads share it.
struct OpData {
  virtual ~OpData() = default;
};

// What a kernel keeps for one node within one Frame (so per calling thread): buffers and oneDNN
// handles reused from call to call.
struct NodeScratch {
  virtual ~NodeScratch() = default;
};

// Scratch of a kernel that computes an output shape of any rank (reused, not reallocated).
struct DimsScratch : NodeScratch {
  Shape dims;
};

struct Node;
class Frame;
class PrepareContext;

using EvalFn = void (*)(const Node&, Frame&);

struct Kernel {
  const char* op_type;
  int min_inputs;  // the fewest present inputs (eval reads them without asking again)
  std::unique_ptr<OpData> (*prepare)(PrepareContext&);
  EvalFn eval;
  // The output may share input 0's buffer (Identity, Reshape, Flatten): the runner then keeps
  // input 0's buffer out of reuse wherever the output leaves the call.
  bool aliases_input = false;
};

// One node as resolved at load.
struct Node {
  const Kernel* kernel = nullptr;
  std::vector<int> inputs;  // value slots; -1: an omitted optional input
  int output = -1;
  size_t index = 0;
  std::string where;  // "<model>: node 'x' (Op)", for errors
  std::unique_ptr<OpData> data;

  template <typename T>
  const T& op_data() const {
    return static_cast<const T&>(*data);
  }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] >= 0; }
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw Error(where + ": " + fmt::format(format, std::forward<Args>(args)...));
  }
};

// A node's view of the model while it is prepared at load.
class PrepareContext {
 public:
  PrepareContext(const onnx::NodeProto& proto, const Node& node, const std::vector<const Tensor*>& constants)
      : proto_(proto), node_(node), constants_(constants) {}

  const onnx::NodeProto& proto() const { return proto_; }
  const Node& node() const { return node_; }
  const onnx::AttributeProto* attr(const std::string& name) const;
  int64_t attr_int(const std::string& name, int64_t def) const;
  float attr_float(const std::string& name, float def) const;
  std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> def = {}) const;
  std::string attr_string(const std::string& name, const std::string& def) const;
  bool has_input(size_t i) const { return node_.has_input(i); }
  // Input i when it is an initializer (fixed by the file), else nullptr.
  const Tensor* constant_input(size_t i) const;

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    node_.fail(format, std::forward<Args>(args)...);
  }

 private:
  const onnx::NodeProto& proto_;
  const Node& node_;
  const std::vector<const Tensor*>& constants_;  // per value slot, nullptr when not constant
};

// The values of one call: a slot per value (constants set once, inputs fed each call, node
// outputs written by their kernels) and each node's scratch. A Frame serves one call at a time;
// the runner keeps idle Frames for the next calls, so buffers are allocated once per shape.
class Frame {
 public:
  Frame(std::vector<Tensor> initial_values, const std::vector<char>& reusable, size_t node_count)
      : values_(std::move(initial_values)), reusable_(reusable), scratch_(node_count) {}

  const Tensor& input(const Node& node, size_t i) const { return values_[static_cast<size_t>(node.inputs[i])]; }
  Tensor& value(int slot) { return values_[static_cast<size_t>(slot)]; }

  // The node's output buffer with shape `dims`: last call's buffer when it has that shape and
  // does not leave the call, else a new one. Its contents are undefined: kernels write every value.
  Tensor& output(const Node& node, std::span<const int64_t> dims);
  // The output as a view of `source`'s buffer (Reshape, Flatten), or `source` itself.
  void set_output_view(const Node& node, const Tensor& source, std::span<const int64_t> dims);
  void set_output(const Node& node, const Tensor& value) { values_[static_cast<size_t>(node.output)] = value; }

  // The node's scratch of type S, made on first use.
  template <typename S>
  S& scratch(const Node& node) {
    auto& s = scratch_[node.index];
    if (!s) s = std::make_unique<S>();
    return static_cast<S&>(*s);
  }

 private:
  std::vector<Tensor> values_;
  const std::vector<char>& reusable_;  // per slot: its buffer never leaves a call
  std::vector<std::unique_ptr<NodeScratch>> scratch_;
};

// Dims as text for error messages.
std::string dims_string(std::span<const int64_t> dims);

}  // namespace litepipe::onnxio::runtime
