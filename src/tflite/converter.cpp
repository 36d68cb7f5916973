#include "tflite/converter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "onnx/onnx_model.h"
#include "tflite/fp16.h"
#include "tflite/metadata.h"
#include "tflite/op_versions.h"
#include "tflite/quantizer.h"
#include "tflite_subset_generated.h"

namespace litepipe::tfl {
namespace {

using Shape = std::vector<int64_t>;  // TFLite (NHWC) order; -1 = dynamic batch

struct Constant {
  std::vector<float> values;
  Shape dims;  // ONNX dims
};

struct Value {
  int tensor = -1;               // TFLite tensor index, -1 for a constant not yet materialized
  bool nchw = false;             // ONNX sees this 4-D tensor as NCHW; TFLite stores it NHWC
  Shape shape;                   // TFLite shape, -1 batch
  std::optional<Constant> constant;
  bool boolean = false;          // a BOOL tensor (IsNaN's output)
};

class Converter {
 public:
  Converter(const onnx::ModelProto& model, const ConverterOptions& options, std::string origin)
      : onnx_(model), options_(options), origin_(std::move(origin)) {
    model_.version = 3;
    model_.description = "litepipe: converted from ONNX";
    model_.buffers.push_back(std::make_unique<::tflite::BufferT>());  // sentinel
    model_.subgraphs.push_back(std::make_unique<::tflite::SubGraphT>());
    graph_ = model_.subgraphs[0].get();
    graph_->name = "main";
  }

  std::string run() {
    const auto& g = onnx_.graph();
    for (const auto& t : g.initializer()) values_[t.name()].constant = read_constant(t);
    for (const auto& n : g.node())
      for (const auto& i : n.input()) ++consumers_[i];
    for (const auto& o : g.output()) ++consumers_[o.name()], graph_outputs_.insert(o.name());
    for (const auto& i : g.input()) {
      if (values_.count(i.name())) continue;
      const auto& dims = i.type().tensor_type().shape().dim();
      Shape shape;
      for (int d = 0; d < dims.size(); ++d) shape.push_back(dims[d].has_dim_value() && d > 0 ? dims[d].dim_value() : -1);
      if (i.type().tensor_type().elem_type() != onnx::TensorProto::FLOAT) fail("{}: input '{}' is not float32", origin_, i.name());
      Value v;
      v.shape = shape;
      v.tensor = add_tensor(fmt::format("{}_{}:0", options_.signature_key, i.name()), shape, ::tflite::TensorType_FLOAT32);
      graph_->inputs.push_back(v.tensor);
      signature_inputs_.emplace_back(i.name(), v.tensor);
      values_[i.name()] = v;
    }
    for (const auto& n : g.node()) convert(n);
    int out_index = 0;
    for (const auto& o : g.output()) {
      Value& v = value(o.name(), "graph output");
      if (v.nchw) fail("{}: output '{}' is NCHW; litepipe converts models whose outputs are NHWC or 2-D", origin_, o.name());
      if (v.tensor < 0) fail("{}: output '{}' is a constant", origin_, o.name());
      graph_->tensors[static_cast<size_t>(v.tensor)]->name = fmt::format("StatefulPartitionedCall:{}", out_index++);
      graph_->outputs.push_back(v.tensor);
      signature_outputs_.emplace_back(o.name(), v.tensor);
    }
    auto sig = std::make_unique<::tflite::SignatureDefT>();
    sig->signature_key = options_.signature_key;
    for (auto& [name, index] : signature_inputs_) {
      auto m = std::make_unique<::tflite::TensorMapT>();
      m->name = name;
      m->tensor_index = static_cast<uint32_t>(index);
      sig->inputs.push_back(std::move(m));
    }
    for (auto& [name, index] : signature_outputs_) {
      auto m = std::make_unique<::tflite::TensorMapT>();
      m->name = name;
      m->tensor_index = static_cast<uint32_t>(index);
      sig->outputs.push_back(std::move(m));
    }
    model_.signature_defs.push_back(std::move(sig));
    fold_scalar_affine_into_linear_ops();
    if (options_.dynamic_range_weights) quantize_weights_for_hybrid_kernels();
    if (options_.float16_weights) store_weights_as_float16();
    remove_unused_tensors();
    // min_runtime_version: the newest runtime any (op, version) needs; a 16-byte string.
    std::string min_version = min_runtime_version(model_);
    std::vector<uint8_t> text(16, 0);
    std::memcpy(text.data(), min_version.data(), min_version.size());
    auto meta = std::make_unique<::tflite::MetadataT>();
    meta->name = "min_runtime_version";
    meta->buffer = add_buffer(text);
    model_.metadata.push_back(std::move(meta));

    flatbuffers::FlatBufferBuilder fbb;
    fbb.Finish(::tflite::Model::Pack(fbb, &model_), ::tflite::ModelIdentifier());
    return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
  }

 private:
  // Constants replaced by folding or float16 copies are dropped with their buffers.
  void remove_unused_tensors() {
    std::set<int> used(graph_->inputs.begin(), graph_->inputs.end());
    used.insert(graph_->outputs.begin(), graph_->outputs.end());
    for (const auto& op : graph_->operators) {
      for (int32_t i : op->inputs) if (i >= 0) used.insert(i);
      for (int32_t i : op->outputs) used.insert(i);
    }
    std::vector<int> remap(graph_->tensors.size(), -1);
    std::vector<std::unique_ptr<::tflite::TensorT>> kept;
    std::set<uint32_t> kept_buffers = {0};
    for (size_t i = 0; i < graph_->tensors.size(); ++i) {
      if (!used.count(static_cast<int>(i))) continue;
      remap[i] = static_cast<int>(kept.size());
      kept_buffers.insert(graph_->tensors[i]->buffer);
      kept.push_back(std::move(graph_->tensors[i]));
    }
    graph_->tensors = std::move(kept);
    auto fix = [&](std::vector<int32_t>& v) { for (int32_t& i : v) if (i >= 0) i = remap[static_cast<size_t>(i)]; };
    fix(graph_->inputs);
    fix(graph_->outputs);
    for (auto& op : graph_->operators) {
      fix(op->inputs);
      fix(op->outputs);
    }
    for (auto& sig : model_.signature_defs) {
      for (auto& m : sig->inputs) m->tensor_index = static_cast<uint32_t>(remap[m->tensor_index]);
      for (auto& m : sig->outputs) m->tensor_index = static_cast<uint32_t>(remap[m->tensor_index]);
    }
    // Operator codes no operator uses any more (e.g. after weights were quantized) are dropped.
    std::vector<int> code_map(model_.operator_codes.size(), -1);
    std::vector<std::unique_ptr<::tflite::OperatorCodeT>> codes;
    for (auto& op : graph_->operators) {
      int& mapped = code_map[op->opcode_index];
      if (mapped < 0) {
        mapped = static_cast<int>(codes.size());
        codes.push_back(std::move(model_.operator_codes[op->opcode_index]));
      }
      op->opcode_index = static_cast<uint32_t>(mapped);
    }
    model_.operator_codes = std::move(codes);
    // Unreferenced buffers keep their slot (indices stay valid) but lose their bytes.
    for (size_t b = 1; b < model_.buffers.size(); ++b)
      if (!kept_buffers.count(static_cast<uint32_t>(b))) model_.buffers[b]->data.clear();
  }

