#include "tflite/runtime/interpreter.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/files.h"
#include "core/thread_count.h"
#include "tflite/runtime/kernel.h"
#include "tflite/runtime/kernels/quantization.h"
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
  auto n = element_count(shape);
  if (!n) fail("tensor '{}' has shape [{}]: a negative dimension, or more than {} elements", name, fmt::join(shape, ", "), kMaxTensorElements);
  return *n;
}

std::unique_ptr<Interpreter> Interpreter::from_file(const std::filesystem::path& path) {
  return std::make_unique<Interpreter>(read_file(path), path.string());
}

Interpreter::Interpreter(std::string model_bytes, std::string origin) : bytes_(std::move(model_bytes)), origin_(std::move(origin)) { load(); }

Interpreter::~Interpreter() { std::free(arena_); }

Tensor& Interpreter::tensor(int index) {
  if (index < 0 || static_cast<size_t>(index) >= tensors_.size()) fail("{}: no tensor {} (the model has {})", origin_, index, tensors_.size());
  return tensors_[static_cast<size_t>(index)];
}

const Tensor& Interpreter::tensor(int index) const { return const_cast<Interpreter*>(this)->tensor(index); }

std::map<std::string, std::string> Interpreter::metadata() const {
  std::map<std::string, std::string> result;
  if (!model_->metadata()) return result;
  const uint32_t buffers = model_->buffers() ? model_->buffers()->size() : 0;
  for (const auto* m : *model_->metadata()) {
    // The model check at load guarantees both; an Error rather than a crash regardless.
    const std::string name = m->name() ? m->name()->str() : "";
    if (m->buffer() >= buffers) fail("{}: metadata '{}' refers to buffer {}; the model has {}", origin_, name, m->buffer(), buffers);
    const auto* b = model_->buffers()->Get(m->buffer());
    std::string value = b->data() ? std::string(reinterpret_cast<const char*>(b->data()->data()), b->data()->size()) : "";
    result[name] = value.substr(0, value.find('\0'));
  }
  return result;
}

std::optional<ModelMetadataInfo> Interpreter::model_metadata() const { return read_model_metadata(bytes_, origin_); }

std::map<std::string, std::string> Interpreter::associated_files() const { return read_associated_files(bytes_, origin_); }

std::vector<std::string> Interpreter::output_labels(size_t output) const { return read_output_labels(bytes_, output, origin_); }

void Interpreter::fail_node(const Node& node, const std::string& message) const {
  const auto index = static_cast<size_t>(&node - nodes_.data());
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
  if (!element_count(shape)) fail("{}: input '{}' cannot have shape [{}] (at most {} elements)", origin_, t.name, fmt::join(shape, ", "), kMaxTensorElements);
  if (t.shape != shape) {
    t.shape = shape;
    prepared_ = false;
  }
}

void Interpreter::allocate_tensors() {
  prepared_ = false;
  // Kernels create their oneDNN primitives here, and oneDNN fixes a primitive's thread count when
  // it is created: under the count invoke() runs with, or a 1-thread interpreter would still wake
  // (and leave spinning) a team of every core at each run.
  ScopedThreadCount threads(num_threads_);
  for (auto& node : nodes_) {
    node.eval = nullptr;
    node.scratch_bytes.clear();
    OpContext ctx(*this, node);
    try {
      node.kernel->prepare(ctx);
    } catch (const dnnl::error& e) {
      fail_node(node, fmt::format("oneDNN cannot run it for these shapes ({})", e.what()));
    } catch (const std::bad_alloc&) {
      fail_node(node, "out of memory while preparing it");
    }
    if (!node.eval) fail_node(node, "its kernel chose no Eval");
  }
  plan_arena();
  prepared_ = true;
}

