#include "tflite/interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"
#include "tflite_subset_generated.h"

namespace litepipe::tfl {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float16: return "float16";
    case DType::Int32: return "int32";
    case DType::UInt8: return "uint8";
    case DType::Int64: return "int64";
    case DType::String: return "string";
    case DType::Bool: return "bool";
    case DType::Int16: return "int16";
    case DType::Int8: return "int8";
  }
  return "unknown";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: case DType::Int32: return 4;
    case DType::Float16: case DType::Int16: return 2;
    case DType::Int64: return 8;
    default: return 1;
  }
}

int64_t Tensor::elements() const {
  int64_t n = 1;
  for (int32_t d : shape) n *= d;
  return n;
}

std::unique_ptr<Interpreter> Interpreter::from_file(const std::filesystem::path& path) {
  return std::make_unique<Interpreter>(read_file(path), path.string());
}

Interpreter::Interpreter(std::string model_bytes, std::string origin) : bytes_(std::move(model_bytes)), origin_(std::move(origin)) {
  auto* data = reinterpret_cast<const uint8_t*>(bytes_.data());
  if (bytes_.size() < 8 || !::tflite::ModelBufferHasIdentifier(data)) {
    fail("{}: not a TensorFlow Lite model (no TFL3 file identifier)", origin_);
  }
  // The whole file, as TFLite's FlatBufferModel::VerifyAndBuildFromAllocation does: bytes after
  // the flatbuffer (TFLite Support's associated files, a zip archive) are outside every offset.
  flatbuffers::Verifier verifier(data, bytes_.size());
  if (!::tflite::VerifyModelBuffer(verifier)) fail("{}: corrupt TensorFlow Lite flatbuffer (verification failed)", origin_);
  model_ = ::tflite::GetModel(data);
  if (!model_->subgraphs() || model_->subgraphs()->size() == 0) fail("{}: model has no subgraph", origin_);
  if (model_->subgraphs()->size() > 1) fail("{}: model has {} subgraphs; litepipe runs single-subgraph models", origin_, model_->subgraphs()->size());
  const auto* graph = model_->subgraphs()->Get(0);
  const auto* buffers = model_->buffers();
  if (!graph->tensors()) fail("{}: subgraph has no tensors", origin_);
  for (uint32_t i = 0; i < graph->tensors()->size(); ++i) {
    const auto* t = graph->tensors()->Get(i);
    Tensor rt;
    rt.name = t->name() ? t->name()->str() : fmt::format("tensor_{}", i);
    rt.type = static_cast<DType>(t->type());
    if (t->shape()) rt.shape.assign(t->shape()->begin(), t->shape()->end());
    rt.shape_signature = t->shape_signature() ? std::vector<int32_t>(t->shape_signature()->begin(), t->shape_signature()->end()) : rt.shape;
    if (t->sparsity()) fail("{}: tensor '{}' is sparse; litepipe's interpreter does not support sparsity", origin_, rt.name);
    if (const auto* q = t->quantization()) {
      if (q->scale()) rt.scale.assign(q->scale()->begin(), q->scale()->end());
      if (q->zero_point()) rt.zero_point.assign(q->zero_point()->begin(), q->zero_point()->end());
      rt.quantized_dimension = q->quantized_dimension();
    }
    if (buffers && t->buffer() > 0) {
      if (t->buffer() >= buffers->size()) fail("{}: tensor '{}' refers to buffer {} of {}", origin_, rt.name, t->buffer(), buffers->size());
      const auto* b = buffers->Get(t->buffer());
      if (b->data() && b->data()->size() > 0) {
        rt.constant = true;
        if (b->data()->size() != rt.bytes()) {
          fail("{}: constant tensor '{}' ({} {}) holds {} bytes, expected {}", origin_, rt.name, dtype_name(rt.type),
               fmt::join(rt.shape, "x"), b->data()->size(), rt.bytes());
        }
        // Buffers are 16-byte aligned by the schema; copy anyway when the file's is not.
        auto* p = const_cast<uint8_t*>(b->data()->data());
        if (reinterpret_cast<uintptr_t>(p) % 16 != 0) {
          owned_constants_.emplace_back(p, p + b->data()->size());
          p = owned_constants_.back().data();
        }
        rt.data = p;
      }
    }
    tensors_.push_back(std::move(rt));
  }
  auto check_index = [&](int index, const char* what) {
    if (index < 0 || static_cast<size_t>(index) >= tensors_.size()) fail("{}: {} refers to tensor {} of {}", origin_, what, index, tensors_.size());
  };
  if (graph->inputs()) for (int i : *graph->inputs()) { check_index(i, "subgraph input"); inputs_.push_back(i); }
  if (graph->outputs()) for (int i : *graph->outputs()) { check_index(i, "subgraph output"); outputs_.push_back(i); }
  const auto* codes = model_->operator_codes();
  if (graph->operators()) {
    for (uint32_t k = 0; k < graph->operators()->size(); ++k) {
      const auto* op = graph->operators()->Get(k);
      if (!codes || op->opcode_index() >= codes->size()) fail("{}: operator {} has opcode index {} out of range", origin_, k, op->opcode_index());
      const auto* code = codes->Get(op->opcode_index());
      int builtin = std::max<int>(code->deprecated_builtin_code(), static_cast<int>(code->builtin_code()));
      Node node;
      node.builtin = builtin;
      node.version = code->version();
      node.op = op;
      const Kernel* kernel = find_kernel(builtin);
      if (builtin == static_cast<int>(::tflite::BuiltinOperator_CUSTOM) || code->custom_code()) {
        fail("{}: operator {} is the custom op '{}'; litepipe runs builtin ops only", origin_, k, code->custom_code() ? code->custom_code()->str() : "");
      }
      if (!kernel) fail("{}: operator {} uses builtin op code {}, which litepipe's interpreter does not implement", origin_, k, builtin);
      node.op_name = kernel->name;
      if (node.version > kernel->max_version) {
        fail("{}: operator {} is {} version {}; litepipe implements up to version {}", origin_, k, kernel->name, node.version, kernel->max_version);
      }
      if (op->inputs()) for (int i : *op->inputs()) { if (i >= 0) check_index(i, "operator input"); node.inputs.push_back(i); }
      if (op->outputs()) for (int i : *op->outputs()) { check_index(i, "operator output"); node.outputs.push_back(i); }
      nodes_.push_back(std::move(node));
    }
  }
  if (model_->signature_defs()) {
    for (const auto* s : *model_->signature_defs()) {
      Signature sig;
      if (s->inputs()) for (const auto* m : *s->inputs()) sig.inputs[m->name()->str()] = static_cast<int>(m->tensor_index());
      if (s->outputs()) for (const auto* m : *s->outputs()) sig.outputs[m->name()->str()] = static_cast<int>(m->tensor_index());
      signatures_[s->signature_key() ? s->signature_key()->str() : "serving_default"] = sig;
    }
  }
}

