#pragma once
// The kernel interface (TFLite Micro's TFLMRegistration and TfLiteContext, in litepipe's terms).
// A kernel is a registration with
// - Init, run once per operator at load, as part of the model check: the operator's input and
//   output counts, its options parsed into the kernel's OpData (TFLite's defaults when the
//   options are absent; values TFLite rejects, e.g. a stride of 0, are Errors), and the element
//   types (and quantization) it supports — all things the file fixes;
// - Prepare, run whenever input shapes change: shapes checked and output shapes computed,
//   multipliers and tables precomputed, scratch memory requested, and node.eval set to the Eval
//   for the tensors' types;
// - the Evals: lean, reading only what Prepare left in the OpData.
// Every kernel reaches its tensors through an OpContext, whose errors name the operator.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tflite/runtime/interpreter.h"
#include "tflite_subset_generated.h"

namespace litepipe::tfl {

class OpContext;

struct Kernel {
  const char* name;
  int max_version;
  std::unique_ptr<OpData> (*init)(OpContext&);
  void (*prepare)(OpContext&);
};

class OpContext {
 public:
  OpContext(Interpreter& interpreter, Node& node) : in_(interpreter), node_(node) {}

  Node& node() const { return node_; }
  const ::tflite::Operator& op() const { return *node_.op; }
  int version() const { return node_.version; }
  size_t input_count() const { return node_.inputs.size(); }
  size_t output_count() const { return node_.outputs.size(); }
  // Input / output i; an Error naming the operator when it is absent.
  Tensor& input(size_t i) const {
    if (i >= node_.inputs.size() || node_.inputs[i] < 0) fail("has no input {}", i);
    return in_.tensors_[static_cast<size_t>(node_.inputs[i])];
  }
  // Input i, or nullptr for an absent optional input.
  Tensor* optional_input(size_t i) const {
    return i < node_.inputs.size() && node_.inputs[i] >= 0 ? &in_.tensors_[static_cast<size_t>(node_.inputs[i])] : nullptr;
  }
  Tensor& output(size_t i = 0) const {
    if (i >= node_.outputs.size()) fail("has no output {}", i);
    return in_.tensors_[static_cast<size_t>(node_.outputs[i])];
  }
  template <typename T>
  T& data() const {
    return static_cast<T&>(*node_.data);
  }

  [[noreturn]] void fail(const std::string& message) const { in_.fail_node(node_, message); }
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    in_.fail_node(node_, fmt::format(format, std::forward<Args>(args)...));
  }

  // Init helpers: operand counts, types, quantization.
  void expect_counts(size_t min_inputs, size_t max_inputs, size_t outputs) const;
  void expect_type(const Tensor& t, DType want, const char* role) const;
  void expect_rank(const Tensor& t, size_t rank, const char* role) const;
  // Per-tensor int8 parameters of an activation tensor (one finite positive scale).
  struct QuantParams {
    float scale;
    int32_t zero_point;
  };
  QuantParams int8_params(const Tensor& t, const char* role) const;

  // Prepare helpers. The output's shape: an Error naming the operator when a dimension is
  // negative or the element count exceeds kMaxTensorElements.
  void set_output_shape(Tensor& t, const std::vector<int64_t>& dims) const;
  // Index of a scratch buffer of `bytes` bytes (64-byte aligned, valid during this node's Eval).
  size_t request_scratch(size_t bytes) const;
  // count * element_size as a byte count; an Error when it overflows.
  size_t scratch_bytes(int64_t count, size_t element_size, const char* what) const;
  template <typename T>
  T* scratch(size_t index) const {
    return reinterpret_cast<T*>(node_.scratch[index]);
  }

 private:
  Interpreter& in_;
  Node& node_;
};

// The kernel for a builtin operator code (op_resolver.cpp), or nullptr.
const Kernel* find_kernel(int builtin);

}  // namespace litepipe::tfl