  // A chain of scalar MUL / ADD (e.g. the Transform's scale_by_min_max on the raw input) feeding a
  // FULLY_CONNECTED or VALID-padded CONV_2D, possibly through RESHAPEs, is folded into that op:
  // W (a x + b) + c = (a W) x + (c + b sum W). One op fewer per scalar, and a quantized model then
  // sees the raw input, which int8 represents exactly (e.g. pixels 0..255).
  void fold_scalar_affine_into_linear_ops() {
    auto scalar = [&](int32_t t) -> std::optional<float> {
      if (t < 0) return std::nullopt;
      const auto& tensor = graph_->tensors[static_cast<size_t>(t)];
      const auto& bytes = model_.buffers[tensor->buffer]->data;
      if (tensor->type != ::tflite::TensorType_FLOAT32 || bytes.size() != 4) return std::nullopt;
      float v;
      std::memcpy(&v, bytes.data(), 4);
      return v;
    };
    std::map<int32_t, int> readers;
    for (const auto& op : graph_->operators)
      for (int32_t i : op->inputs) if (i >= 0) ++readers[i];
    for (int32_t o : graph_->outputs) readers[o] += 2;  // graph outputs are never folded away
    std::map<int32_t, size_t> writer;
    for (size_t k = 0; k < graph_->operators.size(); ++k)
      for (int32_t o : graph_->operators[k]->outputs) writer[o] = k;
    auto code_of = [&](size_t k) { return model_.operator_codes[graph_->operators[k]->opcode_index]->builtin_code; };
    std::set<size_t> removed;
    for (size_t k = 0; k < graph_->operators.size(); ++k) {
      auto& op = *graph_->operators[k];
      auto code = code_of(k);
      bool fc = code == ::tflite::BuiltinOperator_FULLY_CONNECTED;
      bool conv = code == ::tflite::BuiltinOperator_CONV_2D && op.builtin_options.AsConv2DOptions()->padding == ::tflite::Padding_VALID;
      if (!fc && !conv) continue;
      // Walk up through single-reader RESHAPEs, then the scalar MUL / ADD chain.
      std::vector<size_t> reshapes;
      int32_t t = op.inputs[0];
      while (writer.count(t) && readers[t] == 1 && code_of(writer[t]) == ::tflite::BuiltinOperator_RESHAPE) {
        reshapes.push_back(writer[t]);
        t = graph_->operators[writer[t]]->inputs[0];
      }
      float a = 1.0f, b = 0.0f;  // the chain computes a * source + b
      std::vector<size_t> chain;
      while (writer.count(t) && readers[t] == 1) {
        size_t w = writer[t];
        auto& producer = *graph_->operators[w];
        auto c = code_of(w);
        if (c != ::tflite::BuiltinOperator_MUL && c != ::tflite::BuiltinOperator_ADD) break;
        if (c == ::tflite::BuiltinOperator_MUL && producer.builtin_options.AsMulOptions() && producer.builtin_options.AsMulOptions()->fused_activation_function != 0) break;
        if (c == ::tflite::BuiltinOperator_ADD && producer.builtin_options.AsAddOptions() && producer.builtin_options.AsAddOptions()->fused_activation_function != 0) break;
        auto k0 = scalar(producer.inputs[0]), k1 = scalar(producer.inputs[1]);
        if (!k0 == !k1) break;  // exactly one scalar operand
        float v = k0 ? *k0 : *k1;
        // Walking up, the op met first is the outermost: input = a t + b with t = v s (MUL) or
        // t = s + v (ADD).
        if (c == ::tflite::BuiltinOperator_MUL) a *= v;
        else b += a * v;
        chain.push_back(w);
        t = k0 ? producer.inputs[1] : producer.inputs[0];
      }
      if (chain.empty()) continue;
      auto& weights = graph_->tensors[static_cast<size_t>(op.inputs[1])];
      if (weights->type != ::tflite::TensorType_FLOAT32) continue;
      auto& wbytes = model_.buffers[weights->buffer]->data;
      auto* w = reinterpret_cast<float*>(wbytes.data());
      const size_t count = wbytes.size() / 4, outputs = static_cast<size_t>(weights->shape[0]), per_output = count / outputs;
      std::vector<float> bias(outputs, 0.0f);
      if (op.inputs.size() > 2 && op.inputs[2] >= 0) {
        const auto& bb = model_.buffers[graph_->tensors[static_cast<size_t>(op.inputs[2])]->buffer]->data;
        std::memcpy(bias.data(), bb.data(), bb.size());
      }
      for (size_t o = 0; o < outputs; ++o) {
        double sum = 0;
        for (size_t i = 0; i < per_output; ++i) sum += w[o * per_output + i];
        bias[o] += static_cast<float>(b * sum);
        for (size_t i = 0; i < per_output; ++i) w[o * per_output + i] *= a;
      }
      std::string name = graph_->tensors[static_cast<size_t>(op.outputs[0])]->name;
      if (op.inputs.size() < 3) op.inputs.resize(3, -1);
      op.inputs[2] = add_const_float(name + "/folded_bias", bias, {static_cast<int64_t>(outputs)});
      // Re-point the first op after the chain (a RESHAPE, or this op) at the chain's source.
      if (reshapes.empty()) op.inputs[0] = t;
      else graph_->operators[reshapes.back()]->inputs[0] = t;
      removed.insert(chain.begin(), chain.end());
    }
    if (removed.empty()) return;
    std::vector<std::unique_ptr<::tflite::OperatorT>> kept;
    for (size_t k = 0; k < graph_->operators.size(); ++k)
      if (!removed.count(k)) kept.push_back(std::move(graph_->operators[k]));
    graph_->operators = std::move(kept);
  }

