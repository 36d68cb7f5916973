#include "tflite/conversion/model_builder.h"

#include <algorithm>
#include <cstring>

namespace litepipe::tfl {

ModelBuilder::ModelBuilder() {
  model_.version = 3;
  model_.description = "litepipe: converted from ONNX";
  model_.buffers.push_back(std::make_unique<::tflite::BufferT>());  // sentinel
  model_.subgraphs.push_back(std::make_unique<::tflite::SubGraphT>());
  model_.subgraphs[0]->name = "main";
}

uint32_t ModelBuilder::add_buffer(const std::vector<uint8_t>& data) {
  auto b = std::make_unique<::tflite::BufferT>();
  b->data = data;
  model_.buffers.push_back(std::move(b));
  return static_cast<uint32_t>(model_.buffers.size() - 1);
}

int ModelBuilder::add_tensor(const std::string& name, const Shape& shape, ::tflite::TensorType type, const std::vector<uint8_t>* data) {
  auto t = std::make_unique<::tflite::TensorT>();
  t->name = name;
  t->type = type;
  bool dynamic = false;
  for (int64_t d : shape) {
    t->shape.push_back(d < 0 ? 1 : static_cast<int32_t>(d));
    dynamic |= d < 0;
  }
  if (dynamic) for (int64_t d : shape) t->shape_signature.push_back(static_cast<int32_t>(d));
  t->buffer = data ? add_buffer(*data) : 0;
  graph().tensors.push_back(std::move(t));
  return static_cast<int>(graph().tensors.size() - 1);
}

int ModelBuilder::add_const_float(const std::string& name, const std::vector<float>& values, const Shape& shape) {
  std::vector<uint8_t> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return add_tensor(name, shape, ::tflite::TensorType_FLOAT32, &bytes);
}

int ModelBuilder::add_const_int32(const std::string& name, const std::vector<int32_t>& values) {
  std::vector<uint8_t> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return add_tensor(name, {static_cast<int64_t>(values.size())}, ::tflite::TensorType_INT32, &bytes);
}

uint32_t ModelBuilder::opcode(::tflite::BuiltinOperator op, int version) {
  for (size_t i = 0; i < model_.operator_codes.size(); ++i) {
    if (model_.operator_codes[i]->builtin_code == op && model_.operator_codes[i]->version == version) return static_cast<uint32_t>(i);
  }
  auto c = std::make_unique<::tflite::OperatorCodeT>();
  c->builtin_code = op;
  c->deprecated_builtin_code = static_cast<int8_t>(std::min<int>(op, ::tflite::BuiltinOperator_PLACEHOLDER_FOR_GREATER_OP_CODES));
  c->version = version;
  model_.operator_codes.push_back(std::move(c));
  return static_cast<uint32_t>(model_.operator_codes.size() - 1);
}

size_t ModelBuilder::add_op(::tflite::BuiltinOperator op, int version, std::vector<int32_t> inputs, std::vector<int32_t> outputs,
                            ::tflite::BuiltinOptionsUnion options) {
  auto o = std::make_unique<::tflite::OperatorT>();
  o->opcode_index = opcode(op, version);
  o->inputs = std::move(inputs);
  o->outputs = std::move(outputs);
  o->builtin_options = std::move(options);
  graph().operators.push_back(std::move(o));
  return graph().operators.size() - 1;
}

}  // namespace litepipe::tfl
