// Loading a .tflite file: flatbuffer verification, then the model check — everything TFLite's
// interpreter checks when it builds and allocates a model, done before anything is sized by the
// file's contents (every structure allocated here is proportional to a count of entries in the
// file) — then kernel resolution and each kernel's Init.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "tflite/runtime/interpreter.h"
#include "tflite/runtime/kernel.h"
#include "core/utf8.h"
#include "tflite_subset_generated.h"

namespace litepipe::tfl {
namespace {

// Flatbuffers strings are UTF-8; names end up in JSON and in messages.
bool valid_utf8(const flatbuffers::String* s) { return is_valid_utf8(std::string_view(s->data(), s->size())); }

bool known_type(int8_t type) {
  switch (static_cast<DType>(type)) {
    case DType::Float32: case DType::Float16: case DType::Int32: case DType::UInt8: case DType::Int64:
    case DType::Bool: case DType::Int16: case DType::Int8:
      return true;
    default:
      return false;  // STRING (variable-sized), COMPLEX64, FLOAT64 and unknown values
  }
}

// The range of a zero point for a quantized tensor of `type`.
std::pair<int64_t, int64_t> zero_point_range(DType type) {
  switch (type) {
    case DType::Int8: return {-128, 127};
    case DType::UInt8: return {0, 255};
    case DType::Int16: return {-32768, 32767};
    default: return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
  }
}

}  // namespace

void Interpreter::load() {
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
  const uint32_t buffer_count = buffers ? buffers->size() : 0;
  if (!graph->tensors()) fail("{}: subgraph has no tensors", origin_);

  // ---- tensors: names, types, shapes, quantization, buffers ----
  const size_t tensor_count = graph->tensors()->size();
  tensors_.reserve(tensor_count);
  for (uint32_t i = 0; i < tensor_count; ++i) {
    const auto* t = graph->tensors()->Get(i);
    Tensor rt;
    if (t->name() && !valid_utf8(t->name())) fail("{}: tensor {}'s name is not valid UTF-8", origin_, i);
    rt.name = t->name() ? t->name()->str() : fmt::format("tensor_{}", i);
    if (!known_type(static_cast<int8_t>(t->type()))) {
      const char* name = ::tflite::EnumNameTensorType(t->type());
      fail("{}: tensor '{}' has type {}; litepipe's interpreter supports FLOAT32, FLOAT16, INT32, UINT8, INT64, BOOL, INT16 and INT8", origin_,
           rt.name, *name ? std::string(name) : std::to_string(static_cast<int>(t->type())));
    }
    rt.type = static_cast<DType>(t->type());
    if (t->shape()) rt.shape.assign(t->shape()->begin(), t->shape()->end());
    for (size_t d = 0; d < rt.shape.size(); ++d) {
      if (rt.shape[d] < 0) fail("{}: tensor '{}' has dimension {} = {}; expected at least 0", origin_, rt.name, d, rt.shape[d]);
    }
    if (rt.shape.size() > kMaxTensorRank) fail("{}: tensor '{}' has rank {}; litepipe supports up to {}", origin_, rt.name, rt.shape.size(), kMaxTensorRank);
    if (!element_count(rt.shape)) {
      fail("{}: tensor '{}' has shape [{}], more than {} elements", origin_, rt.name, fmt::join(rt.shape, ", "), kMaxTensorElements);
    }
    if (t->shape_signature()) {
      rt.shape_signature.assign(t->shape_signature()->begin(), t->shape_signature()->end());
      if (rt.shape_signature.size() != rt.shape.size()) {
        fail("{}: tensor '{}' has shape [{}] but shape_signature [{}]", origin_, rt.name, fmt::join(rt.shape, ", "), fmt::join(rt.shape_signature, ", "));
      }
      for (size_t d = 0; d < rt.shape.size(); ++d) {
        if (rt.shape_signature[d] != -1 && rt.shape_signature[d] != rt.shape[d]) {
          fail("{}: tensor '{}' has shape_signature dimension {} = {}; expected -1 (dynamic) or the shape's {}", origin_, rt.name, d,
               rt.shape_signature[d], rt.shape[d]);
        }
      }
    } else {
      rt.shape_signature = rt.shape;
    }
    if (t->sparsity()) fail("{}: tensor '{}' is sparse; litepipe's interpreter does not support sparsity", origin_, rt.name);
    if (t->is_variable()) fail("{}: tensor '{}' is a variable; litepipe's interpreter does not support variable tensors", origin_, rt.name);
    if (const auto* q = t->quantization(); q && q->scale() && q->scale()->size() > 0) {
      rt.scale.assign(q->scale()->begin(), q->scale()->end());
      if (const auto* zp = q->zero_point()) {
        // Copied as bytes: the verifier checks a vector's length field, not that its 8-byte
        // elements are 8-byte aligned, and a hostile file need not align them.
        rt.zero_point.resize(zp->size());
        if (zp->size() > 0) std::memcpy(rt.zero_point.data(), zp->Data(), zp->size() * sizeof(int64_t));
      }
      rt.quantized_dimension = q->quantized_dimension();
      for (size_t k = 0; k < rt.scale.size(); ++k) {
        if (!std::isfinite(rt.scale[k]) || !(rt.scale[k] > 0.0f)) {
          fail("{}: tensor '{}' has quantization scale {} (index {}); expected a finite number above 0", origin_, rt.name, rt.scale[k], k);
        }
      }
      // As TFLite's InterpreterBuilder: one zero point per scale.
      if (rt.zero_point.size() != rt.scale.size()) {
        fail("{}: tensor '{}' has {} quantization scales but {} zero points", origin_, rt.name, rt.scale.size(), rt.zero_point.size());
      }
      const auto [lo, hi] = zero_point_range(rt.type);
      for (int64_t zp : rt.zero_point) {
        if (zp < lo || zp > hi) fail("{}: tensor '{}' ({}) has zero point {}; expected {}..{}", origin_, rt.name, dtype_name(rt.type), zp, lo, hi);
      }
      if (rt.scale.size() > 1) {
        const int32_t axis = rt.quantized_dimension;
        if (axis < 0 || static_cast<size_t>(axis) >= rt.shape.size()) {
          fail("{}: tensor '{}' has {} scales along quantized_dimension {}; its rank is {}", origin_, rt.name, rt.scale.size(), axis, rt.shape.size());
        }
        if (rt.scale.size() != static_cast<size_t>(rt.shape[static_cast<size_t>(axis)])) {
          fail("{}: tensor '{}' has {} quantization scales; dimension {} (quantized_dimension) has {} channels", origin_, rt.name, rt.scale.size(),
               axis, rt.shape[static_cast<size_t>(axis)]);
        }
      }
    }  // (without scales a tensor is not quantized, whatever else its QuantizationParameters hold)
    // Buffer 0 is the schema's empty sentinel: a tensor referring to it has no data.
    if (t->buffer() > 0) {
      if (t->buffer() >= buffer_count) fail("{}: tensor '{}' refers to buffer {}; the model has {}", origin_, rt.name, t->buffer(), buffer_count);
      const auto* b = buffers->Get(t->buffer());
      const uint8_t* p = nullptr;
      size_t size = 0;
      if (b->offset() > 1) {
        // Stored after the flatbuffer (models over 2 GB): offset and size into the file.
        const uint64_t end = b->offset() + b->size();
        if (end < b->offset() || end > bytes_.size()) {
          fail("{}: tensor '{}' refers to buffer {} at offset {} size {}, beyond the {}-byte file", origin_, rt.name, t->buffer(), b->offset(), b->size(), bytes_.size());
        }
        p = data + b->offset();
        size = b->size();
      } else if (b->data()) {
        p = b->data()->data();
        size = b->data()->size();
      }
      if (size > 0) {
        rt.constant = true;
        if (size != rt.bytes()) {
          fail("{}: constant tensor '{}' ({} [{}]) holds {} bytes, expected {}", origin_, rt.name, dtype_name(rt.type), fmt::join(rt.shape, "x"),
               size, rt.bytes());
        }
        // Buffers are 16-byte aligned by the schema; copy anyway when this one is not.
        if (reinterpret_cast<uintptr_t>(p) % 16 != 0) {
          owned_constants_.emplace_back(p, p + size);  // operator new's alignment is 16
          p = owned_constants_.back().data();
        }
        rt.data = const_cast<uint8_t*>(p);
      }
    }
    tensors_.push_back(std::move(rt));
  }

  // ---- subgraph inputs and outputs ----
  auto check_index = [&](int64_t index, const std::string& what) {
    if (index < 0 || static_cast<size_t>(index) >= tensor_count) fail("{}: {} refers to tensor {}; the model has {}", origin_, what, index, tensor_count);
  };
  std::vector<char> is_input(tensor_count, 0);
  if (graph->inputs()) {
    for (int i : *graph->inputs()) {
      check_index(i, "a subgraph input");
      const Tensor& t = tensors_[static_cast<size_t>(i)];
      if (t.constant) fail("{}: subgraph input '{}' is a constant", origin_, t.name);
      if (is_input[static_cast<size_t>(i)]) fail("{}: tensor '{}' is listed twice as a subgraph input", origin_, t.name);
      is_input[static_cast<size_t>(i)] = 1;
      inputs_.push_back(i);
    }
  }
  if (graph->outputs()) {
    for (int i : *graph->outputs()) {
      check_index(i, "a subgraph output");
      outputs_.push_back(i);
    }
  }

  // ---- operators: codes, kernels, tensor indices, and the dataflow ----
  const auto* codes = model_->operator_codes();
  const uint32_t op_count = graph->operators() ? graph->operators()->size() : 0;
  constexpr int kNotWritten = std::numeric_limits<int>::max();
  std::vector<int> writer(tensor_count, kNotWritten);  // the operator that computes each tensor
  nodes_.reserve(op_count);
  for (uint32_t k = 0; k < op_count; ++k) {
    const auto* op = graph->operators()->Get(k);
    if (!codes || op->opcode_index() >= codes->size()) {
      fail("{}: operator {} has opcode index {}; the model has {} operator codes", origin_, k, op->opcode_index(), codes ? codes->size() : 0);
    }
    const auto* code = codes->Get(op->opcode_index());
    // TFLite's GetBuiltinCode: the larger of the deprecated int8 field and the int32 one.
    const int builtin = std::max<int>(code->deprecated_builtin_code(), static_cast<int>(code->builtin_code()));
    if (builtin == static_cast<int>(::tflite::BuiltinOperator_CUSTOM) || code->custom_code()) {
      fail("{}: operator {} is the custom op '{}'; litepipe runs builtin ops only", origin_, k,
           code->custom_code() && valid_utf8(code->custom_code()) ? code->custom_code()->str() : "");
    }
    Node node;
    node.builtin = builtin;
    node.version = code->version();
    node.op = op;
    node.kernel = find_kernel(builtin);
    if (!node.kernel) fail("{}: operator {} uses builtin op code {}, which litepipe's interpreter does not implement", origin_, k, builtin);
    node.op_name = node.kernel->name;
    if (node.version < 1 || node.version > node.kernel->max_version) {
      fail("{}: operator {} is {} version {}; litepipe implements versions 1 to {}", origin_, k, node.op_name, node.version, node.kernel->max_version);
    }
    if (op->inputs()) {
      for (int i : *op->inputs()) {
        if (i != -1) check_index(i, fmt::format("operator {} ({})'s input", k, node.op_name));
        node.inputs.push_back(i);
      }
    }
    if (op->outputs()) {
      for (int i : *op->outputs()) {
        check_index(i, fmt::format("operator {} ({})'s output", k, node.op_name));
        const Tensor& t = tensors_[static_cast<size_t>(i)];
        if (t.constant) fail("{}: operator {} ({}) writes tensor '{}', which is a constant", origin_, k, node.op_name, t.name);
        if (is_input[static_cast<size_t>(i)]) fail("{}: operator {} ({}) writes tensor '{}', which is a subgraph input", origin_, k, node.op_name, t.name);
        if (writer[static_cast<size_t>(i)] != kNotWritten) {
          fail("{}: operators {} and {} both write tensor '{}'", origin_, writer[static_cast<size_t>(i)], k, t.name);
        }
        writer[static_cast<size_t>(i)] = static_cast<int>(k);
        node.outputs.push_back(i);
      }
    }
    nodes_.push_back(std::move(node));
  }
  // Every tensor an operator reads exists when it runs: a constant, a subgraph input, or the output
  // of an earlier operator. So the operators are in execution order and the graph has no cycle.
  for (size_t k = 0; k < nodes_.size(); ++k) {
    for (int i : nodes_[k].inputs) {
      if (i < 0) continue;
      const Tensor& t = tensors_[static_cast<size_t>(i)];
      const int w = writer[static_cast<size_t>(i)];
      if (t.constant || is_input[static_cast<size_t>(i)] || w < static_cast<int>(k)) continue;
      if (w == kNotWritten) {
        fail("{}: operator {} ({}) reads tensor '{}', which is neither a constant, a subgraph input nor any operator's output", origin_, k,
             nodes_[k].op_name, t.name);
      }
      fail("{}: operator {} ({}) reads tensor '{}', which operator {} ({}) writes {}: the graph has a cycle or is out of execution order", origin_, k,
           nodes_[k].op_name, t.name, w, nodes_[w].op_name, w == static_cast<int>(k) ? "itself" : "later");
    }
  }
  for (int i : outputs_) {
    const Tensor& t = tensors_[static_cast<size_t>(i)];
    if (!t.constant && !is_input[static_cast<size_t>(i)] && writer[static_cast<size_t>(i)] == kNotWritten) {
      fail("{}: subgraph output '{}' is never computed (no operator writes it)", origin_, t.name);
    }
  }

  // ---- signatures ----
  if (model_->signature_defs()) {
    for (const auto* s : *model_->signature_defs()) {
      if (s->signature_key() && !valid_utf8(s->signature_key())) fail("{}: a signature key is not valid UTF-8", origin_);
      const std::string key = s->signature_key() ? s->signature_key()->str() : "serving_default";
      if (s->subgraph_index() != 0) fail("{}: signature '{}' refers to subgraph {}; the model has 1", origin_, key, s->subgraph_index());
      Signature sig;
      auto read = [&](const auto* maps, const char* kind, const std::vector<int>& allowed, std::map<std::string, int>& into) {
        if (!maps) return;
        for (uint32_t j = 0; j < maps->size(); ++j) {
          const auto* m = maps->Get(j);
          if (!m->name()) fail("{}: signature '{}' {} {} has no name", origin_, key, kind, j);
          if (!valid_utf8(m->name())) fail("{}: signature '{}' {} {}'s name is not valid UTF-8", origin_, key, kind, j);
          const std::string name = m->name()->str();
          check_index(m->tensor_index(), fmt::format("signature '{}' {} '{}'", key, kind, name));
          const int index = static_cast<int>(m->tensor_index());
          if (std::find(allowed.begin(), allowed.end(), index) == allowed.end()) {
            fail("{}: signature '{}' {} '{}' is tensor '{}', which is not a subgraph {}", origin_, key, kind, name, tensors_[static_cast<size_t>(index)].name, kind);
          }
          into[name] = index;
        }
      };
      read(s->inputs(), "input", inputs_, sig.inputs);
      read(s->outputs(), "output", outputs_, sig.outputs);
      signatures_[key] = sig;
    }
  }

  // ---- metadata entries ----
  if (model_->metadata()) {
    for (uint32_t j = 0; j < model_->metadata()->size(); ++j) {
      const auto* m = model_->metadata()->Get(j);
      if (!m->name()) fail("{}: metadata entry {} has no name", origin_, j);
      if (!valid_utf8(m->name())) fail("{}: metadata entry {}'s name is not valid UTF-8", origin_, j);
      if (m->buffer() >= buffer_count) fail("{}: metadata '{}' refers to buffer {}; the model has {}", origin_, m->name()->str(), m->buffer(), buffer_count);
    }
  }

  // ---- each kernel's Init: operand counts, options, element types ----
  for (auto& node : nodes_) {
    OpContext ctx(*this, node);
    node.data = node.kernel->init(ctx);
  }
}

}  // namespace litepipe::tfl