  // Dynamic range: weights with at least 1024 values (TFLite's weights_min_num_elements) become
  // symmetric int8 as TFLite's SymmetricQuantizeFloats does it (scale = max|w| / 127,
  // q = round(w * 127 / max|w|)): per tensor for FULLY_CONNECTED (hybrid kernel v7, asymmetric
  // inputs), per output channel (axis 0) for CONV_2D (per-channel hybrid kernel v5).
  void quantize_weights_for_hybrid_kernels() {
    for (auto& op : graph_->operators) {
      auto builtin = model_.operator_codes[op->opcode_index]->builtin_code;
      bool fc = builtin == ::tflite::BuiltinOperator_FULLY_CONNECTED, conv = builtin == ::tflite::BuiltinOperator_CONV_2D;
      if (!fc && !conv) continue;
      auto& w = graph_->tensors[static_cast<size_t>(op->inputs[1])];
      const auto& bytes = model_.buffers[w->buffer]->data;
      size_t count = bytes.size() / 4;
      if (w->type != ::tflite::TensorType_FLOAT32 || count < 1024) continue;
      // TFLite's hybrid conv clamps but cannot apply a fused TANH: keep such convs float.
      if (conv && op->builtin_options.AsConv2DOptions()->fused_activation_function == ::tflite::ActivationFunctionType_TANH) continue;
      size_t channels = conv ? static_cast<size_t>(w->shape[0]) : 1, per_channel = count / channels;
      std::vector<float> values(count);
      std::memcpy(values.data(), bytes.data(), bytes.size());
      std::vector<uint8_t> q(count, 0);
      std::vector<float> scales(channels, 1.0f);
      for (size_t c = 0; c < channels; ++c) {
        const float* v = values.data() + c * per_channel;
        float range = 0;
        for (size_t i = 0; i < per_channel; ++i) range = std::max(range, std::abs(v[i]));
        if (range == 0) continue;
        scales[c] = range / 127.0f;
        const float inv = 127.0f / range;
        for (size_t i = 0; i < per_channel; ++i) {
          auto r = static_cast<int32_t>(std::round(v[i] * inv));
          q[c * per_channel + i] = static_cast<uint8_t>(static_cast<int8_t>(std::min(127, std::max(-127, r))));
        }
      }
      Shape shape(w->shape.begin(), w->shape.end());
      int qt = add_tensor(w->name + "/int8", shape, ::tflite::TensorType_INT8, &q);
      auto& t = graph_->tensors[static_cast<size_t>(qt)];
      t->quantization = std::make_unique<::tflite::QuantizationParametersT>();
      t->quantization->scale = scales;
      t->quantization->zero_point.assign(channels, 0);
      t->quantization->quantized_dimension = 0;
      op->inputs[1] = qt;
      if (fc) {
        op->opcode_index = opcode(::tflite::BuiltinOperator_FULLY_CONNECTED, 7);
        op->builtin_options.AsFullyConnectedOptions()->asymmetric_quantize_inputs = true;
      } else {
        op->opcode_index = opcode(::tflite::BuiltinOperator_CONV_2D, 5);
      }
    }
  }

  // Each float32 constant read by an op becomes a float16 constant + a DEQUANTIZE op that runs
  // first (and once per constant).
  void store_weights_as_float16() {
    std::map<int, int> replaced;  // float32 constant -> dequantized tensor
    std::vector<std::unique_ptr<::tflite::OperatorT>> dequantize_ops;
    for (auto& op : graph_->operators) {
      for (int32_t& input : op->inputs) {
        if (input < 0) continue;
        auto& t = graph_->tensors[static_cast<size_t>(input)];
        if (t->type != ::tflite::TensorType_FLOAT32 || t->buffer == 0 || model_.buffers[t->buffer]->data.empty()) continue;
        if (auto it = replaced.find(input); it != replaced.end()) {
          input = it->second;
          continue;
        }
        const auto& bytes = model_.buffers[t->buffer]->data;
        std::vector<uint8_t> half(bytes.size() / 2);
        for (size_t i = 0; i < bytes.size() / 4; ++i) {
          float f;
          std::memcpy(&f, bytes.data() + i * 4, 4);
          uint16_t h = float_to_half(f);
          std::memcpy(half.data() + i * 2, &h, 2);
        }
        Shape shape(t->shape.begin(), t->shape.end());
        std::string name = t->name;
        int f16 = add_tensor(name, shape, ::tflite::TensorType_FLOAT16, &half);
        int restored = add_tensor(name + "/dequantize", shape, ::tflite::TensorType_FLOAT32);
        auto d = std::make_unique<::tflite::OperatorT>();
        d->opcode_index = opcode(::tflite::BuiltinOperator_DEQUANTIZE, 3);
        d->inputs = {f16};
        d->outputs = {restored};
        d->builtin_options = options(::tflite::DequantizeOptionsT{});
        dequantize_ops.push_back(std::move(d));
        replaced[input] = restored;
        input = restored;
      }
    }
    for (auto& d : dequantize_ops) graph_->operators.insert(graph_->operators.begin(), std::move(d));
  }

  [[noreturn]] void fail_node(const onnx::NodeProto& n, const std::string& message) {
    fail("{}: node '{}' ({}): {}", origin_, n.name(), n.op_type(), message);
  }

  Constant read_constant(const onnx::TensorProto& t) {
    Constant c;
    c.dims.assign(t.dims().begin(), t.dims().end());
    int64_t count = 1;
    for (int64_t d : c.dims) count *= d;
    c.values.resize(static_cast<size_t>(count));
    if (t.data_type() == onnx::TensorProto::FLOAT) {
      if (t.has_raw_data()) std::memcpy(c.values.data(), t.raw_data().data(), std::min(t.raw_data().size(), c.values.size() * 4));
      else std::copy(t.float_data().begin(), t.float_data().end(), c.values.begin());
    } else if (t.data_type() == onnx::TensorProto::INT64) {
      for (int64_t i = 0; i < count; ++i) {
        int64_t v = 0;
        if (t.has_raw_data()) std::memcpy(&v, t.raw_data().data() + i * 8, 8);
        else v = t.int64_data(static_cast<int>(i));
        c.values[static_cast<size_t>(i)] = static_cast<float>(v);
      }
    } else {
      fail("{}: initializer '{}' has ONNX data type {}; the converter takes FLOAT and INT64", origin_, t.name(), t.data_type());
    }
    return c;
  }

  Value& value(const std::string& name, const std::string& what) {
    auto it = values_.find(name);
    if (it == values_.end()) fail("{}: {} '{}' is not produced by any earlier node", origin_, what, name);
    return it->second;
  }

  uint32_t add_buffer(const std::vector<uint8_t>& data) {
    auto b = std::make_unique<::tflite::BufferT>();
    b->data = data;
    model_.buffers.push_back(std::move(b));
    return static_cast<uint32_t>(model_.buffers.size() - 1);
  }

  int add_tensor(const std::string& name, const Shape& shape, ::tflite::TensorType type, const std::vector<uint8_t>* data = nullptr) {
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
    graph_->tensors.push_back(std::move(t));
    return static_cast<int>(graph_->tensors.size() - 1);
  }

