#pragma once
// Building a single-subgraph TensorFlow Lite model with the flatbuffers object API: buffers,
// tensors (a dynamic batch as shape_signature -1), constants, operator codes and operators. The
// converter's lowerings and its graph passes both write through it.
#include <cstdint>
#include <string>
#include <vector>

#include "tflite_subset_generated.h"

namespace litepipe::tfl {

using Shape = std::vector<int64_t>;  // TFLite (NHWC) order; -1 = dynamic batch

class ModelBuilder {
 public:
  // An empty model: version 3, the sentinel buffer 0, one subgraph "main".
  ModelBuilder();

  ::tflite::ModelT& model() { return model_; }
  ::tflite::SubGraphT& graph() { return *model_.subgraphs[0]; }

  uint32_t add_buffer(const std::vector<uint8_t>& data);
  // A tensor; with `data` a constant (a new buffer). Dimensions of -1 become 1 in the shape and
  // stay -1 in shape_signature.
  int add_tensor(const std::string& name, const Shape& shape, ::tflite::TensorType type, const std::vector<uint8_t>* data = nullptr);
  int add_const_float(const std::string& name, const std::vector<float>& values, const Shape& shape);
  int add_const_int32(const std::string& name, const std::vector<int32_t>& values);
  // The index of the operator code (op, version), added when new.
  uint32_t opcode(::tflite::BuiltinOperator op, int version);
  // Appends an operator; returns its index.
  size_t add_op(::tflite::BuiltinOperator op, int version, std::vector<int32_t> inputs, std::vector<int32_t> outputs,
                ::tflite::BuiltinOptionsUnion options = {});
  ::tflite::BuiltinOperator builtin(const ::tflite::OperatorT& op) const { return model_.operator_codes[op.opcode_index]->builtin_code; }

  template <typename T>
  static ::tflite::BuiltinOptionsUnion options(T value) {
    ::tflite::BuiltinOptionsUnion u;
    u.Set(std::move(value));
    return u;
  }

 private:
  ::tflite::ModelT model_;
};

}  // namespace litepipe::tfl