// Each non-constant tensor lives from the op that writes it (0 for inputs) to the last op that
// reads it (the end for outputs), each scratch buffer during its op; each is placed at the lowest
// 64-byte aligned offset free over its whole span, largest first.
void Interpreter::plan_arena() {
  struct Block {
    size_t bytes = 0, offset = 0;
    int from = 0, to = 0;
    int tensor = -1;  // or node * 65536 + scratch index when scratch
    size_t node = 0, scratch = 0;
  };
  const size_t n = tensors_.size();
  std::vector<int> first(n, -1), last(n, -1);
  for (int i : inputs_) first[static_cast<size_t>(i)] = 0, last[static_cast<size_t>(i)] = 0;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    for (int i : nodes_[k].outputs) if (first[static_cast<size_t>(i)] < 0) first[static_cast<size_t>(i)] = static_cast<int>(k);
    for (int i : nodes_[k].inputs) if (i >= 0) last[static_cast<size_t>(i)] = std::max(last[static_cast<size_t>(i)], static_cast<int>(k));
  }
  for (int i : outputs_) last[static_cast<size_t>(i)] = static_cast<int>(nodes_.size());
  auto aligned = [&](size_t bytes, const std::string& what) {
    if (bytes > max_arena_bytes_ || bytes > (SIZE_MAX >> 2)) fail("{}: {} needs {} bytes; the arena may hold {}", origin_, what, bytes, max_arena_bytes_);
    return (bytes + 63) / 64 * 64;
  };
  std::vector<Block> blocks;
  for (size_t i = 0; i < n; ++i) {
    if (tensors_[i].constant || first[i] < 0) continue;
    Block b;
    b.bytes = aligned(tensors_[i].bytes(), fmt::format("tensor '{}'", tensors_[i].name));
    b.from = first[i];
    b.to = std::max(last[i], first[i]);
    b.tensor = static_cast<int>(i);
    blocks.push_back(b);
  }
  for (size_t k = 0; k < nodes_.size(); ++k) {
    nodes_[k].scratch.assign(nodes_[k].scratch_bytes.size(), nullptr);
    for (size_t s = 0; s < nodes_[k].scratch_bytes.size(); ++s) {
      Block b;
      b.bytes = aligned(nodes_[k].scratch_bytes[s], fmt::format("operator {} ({})'s scratch buffer", k, nodes_[k].op_name));
      b.from = b.to = static_cast<int>(k);
      b.node = k;
      b.scratch = s;
      blocks.push_back(b);
    }
  }
  std::stable_sort(blocks.begin(), blocks.end(), [](const Block& a, const Block& b) { return a.bytes > b.bytes; });
  size_t total = 0;
  std::vector<const Block*> placed;
  for (Block& b : blocks) {
    size_t offset = 0;
    for (bool moved = true; moved;) {
      moved = false;
      for (const Block* p : placed) {
        const bool overlap_time = !(b.to < p->from || b.from > p->to);
        const bool overlap_space = offset < p->offset + p->bytes && p->offset < offset + b.bytes;
        if (overlap_time && overlap_space) {
          offset = p->offset + p->bytes;
          moved = true;
        }
      }
    }
    b.offset = offset;
    placed.push_back(&b);
    total = std::max(total, offset + b.bytes);
    if (total > max_arena_bytes_) fail("{}: the tensors need an arena of more than {} bytes (the limit)", origin_, max_arena_bytes_);
  }
  if (total > arena_size_ || !arena_) {
    std::free(arena_);
    arena_ = nullptr;
    arena_size_ = 0;
    arena_ = static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>(total, 64)));
    if (!arena_) fail("{}: cannot allocate a {}-byte arena", origin_, total);
    arena_size_ = std::max<size_t>(total, 64);
  }
  for (const Block& b : blocks) {
    if (b.tensor >= 0) tensors_[static_cast<size_t>(b.tensor)].data = arena_ + b.offset;
    else nodes_[b.node].scratch[b.scratch] = arena_ + b.offset;
  }
}

void Interpreter::invoke() {
  invoke([](const Node&) {});
}

void Interpreter::set_num_threads(int threads) {
  if (threads < 1 && threads != -1) fail("{}: num_threads must be at least 1 (or -1: the caller's setting), got {}", origin_, threads);
  if (threads != num_threads_) prepared_ = false;  // primitives are made for a thread count
  num_threads_ = threads;
}

void Interpreter::invoke(const std::function<void(const Node&)>& after_node) {
  if (!prepared_) allocate_tensors();
  ScopedThreadCount threads(num_threads_);
  for (auto& node : nodes_) {
    OpContext ctx(*this, node);
    try {
      node.eval(ctx);
    } catch (const dnnl::error& e) {
      fail_node(node, fmt::format("oneDNN failed running it ({})", e.what()));
    }
    after_node(node);
  }
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
    std::vector<int32_t> shape;
    for (int64_t d : it->second.shape()) {
      if (d < 0 || d > kMaxTensorElements) fail("{}: input '{}' has shape [{}]", interpreter_.origin(), name, fmt::join(it->second.shape(), ", "));
      shape.push_back(static_cast<int32_t>(d));
    }
    interpreter_.resize_input(position(tensor), shape);
  }
  interpreter_.ensure_allocated();
  for (const auto& [name, index] : signature_.inputs) {
    const nn::Tensor& x = inputs.at(name);
    Tensor& t = interpreter_.tensor(index);
    if (t.type == DType::Float32) {
      std::memcpy(t.data, x.data(), t.bytes());
    } else if (t.type == DType::Int8 && !t.scale.empty()) {
      const int64_t zp = t.zero_point.empty() ? 0 : t.zero_point[0];
      for (int64_t i = 0, n = t.elements(); i < n; ++i) {
        const int64_t q = qmath::float_to_int32(std::round(x[i] / t.scale[0])) + zp;
        t.as<int8_t>()[i] = static_cast<int8_t>(std::clamp<int64_t>(q, -128, 127));
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
      const int64_t zp = t.zero_point.empty() ? 0 : t.zero_point[0];
      for (int64_t i = 0, n = t.elements(); i < n; ++i) y[i] = static_cast<float>(t.as<int8_t>()[i] - zp) * t.scale[0];
    } else if (t.type == DType::Bool) {
      // 1 / 0, as the ONNX runner holds a bool tensor.
      for (int64_t i = 0, n = t.elements(); i < n; ++i) y[i] = t.as<uint8_t>()[i] ? 1.0f : 0.0f;
    } else {
      fail("{}: output '{}' is {}; the signature runner returns float32, bool or quantized int8", interpreter_.origin(), name, dtype_name(t.type));
    }
    outputs[name] = y;
  }
  return outputs;
}

}  // namespace litepipe::tfl