  int add_const_float(const std::string& name, const std::vector<float>& values, const Shape& shape) {
    std::vector<uint8_t> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return add_tensor(name, shape, ::tflite::TensorType_FLOAT32, &bytes);
  }
  int add_const_int32(const std::string& name, const std::vector<int32_t>& values) {
    std::vector<uint8_t> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return add_tensor(name, {static_cast<int64_t>(values.size())}, ::tflite::TensorType_INT32, &bytes);
  }

  uint32_t opcode(::tflite::BuiltinOperator op, int version) {
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

  size_t add_op(::tflite::BuiltinOperator op, int version, std::vector<int32_t> inputs, std::vector<int32_t> outputs,
                ::tflite::BuiltinOptionsUnion options = {}) {
    auto o = std::make_unique<::tflite::OperatorT>();
    o->opcode_index = opcode(op, version);
    o->inputs = std::move(inputs);
    o->outputs = std::move(outputs);
    o->builtin_options = std::move(options);
    graph_->operators.push_back(std::move(o));
    for (int32_t out : graph_->operators.back()->outputs) producer_[out] = graph_->operators.size() - 1;
    return graph_->operators.size() - 1;
  }

  template <typename T>
  static ::tflite::BuiltinOptionsUnion options(T value) {
    ::tflite::BuiltinOptionsUnion u;
    u.Set(std::move(value));
    return u;
  }

  // Materializes a constant Value as a float tensor (TFLite shape = its ONNX dims).
  int tensor_of(Value& v, const std::string& name) {
    if (v.tensor >= 0) return v.tensor;
    v.shape = v.constant->dims;
    v.tensor = add_const_float(name, v.constant->values, v.constant->dims);
    return v.tensor;
  }

  int new_output(const onnx::NodeProto& n, const Shape& shape, bool nchw = false, ::tflite::TensorType type = ::tflite::TensorType_FLOAT32) {
    Value v;
    v.shape = shape;
    v.nchw = nchw;
    v.boolean = type == ::tflite::TensorType_BOOL;
    v.tensor = add_tensor(n.output(0), shape, type);
    values_[n.output(0)] = v;
    return v.tensor;
  }

  // The activation slot of the op that produced `tensor`, if it can take a fused activation.
  ::tflite::ActivationFunctionType* fusable_activation(int tensor, const std::string& onnx_name) {
    if (consumers_[onnx_name] != 1 || graph_outputs_.count(onnx_name)) return nullptr;
    auto it = producer_.find(tensor);
    if (it == producer_.end()) return nullptr;
    auto& u = graph_->operators[it->second]->builtin_options;
    ::tflite::ActivationFunctionType* act = nullptr;
    if (auto* o = u.AsFullyConnectedOptions()) act = &o->fused_activation_function;
    else if (auto* o2 = u.AsConv2DOptions()) act = &o2->fused_activation_function;
    else if (auto* o3 = u.AsDepthwiseConv2DOptions()) act = &o3->fused_activation_function;
    else if (auto* o4 = u.AsAddOptions()) act = &o4->fused_activation_function;
    else if (auto* o5 = u.AsPool2DOptions()) act = &o5->fused_activation_function;
    return act && *act == ::tflite::ActivationFunctionType_NONE ? act : nullptr;
  }

  // TF's SAME/VALID from explicit ONNX pads; anything else cannot be expressed in TFLite.
  ::tflite::Padding padding_of(const onnx::NodeProto& n, const Shape& in, const std::vector<int64_t>& kernel,
                               const std::vector<int64_t>& strides, const std::vector<int64_t>& dil, const std::vector<int64_t>& pads) {
    if (std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; })) return ::tflite::Padding_VALID;
    for (int a = 0; a < 2; ++a) {
      int64_t size = in[static_cast<size_t>(1 + a)];
      int64_t eff = (kernel[static_cast<size_t>(a)] - 1) * dil[static_cast<size_t>(a)] + 1;
      int64_t out = (size + strides[static_cast<size_t>(a)] - 1) / strides[static_cast<size_t>(a)];
      int64_t total = std::max<int64_t>((out - 1) * strides[static_cast<size_t>(a)] + eff - size, 0);
      if (pads[static_cast<size_t>(a)] != total / 2 || pads[static_cast<size_t>(a) + 2] != total - total / 2) {
        fail_node(n, fmt::format("pads [{}] match neither TFLite's SAME nor VALID padding", fmt::join(pads, ", ")));
      }
    }
    return ::tflite::Padding_SAME;
  }