Interpreter::~Interpreter() { std::free(arena_); }

std::map<std::string, std::string> Interpreter::metadata() const {
  std::map<std::string, std::string> result;
  if (!model_->metadata()) return result;
  for (const auto* m : *model_->metadata()) {
    const auto* b = model_->buffers()->Get(m->buffer());
    std::string value = b->data() ? std::string(reinterpret_cast<const char*>(b->data()->data()), b->data()->size()) : "";
    result[m->name()->str()] = value.substr(0, value.find('\0'));
  }
  return result;
}

std::optional<ModelMetadataInfo> Interpreter::model_metadata() const { return read_model_metadata(bytes_, origin_); }

std::map<std::string, std::string> Interpreter::associated_files() const { return read_associated_files(bytes_, origin_); }

std::vector<std::string> Interpreter::output_labels(size_t output) const { return read_output_labels(bytes_, output, origin_); }

void Interpreter::fail_node(const Node& node, const std::string& message) const {
  size_t index = static_cast<size_t>(&node - nodes_.data());
  fail("{}: operator {} ({}): {}", origin_, index, node.op_name, message);
}

void Interpreter::resize_input(size_t input, const std::vector<int32_t>& shape) {
  if (input >= inputs_.size()) fail("{}: no input {} (model has {})", origin_, input, inputs_.size());
  Tensor& t = tensors_[static_cast<size_t>(inputs_[input])];
  if (shape.size() != t.shape_signature.size()) {
    fail("{}: input '{}' has rank {}, got shape [{}]", origin_, t.name, t.shape_signature.size(), fmt::join(shape, ", "));
  }
  for (size_t i = 0; i < shape.size(); ++i) {
    if (t.shape_signature[i] != -1 && t.shape_signature[i] != shape[i]) {
      fail("{}: input '{}' dimension {} is fixed at {}, got {}", origin_, t.name, i, t.shape_signature[i], shape[i]);
    }
  }
  if (t.shape != shape) {
    t.shape = shape;
    prepared_ = false;
  }
}