  static const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& name) {
    for (const auto& a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  static int64_t attr_i(const onnx::NodeProto& n, const std::string& name, int64_t def) {
    auto* a = attr(n, name);
    return a ? a->i() : def;
  }
  static float attr_f(const onnx::NodeProto& n, const std::string& name, float def) {
    auto* a = attr(n, name);
    return a ? a->f() : def;
  }
  static std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t> def) {
    auto* a = attr(n, name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : def;
  }

  void alias(const onnx::NodeProto& n, const Value& v) { values_[n.output(0)] = v; }

  void convert(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (!n.domain().empty() && n.domain() != "ai.onnx") fail_node(n, fmt::format("domain '{}' is not supported", n.domain()));
    if (op == "Identity" || op == "Dropout") return alias(n, value(n.input(0), "input"));
    // The other ops' lowerings expect float32 operands: a boolean may only be Where's condition.
    for (int i = 0; i < n.input_size(); ++i) {
      auto it = values_.find(n.input(i));
      if (it != values_.end() && it->second.boolean && !(op == "Where" && i == 0)) {
        fail_node(n, fmt::format("input '{}' is boolean; litepipe converts boolean tensors only as Where's condition", n.input(i)));
      }
    }
    if (op == "IsNaN") return is_nan(n);
    if (op == "Where") return where(n);
    if (op == "Transpose") return transpose(n);
    if (op == "Gemm" || op == "MatMul") return fully_connected(n);
    if (op == "Relu" || op == "Clip" || op == "Tanh") return activation(n);
    if (op == "Sigmoid") return unary(n, ::tflite::BuiltinOperator_LOGISTIC);
    if (op == "Softmax") return softmax(n);
    if (op == "Conv") return conv(n);
    if (op == "MaxPool" || op == "AveragePool") return pool(n);
    if (op == "GlobalAveragePool") return global_average_pool(n);
    if (op == "Flatten" || op == "Reshape") return reshape(n);
    if (op == "BatchNormalization") return batch_norm(n);
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return binary(n);
    if (op == "Concat") return concat(n);
    fail_node(n, "this ONNX op has no TensorFlow Lite builtin conversion in litepipe");
  }

  void transpose(const onnx::NodeProto& n) {
    Value v = value(n.input(0), "input");
    auto perm = attr_ints(n, "perm", {});
    if (v.constant) fail_node(n, "transposing a constant is not supported");
    if (v.shape.size() == 4 && !v.nchw && perm == std::vector<int64_t>{0, 3, 1, 2}) {
      v.nchw = true;  // same data; ONNX now sees it as NCHW
      return alias(n, v);
    }
    if (v.shape.size() == 4 && v.nchw && perm == std::vector<int64_t>{0, 2, 3, 1}) {
      v.nchw = false;
      return alias(n, v);
    }
    fail_node(n, fmt::format("perm [{}] is not an NHWC/NCHW layout change", fmt::join(perm, ", ")));
  }

  void fully_connected(const onnx::NodeProto& n) {
    Value& a = value(n.input(0), "input");
    Value& b = value(n.input(1), "input");
    if (a.constant || !b.constant) fail_node(n, "expects a computed input times constant weights");
    if (a.shape.size() != 2 || a.nchw) fail_node(n, fmt::format("input must be 2-D, got rank {}", a.shape.size()));
    const Constant& w = *b.constant;
    if (w.dims.size() != 2) fail_node(n, "weights must be 2-D");
    bool gemm = n.op_type() == "Gemm";
    if (gemm && attr_i(n, "transA", 0)) fail_node(n, "transA=1 is not supported");
    bool trans_b = gemm && attr_i(n, "transB", 0);
    float alpha = gemm ? attr_f(n, "alpha", 1.0f) : 1.0f, beta = gemm ? attr_f(n, "beta", 1.0f) : 1.0f;
    int64_t units = trans_b ? w.dims[0] : w.dims[1], depth = trans_b ? w.dims[1] : w.dims[0];
    if (a.shape[1] != depth) fail_node(n, fmt::format("input depth {} differs from the weights' {}", a.shape[1], depth));
    std::vector<float> weights(static_cast<size_t>(units * depth));  // [units, depth]
    for (int64_t o = 0; o < units; ++o)
      for (int64_t i = 0; i < depth; ++i)
        weights[static_cast<size_t>(o * depth + i)] = alpha * (trans_b ? w.values[static_cast<size_t>(o * depth + i)] : w.values[static_cast<size_t>(i * units + o)]);
    std::vector<int32_t> inputs = {a.tensor, add_const_float(n.output(0) + "/weights", weights, {units, depth}), -1};
    if (gemm && n.input_size() > 2 && !n.input(2).empty()) {
      Value& c = value(n.input(2), "bias");
      if (!c.constant) fail_node(n, "bias must be constant");
      std::vector<float> bias(static_cast<size_t>(units));
      for (int64_t o = 0; o < units; ++o) bias[static_cast<size_t>(o)] = beta * c.constant->values[c.constant->values.size() == 1 ? 0 : static_cast<size_t>(o)];
      inputs[2] = add_const_float(n.output(0) + "/bias", bias, {units});
    }
    int out = new_output(n, {a.shape[0], units});
    ::tflite::FullyConnectedOptionsT o;
    add_op(::tflite::BuiltinOperator_FULLY_CONNECTED, 1, inputs, {out}, options(o));
  }

  ::tflite::ActivationFunctionType activation_type(const onnx::NodeProto& n) {
    if (n.op_type() == "Relu") return ::tflite::ActivationFunctionType_RELU;
    if (n.op_type() == "Tanh") return ::tflite::ActivationFunctionType_TANH;
    float lo = -INFINITY, hi = INFINITY;
    if (n.input_size() > 1 && !n.input(1).empty()) lo = value(n.input(1), "min").constant->values.at(0);
    if (n.input_size() > 2 && !n.input(2).empty()) hi = value(n.input(2), "max").constant->values.at(0);
    if (lo == 0.0f && hi == 6.0f) return ::tflite::ActivationFunctionType_RELU6;
    if (lo == 0.0f && std::isinf(hi)) return ::tflite::ActivationFunctionType_RELU;
    if (lo == -1.0f && hi == 1.0f) return ::tflite::ActivationFunctionType_RELU_N1_TO_1;
    fail_node(n, fmt::format("Clip({}, {}) has no TFLite equivalent", lo, hi));
  }

  void activation(const onnx::NodeProto& n) {
    Value v = value(n.input(0), "input");
    auto act = activation_type(n);
    if (v.constant) fail_node(n, "activation of a constant");
    if (auto* slot = fusable_activation(v.tensor, n.input(0))) {
      *slot = act;
      return alias(n, v);
    }
    ::tflite::BuiltinOperator op = act == ::tflite::ActivationFunctionType_RELU ? ::tflite::BuiltinOperator_RELU
                                   : act == ::tflite::ActivationFunctionType_RELU6 ? ::tflite::BuiltinOperator_RELU6
                                   : act == ::tflite::ActivationFunctionType_TANH ? ::tflite::BuiltinOperator_TANH
                                                                                 : ::tflite::BuiltinOperator_RELU;
    if (act == ::tflite::ActivationFunctionType_RELU_N1_TO_1) fail_node(n, "a standalone Clip(-1, 1) is not supported");
    unary(n, op);
  }

  void unary(const onnx::NodeProto& n, ::tflite::BuiltinOperator op) {
    Value v = value(n.input(0), "input");
    if (v.constant) fail_node(n, "applied to a constant");
    int out = new_output(n, v.shape, v.nchw);
    add_op(op, 1, {v.tensor}, {out});
  }

  void softmax(const onnx::NodeProto& n) {
    Value v = value(n.input(0), "input");
    int64_t axis = attr_i(n, "axis", -1);
    if (axis < 0) axis += static_cast<int64_t>(v.shape.size());
    if (v.nchw || axis != static_cast<int64_t>(v.shape.size()) - 1) fail_node(n, "softmax must be over the last (channel) axis");
    int out = new_output(n, v.shape);
    ::tflite::SoftmaxOptionsT o;
    o.beta = 1.0f;
    add_op(::tflite::BuiltinOperator_SOFTMAX, 1, {v.tensor}, {out}, options(o));
  }

  void conv(const onnx::NodeProto& n) {
    Value v = value(n.input(0), "input");
    Value& wv = value(n.input(1), "weights");
    if (!v.nchw || v.shape.size() != 4) fail_node(n, "input must be a 4-D NCHW activation");
    if (!wv.constant) fail_node(n, "weights must be constant");
    const Constant& w = *wv.constant;
    int64_t oc = w.dims[0], icg = w.dims[1], kh = w.dims[2], kw = w.dims[3], ic = v.shape[3];
    int64_t group = attr_i(n, "group", 1);
    auto strides = attr_ints(n, "strides", {1, 1}), dil = attr_ints(n, "dilations", {1, 1}), pads = attr_ints(n, "pads", {0, 0, 0, 0});
    auto padding = padding_of(n, v.shape, {kh, kw}, strides, dil, pads);
    std::vector<float> bias;
    if (n.input_size() > 2 && !n.input(2).empty()) bias = value(n.input(2), "bias").constant->values;
    int64_t oh = padding == ::tflite::Padding_SAME ? (v.shape[1] + strides[0] - 1) / strides[0] : (v.shape[1] - (kh - 1) * dil[0] - 1) / strides[0] + 1;
    int64_t ow = padding == ::tflite::Padding_SAME ? (v.shape[2] + strides[1] - 1) / strides[1] : (v.shape[2] - (kw - 1) * dil[1] - 1) / strides[1] + 1;
    int bias_tensor = bias.empty() ? -1 : add_const_float(n.output(0) + "/bias", bias, {oc});
    if (group == 1) {
      if (icg != ic) fail_node(n, fmt::format("weights expect {} input channels, input has {}", icg, ic));
      std::vector<float> ohwi(w.values.size());
      for (int64_t o = 0; o < oc; ++o)
        for (int64_t i = 0; i < ic; ++i)
          for (int64_t y = 0; y < kh; ++y)
            for (int64_t x = 0; x < kw; ++x)
              ohwi[static_cast<size_t>(((o * kh + y) * kw + x) * ic + i)] = w.values[static_cast<size_t>(((o * ic + i) * kh + y) * kw + x)];
      int filter = add_const_float(n.output(0) + "/filter", ohwi, {oc, kh, kw, ic});
      int out = new_output(n, {v.shape[0], oh, ow, oc}, true);
      ::tflite::Conv2DOptionsT o;
      o.padding = padding;
      o.stride_h = static_cast<int32_t>(strides[0]);
      o.stride_w = static_cast<int32_t>(strides[1]);
      o.dilation_h_factor = static_cast<int32_t>(dil[0]);
      o.dilation_w_factor = static_cast<int32_t>(dil[1]);
      add_op(::tflite::BuiltinOperator_CONV_2D, 1, {v.tensor, filter, bias_tensor}, {out}, options(o));
    } else if (group == ic && icg == 1) {
      std::vector<float> filter(static_cast<size_t>(kh * kw * oc));  // [1, kh, kw, oc]
      for (int64_t o = 0; o < oc; ++o)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x) filter[static_cast<size_t>((y * kw + x) * oc + o)] = w.values[static_cast<size_t>((o * kh + y) * kw + x)];
      int f = add_const_float(n.output(0) + "/filter", filter, {1, kh, kw, oc});
      int out = new_output(n, {v.shape[0], oh, ow, oc}, true);
      ::tflite::DepthwiseConv2DOptionsT o;
      o.padding = padding;
      o.stride_h = static_cast<int32_t>(strides[0]);
      o.stride_w = static_cast<int32_t>(strides[1]);
      o.depth_multiplier = static_cast<int32_t>(oc / ic);
      o.dilation_h_factor = static_cast<int32_t>(dil[0]);
      o.dilation_w_factor = static_cast<int32_t>(dil[1]);
      add_op(::tflite::BuiltinOperator_DEPTHWISE_CONV_2D, dil[0] > 1 || dil[1] > 1 ? 2 : 1, {v.tensor, f, bias_tensor}, {out}, options(o));
    } else {
      fail_node(n, fmt::format("group={} is neither a plain nor a depthwise convolution", group));
    }
  }

  void pool(const onnx::NodeProto& n) {
    Value v = value(n.input(0), "input");
    if (!v.nchw || v.shape.size() != 4) fail_node(n, "input must be a 4-D NCHW activation");
    auto kernel = attr_ints(n, "kernel_shape", {}), strides = attr_ints(n, "strides", {1, 1}), pads = attr_ints(n, "pads", {0, 0, 0, 0});
    if (attr_i(n, "ceil_mode", 0)) fail_node(n, "ceil_mode=1 is not supported");
    bool max = n.op_type() == "MaxPool";
    auto padding = padding_of(n, v.shape, kernel, strides, {1, 1}, pads);
    if (!max && padding == ::tflite::Padding_SAME && attr_i(n, "count_include_pad", 0)) fail_node(n, "count_include_pad=1 differs from TFLite's average pool");
    int64_t oh = padding == ::tflite::Padding_SAME ? (v.shape[1] + strides[0] - 1) / strides[0] : (v.shape[1] - kernel[0]) / strides[0] + 1;
    int64_t ow = padding == ::tflite::Padding_SAME ? (v.shape[2] + strides[1] - 1) / strides[1] : (v.shape[2] - kernel[1]) / strides[1] + 1;
    int out = new_output(n, {v.shape[0], oh, ow, v.shape[3]}, true);
    ::tflite::Pool2DOptionsT o;
    o.padding = padding;
    o.stride_h = static_cast<int32_t>(strides[0]);
    o.stride_w = static_cast<int32_t>(strides[1]);
    o.filter_height = static_cast<int32_t>(kernel[0]);
    o.filter_width = static_cast<int32_t>(kernel[1]);
    add_op(max ? ::tflite::BuiltinOperator_MAX_POOL_2D : ::tflite::BuiltinOperator_AVERAGE_POOL_2D, 1, {v.tensor}, {out}, options(o));
  }

  void global_average_pool(const onnx::NodeProto& n) {
    Value v = value(n.input(0), "input");
    if (!v.nchw || v.shape.size() != 4) fail_node(n, "input must be a 4-D NCHW activation");
    int axes = add_const_int32(n.output(0) + "/axes", {1, 2});
    int out = new_output(n, {v.shape[0], 1, 1, v.shape[3]}, true);
    ::tflite::ReducerOptionsT o;
    o.keep_dims = true;
    add_op(::tflite::BuiltinOperator_MEAN, 1, {v.tensor, axes}, {out}, options(o));
  }

  void reshape(const onnx::NodeProto& n) {
    Value v = value(n.input(0), "input");
    if (v.constant) fail_node(n, "reshaping a constant is not supported");
    int64_t total = 1;
    for (size_t d = 1; d < v.shape.size(); ++d) total *= v.shape[d];
    if (v.nchw && v.shape[1] * v.shape[2] != 1) fail_node(n, "flattening an NCHW activation would reorder values (transpose to NHWC first)");
    Shape target;
    if (n.op_type() == "Flatten") {
      if (attr_i(n, "axis", 1) != 1) fail_node(n, "only axis=1 is supported");
      target = {v.shape[0], total};
    } else {
      Value& s = value(n.input(1), "shape");
      if (!s.constant) fail_node(n, "shape must be constant");
      int64_t known = 1, unknown = -1;
      for (size_t i = 0; i < s.constant->values.size(); ++i) {
        auto d = static_cast<int64_t>(s.constant->values[i]);
        if (i == 0) { target.push_back(v.shape[0]); continue; }  // the batch
        if (d == 0) d = v.shape[i];
        if (d == -1) unknown = static_cast<int64_t>(i);
        else known *= d;
        target.push_back(d);
      }
      if (unknown > 0) target[static_cast<size_t>(unknown)] = total / std::max<int64_t>(known, 1);
    }
    std::vector<int32_t> shape_values;
    for (int64_t d : target) shape_values.push_back(static_cast<int32_t>(d));
    int shape_tensor = add_const_int32(n.output(0) + "/shape", shape_values);
    int out = new_output(n, target);
    ::tflite::ReshapeOptionsT o;
    o.new_shape = shape_values;
    add_op(::tflite::BuiltinOperator_RESHAPE, 1, {v.tensor, shape_tensor}, {out}, options(o));
  }

  void batch_norm(const onnx::NodeProto& n) {
    Value v = value(n.input(0), "input");
    auto c = [&](int i) { return value(n.input(i), "batch norm parameter").constant->values; };
    std::vector<float> gamma = c(1), beta = c(2), mean = c(3), var = c(4);
    float eps = attr_f(n, "epsilon", 1e-5f);
    std::vector<float> scale(gamma.size()), shift(gamma.size());
    for (size_t i = 0; i < gamma.size(); ++i) {
      scale[i] = gamma[i] / std::sqrt(var[i] + eps);
      shift[i] = beta[i] - mean[i] * scale[i];
    }
    // Fold into the conv / fully connected op that produced the input.
    auto it = producer_.find(v.tensor);
    if (it != producer_.end() && consumers_[n.input(0)] == 1 && !graph_outputs_.count(n.input(0))) {
      auto& op = graph_->operators[it->second];
      auto builtin = model_.operator_codes[op->opcode_index]->builtin_code;
      bool conv = builtin == ::tflite::BuiltinOperator_CONV_2D, fc = builtin == ::tflite::BuiltinOperator_FULLY_CONNECTED,
           dw = builtin == ::tflite::BuiltinOperator_DEPTHWISE_CONV_2D;
      if ((conv || fc || dw) && fusable_activation(v.tensor, n.input(0))) {
        auto& filter = graph_->tensors[static_cast<size_t>(op->inputs[1])];
        auto& data = model_.buffers[filter->buffer]->data;
        auto* w = reinterpret_cast<float*>(data.data());
        size_t count = data.size() / 4, channels = scale.size();
        for (size_t i = 0; i < count; ++i) w[i] *= scale[dw ? i % channels : i / (count / channels)];
        std::vector<float> bias(channels, 0.0f);
        if (op->inputs[2] >= 0) {
          auto& b = model_.buffers[graph_->tensors[static_cast<size_t>(op->inputs[2])]->buffer]->data;
          std::memcpy(bias.data(), b.data(), b.size());
        }
        for (size_t i = 0; i < channels; ++i) bias[i] = bias[i] * scale[i] + shift[i];
        op->inputs[2] = add_const_float(n.output(0) + "/folded_bias", bias, {static_cast<int64_t>(channels)});
        return alias(n, v);
      }
    }
    int64_t channels = static_cast<int64_t>(scale.size());
    int s = add_const_float(n.output(0) + "/scale", scale, {channels});
    int b = add_const_float(n.output(0) + "/shift", shift, {channels});
    Value scaled;
    scaled.shape = v.shape;
    scaled.nchw = v.nchw;
    scaled.tensor = add_tensor(n.output(0) + "/scaled", v.shape, ::tflite::TensorType_FLOAT32);
    ::tflite::MulOptionsT mo;
    add_op(::tflite::BuiltinOperator_MUL, 1, {v.tensor, s}, {scaled.tensor}, options(mo));
    int out = new_output(n, v.shape, v.nchw);
    ::tflite::AddOptionsT ao;
    add_op(::tflite::BuiltinOperator_ADD, 1, {scaled.tensor, b}, {out}, options(ao));
  }

  // A constant operand in the TFLite layout of the other operand.
  int constant_operand(const onnx::NodeProto& n, Value& c, const Value& other) {
    const Constant& k = *c.constant;
    size_t count = k.values.size();
    if (count == 1) return add_const_float(n.output(0) + "/scalar", k.values, {});
    if (other.nchw) {
      // Per-channel constants of an NCHW view ([C,1,1] or [1,C,1,1]) become [C] in NHWC.
      int64_t channels = other.shape[3];
      if (static_cast<int64_t>(count) == channels) return add_const_float(n.output(0) + "/channel_constant", k.values, {channels});
      fail_node(n, "a constant operand of an NCHW activation must be a scalar or per channel");
    }
    return tensor_of(c, n.output(0) + "/constant");
  }

  void binary(const onnx::NodeProto& n) {
    Value& a = value(n.input(0), "input");
    Value& b = value(n.input(1), "input");
    const std::string& op = n.op_type();
    auto apply = [&](float x, float y) { return op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : x / y; };
    if (a.constant && b.constant) {  // constant folding (scalars and equal shapes)
      const Constant &x = *a.constant, &y = *b.constant;
      Constant r = x.values.size() >= y.values.size() ? x : y;
      for (size_t i = 0; i < r.values.size(); ++i) {
        r.values[i] = apply(x.values[x.values.size() == 1 ? 0 : i], y.values[y.values.size() == 1 ? 0 : i]);
      }
      Value v;
      v.constant = r;
      return alias(n, v);
    }
    ::tflite::BuiltinOperator code = op == "Add" ? ::tflite::BuiltinOperator_ADD : op == "Sub" ? ::tflite::BuiltinOperator_SUB
                                     : op == "Mul" ? ::tflite::BuiltinOperator_MUL : ::tflite::BuiltinOperator_DIV;
    const Value& computed = a.constant ? b : a;
    int ta = a.constant ? constant_operand(n, a, b) : a.tensor;
    int tb = b.constant ? constant_operand(n, b, a) : b.tensor;
    if (!a.constant && !b.constant && a.nchw != b.nchw) fail_node(n, "operands have different layouts");
    // The output has the broadcast shape of both operands (numpy rules; a dynamic batch stays -1).
    Shape shape = computed.shape;
    if (!computed.nchw) {
      const Shape& sa = a.constant ? a.constant->dims : a.shape;
      const Shape& sb = b.constant ? b.constant->dims : b.shape;
      shape.assign(std::max(sa.size(), sb.size()), 1);
      for (size_t i = 0; i < shape.size(); ++i) {
        int64_t da = i < sa.size() ? sa[sa.size() - 1 - i] : 1, db = i < sb.size() ? sb[sb.size() - 1 - i] : 1;
        if (da != db && da != 1 && db != 1 && da >= 0 && db >= 0) fail_node(n, fmt::format("shapes do not broadcast ({} and {})", da, db));
        shape[shape.size() - 1 - i] = da == 1 ? db : db == 1 ? da : std::min(da, db);
      }
    }
    int out = new_output(n, shape, computed.nchw);
    ::tflite::BuiltinOptionsUnion u;
    if (code == ::tflite::BuiltinOperator_ADD) u = options(::tflite::AddOptionsT{});
    else if (code == ::tflite::BuiltinOperator_SUB) u = options(::tflite::SubOptionsT{});
    else if (code == ::tflite::BuiltinOperator_MUL) u = options(::tflite::MulOptionsT{});
    else u = options(::tflite::DivOptionsT{});
    add_op(code, 1, {ta, tb}, {out}, std::move(u));
  }

  // IsNaN(x) -> NOT_EQUAL(x, x): NaN is the only value unequal to itself.
  void is_nan(const onnx::NodeProto& n) {
    Value v = value(n.input(0), "input");
    if (v.constant) fail_node(n, "applied to a constant");
    int out = new_output(n, v.shape, v.nchw, ::tflite::TensorType_BOOL);
    add_op(::tflite::BuiltinOperator_NOT_EQUAL, 1, {v.tensor, v.tensor}, {out}, options(::tflite::NotEqualOptionsT{}));
  }

  // Where(c, a, b) -> SELECT_V2(c, a, b), which broadcasts all three as ONNX does (SELECT needs
  // equal shapes); constant operands become float32 tensors.
  void where(const onnx::NodeProto& n) {
    if (n.input_size() != 3) fail_node(n, fmt::format("expects 3 inputs, got {}", n.input_size()));
    Value& c = value(n.input(0), "condition");
    Value& a = value(n.input(1), "input");
    Value& b = value(n.input(2), "input");
    if (!c.boolean) fail_node(n, "the condition must be a computed boolean tensor (e.g. IsNaN's output)");
    for (const Value* v : {&a, &b}) {
      if (!v->constant && v->nchw != c.nchw) fail_node(n, "operands have different layouts");
    }
    int ta = a.constant ? constant_operand(n, a, c) : a.tensor;
    int tb = b.constant ? constant_operand(n, b, c) : b.tensor;
    auto shape_of = [&](const Value& v, int t) {
      return v.constant ? Shape(graph_->tensors[static_cast<size_t>(t)]->shape.begin(), graph_->tensors[static_cast<size_t>(t)]->shape.end()) : v.shape;
    };
    Shape shape = broadcast(n, broadcast(n, c.shape, shape_of(a, ta)), shape_of(b, tb));
    int out = new_output(n, shape, c.nchw);
    add_op(::tflite::BuiltinOperator_SELECT_V2, 1, {c.tensor, ta, tb}, {out}, options(::tflite::SelectV2OptionsT{}));
  }

  // NumPy broadcasting of TFLite shapes; -1 (the dynamic batch) stays dynamic.
  Shape broadcast(const onnx::NodeProto& n, const Shape& x, const Shape& y) {
    size_t r = std::max(x.size(), y.size());
    Shape out(r);
    for (size_t i = 0; i < r; ++i) {
      int64_t dx = i < r - x.size() ? 1 : x[i - (r - x.size())], dy = i < r - y.size() ? 1 : y[i - (r - y.size())];
      if (dx == dy || dy == 1) out[i] = dx;
      else if (dx == 1) out[i] = dy;
      else if (dx == -1 || dy == -1) out[i] = -1;
      else fail_node(n, fmt::format("shapes [{}] and [{}] do not broadcast", fmt::join(x, ", "), fmt::join(y, ", ")));
    }
    return out;
  }

  void concat(const onnx::NodeProto& n) {
    std::vector<int32_t> inputs;
    Value first = value(n.input(0), "input");
    int64_t axis = attr_i(n, "axis", 0);
    if (axis < 0) axis += static_cast<int64_t>(first.shape.size());
    int64_t tfl_axis = first.nchw ? std::vector<int64_t>{0, 3, 1, 2}[static_cast<size_t>(axis)] : axis;
    Shape shape = first.shape;
    shape[static_cast<size_t>(tfl_axis)] = 0;
    for (const auto& name : n.input()) {
      Value& v = value(name, "input");
      if (v.constant || v.nchw != first.nchw) fail_node(n, "inputs must be computed tensors of one layout");
      inputs.push_back(v.tensor);
      shape[static_cast<size_t>(tfl_axis)] += v.shape[static_cast<size_t>(tfl_axis)];
    }
    int out = new_output(n, shape, first.nchw);
    ::tflite::ConcatenationOptionsT o;
    o.axis = static_cast<int32_t>(tfl_axis);
    add_op(::tflite::BuiltinOperator_CONCATENATION, 1, inputs, {out}, options(o));
  }

  const onnx::ModelProto& onnx_;
  ConverterOptions options_;
  std::string origin_;
  ::tflite::ModelT model_;
  ::tflite::SubGraphT* graph_;
  std::map<std::string, Value> values_;
  std::map<std::string, int> consumers_;
  std::set<std::string> graph_outputs_;
  std::map<int, size_t> producer_;  // tensor -> operator index
  std::vector<std::pair<std::string, int>> signature_inputs_, signature_outputs_;
};

}  // namespace

std::string convert_onnx_to_tflite(const onnx::ModelProto& model, const ConverterOptions& options, const std::string& origin) {
  const int modes = int{options.float16_weights} + int{options.dynamic_range_weights} + int{options.full_integer};
  if (modes > 1) fail("{}: choose one of float16, dynamic-range and full-integer quantization", origin);
  std::string tflite = Converter(model, options, origin).run();
  if (options.full_integer) {
    tflite = quantize_full_integer(tflite, options.representative_dataset,
                                   {.signature_key = options.signature_key, .int8_input_output = options.int8_input_output,
                                    .per_channel_fully_connected = options.per_channel_fully_connected}, origin);
  }
  // Class names travel as TFLite Support metadata: TFLITE_METADATA and labels.txt, last, so that
  // every quantization keeps them.
  std::vector<std::string> class_names = onnx_class_names(model, origin);
  if (class_names.empty()) return tflite;
  std::string name = model.graph().name().empty() ? "litepipe model" : model.graph().name();
  std::string producer = model.producer_name();
  if (!producer.empty() && !model.producer_version().empty()) producer += " " + model.producer_version();
  ClassifierMetadata metadata{
      .name = name,
      .description = fmt::format("{}: classifies its input into {} classes, one score per class (labels in {}). Converted by litepipe "
                                 "from ONNX{}.", name, class_names.size(), kLabelFileName, producer.empty() ? "" : " (made by " + producer + ")"),
      .version = model.model_version() > 0 ? std::to_string(model.model_version()) : "",
      .class_names = class_names};
  return populate_classifier_metadata(tflite, metadata, origin);
}

}  // namespace litepipe::tfl