void Interpreter::allocate_tensors() {
  for (auto& node : nodes_) find_kernel(node.builtin)->prepare(*this, node);
  // Plan the arena: each non-constant tensor lives from the op that writes it to the last op that
  // reads it; place it at the lowest offset free over that whole span.
  size_t n = tensors_.size();
  std::vector<int> first(n, -1), last(n, -1);
  for (int i : inputs_) first[static_cast<size_t>(i)] = 0, last[static_cast<size_t>(i)] = 0;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    for (int i : nodes_[k].outputs) if (first[static_cast<size_t>(i)] < 0) first[static_cast<size_t>(i)] = static_cast<int>(k);
    for (int i : nodes_[k].inputs) if (i >= 0) last[static_cast<size_t>(i)] = std::max(last[static_cast<size_t>(i)], static_cast<int>(k));
  }
  for (int i : outputs_) last[static_cast<size_t>(i)] = static_cast<int>(nodes_.size());
  struct Block { size_t offset, size; int from, to; };
  std::vector<Block> placed;
  std::vector<size_t> offsets(n, 0);
  size_t total = 0;
  std::vector<size_t> order;
  for (size_t i = 0; i < n; ++i) if (!tensors_[i].constant && first[i] >= 0) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors_[a].bytes() > tensors_[b].bytes(); });
  for (size_t i : order) {
    size_t size = (tensors_[i].bytes() + 63) / 64 * 64;
    int from = first[i], to = std::max(last[i], first[i]);
    size_t offset = 0;
    bool moved = true;
    while (moved) {
      moved = false;
      for (const auto& b : placed) {
        bool overlap_time = !(to < b.from || from > b.to);
        bool overlap_space = offset < b.offset + b.size && b.offset < offset + size;
        if (overlap_time && overlap_space) {
          offset = b.offset + b.size;
          moved = true;
        }
      }
    }
    placed.push_back({offset, size, from, to});
    offsets[i] = offset;
    total = std::max(total, offset + size);
  }
  if (total > arena_size_) {
    std::free(arena_);
    arena_ = static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>(total, 64)));
    if (!arena_) fail("{}: cannot allocate a {}-byte arena", origin_, total);
    arena_size_ = total;
  }
  for (size_t i : order) tensors_[i].data = arena_ + offsets[i];
  prepared_ = true;
}

SignatureRunner::SignatureRunner(Interpreter& interpreter, const std::string& key) : interpreter_(interpreter), key_(key) {
  auto it = interpreter.signatures().find(key);
  if (it == interpreter.signatures().end()) fail("{}: no signature '{}'", interpreter.origin(), key);
  signature_ = it->second;
}

std::map<std::string, nn::Tensor> SignatureRunner::run(const std::map<std::string, nn::Tensor>& inputs) {
  auto position = [&](int tensor) {
    auto pos = std::find(interpreter_.inputs().begin(), interpreter_.inputs().end(), tensor);
    if (pos == interpreter_.inputs().end()) fail("{}: signature input tensor {} is not a graph input", interpreter_.origin(), tensor);
    return static_cast<size_t>(pos - interpreter_.inputs().begin());
  };
  for (const auto& [name, tensor] : signature_.inputs) {
    auto it = inputs.find(name);
    if (it == inputs.end()) fail("{}: signature '{}' needs input '{}'", interpreter_.origin(), key_, name);
    interpreter_.resize_input(position(tensor), std::vector<int32_t>(it->second.shape().begin(), it->second.shape().end()));
  }
  interpreter_.ensure_allocated();
  for (const auto& [name, index] : signature_.inputs) {
    const nn::Tensor& x = inputs.at(name);
    Tensor& t = interpreter_.tensor(index);
    if (t.type == DType::Float32) {
      std::memcpy(t.data, x.data(), t.bytes());
    } else if (t.type == DType::Int8 && !t.scale.empty()) {
      auto zp = static_cast<int32_t>(t.zero_point.empty() ? 0 : t.zero_point[0]);
      for (int64_t i = 0; i < t.elements(); ++i) {
        int32_t q = static_cast<int32_t>(std::round(x[i] / t.scale[0])) + zp;
        t.as<int8_t>()[i] = static_cast<int8_t>(std::clamp(q, -128, 127));
      }
    } else {
      fail("{}: input '{}' is {}; the signature runner feeds float32 or quantized int8", interpreter_.origin(), name, dtype_name(t.type));
    }
  }
  interpreter_.invoke();
  std::map<std::string, nn::Tensor> outputs;
  for (const auto& [name, index] : signature_.outputs) {
    const Tensor& t = interpreter_.tensor(index);
    nn::Tensor y(std::vector<int64_t>(t.shape.begin(), t.shape.end()));
    if (t.type == DType::Float32) {
      std::memcpy(y.data(), t.data, t.bytes());
    } else if (t.type == DType::Int8 && !t.scale.empty()) {
      int64_t zp = t.zero_point.empty() ? 0 : t.zero_point[0];
      for (int64_t i = 0; i < t.elements(); ++i) y[i] = static_cast<float>(t.as<int8_t>()[i] - zp) * t.scale[0];
    } else if (t.type == DType::Bool) {
      // 1 / 0, as the ONNX runner holds a bool tensor.
      for (int64_t i = 0; i < t.elements(); ++i) y[i] = t.as<uint8_t>()[i] ? 1.0f : 0.0f;
    } else {
      fail("{}: output '{}' is {}; the signature runner returns float32, bool or quantized int8", interpreter_.origin(), name, dtype_name(t.type));
    }
    outputs[name] = y;
  }
  return outputs;
}

void Interpreter::invoke() {
  if (!prepared_) allocate_tensors();
  for (auto& node : nodes_) find_kernel(node.builtin)->eval(*this, node);
}

void Interpreter::invoke(const std::function<void(const Node&)>& after_node) {
  if (!prepared_) allocate_tensors();
  for (auto& node : nodes_) {
    find_kernel(node.builtin)->eval(*this, node);
    after_node(node);
  }
}

}  // namespace litepipe::tfl
