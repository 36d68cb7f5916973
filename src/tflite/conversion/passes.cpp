// The converter's graph passes over the TFLite model it built (object API), run in this order
// after every ONNX node is lowered.
#include "tflite/conversion/passes.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "tflite/runtime/fp16.h"

namespace litepipe::tfl {

// Constants replaced by folding or float16 copies are dropped with their buffers.
void remove_unused_tensors(ModelBuilder& builder) {
  ::tflite::ModelT& m = builder.model();
  ::tflite::SubGraphT& g = builder.graph();
  std::set<int> used(g.inputs.begin(), g.inputs.end());
  used.insert(g.outputs.begin(), g.outputs.end());
  for (const auto& op : g.operators) {
    for (int32_t i : op->inputs) if (i >= 0) used.insert(i);
    for (int32_t i : op->outputs) used.insert(i);
  }
  std::vector<int> remap(g.tensors.size(), -1);
  std::vector<std::unique_ptr<::tflite::TensorT>> kept;
  std::set<uint32_t> kept_buffers = {0};
  for (size_t i = 0; i < g.tensors.size(); ++i) {
    if (!used.count(static_cast<int>(i))) continue;
    remap[i] = static_cast<int>(kept.size());
    kept_buffers.insert(g.tensors[i]->buffer);
    kept.push_back(std::move(g.tensors[i]));
  }
  g.tensors = std::move(kept);
  auto fix = [&](std::vector<int32_t>& v) { for (int32_t& i : v) if (i >= 0) i = remap[static_cast<size_t>(i)]; };
  fix(g.inputs);
  fix(g.outputs);
  for (auto& op : g.operators) {
    fix(op->inputs);
    fix(op->outputs);
  }
  for (auto& sig : m.signature_defs) {
    for (auto& m : sig->inputs) m->tensor_index = static_cast<uint32_t>(remap[m->tensor_index]);
    for (auto& m : sig->outputs) m->tensor_index = static_cast<uint32_t>(remap[m->tensor_index]);
  }
  // Operator codes no operator uses any more (e.g. after weights were quantized) are dropped.
  std::vector<int> code_map(m.operator_codes.size(), -1);
  std::vector<std::unique_ptr<::tflite::OperatorCodeT>> codes;
  for (auto& op : g.operators) {
    int& mapped = code_map[op->opcode_index];
    if (mapped < 0) {
      mapped = static_cast<int>(codes.size());
      codes.push_back(std::move(m.operator_codes[op->opcode_index]));
    }
    op->opcode_index = static_cast<uint32_t>(mapped);
  }
  m.operator_codes = std::move(codes);
  // Unreferenced buffers keep their slot (indices stay valid) but lose their bytes.
  for (size_t b = 1; b < m.buffers.size(); ++b)
    if (!kept_buffers.count(static_cast<uint32_t>(b))) m.buffers[b]->data.clear();
}

// A chain of scalar MUL / ADD (e.g. the Transform's scale_by_min_max on the raw input) feeding a
// FULLY_CONNECTED or CONV_2D, possibly through RESHAPEs, is folded into that op:
// W (a x + b) + c = (a W) x + (c + b sum W). A SAME-padded CONV_2D takes only a pure scale (b = 0):
// its padding adds zeros after the chain, which an offset would reach at the borders. One op fewer per scalar, and a quantized model then
// sees the raw input, which int8 represents exactly (e.g. pixels 0..255).
void fold_scalar_affine_into_linear_ops(ModelBuilder& builder) {
  ::tflite::ModelT& m = builder.model();
  ::tflite::SubGraphT& g = builder.graph();
  auto scalar = [&](int32_t t) -> std::optional<float> {
    if (t < 0) return std::nullopt;
    const auto& tensor = g.tensors[static_cast<size_t>(t)];
    const auto& bytes = m.buffers[tensor->buffer]->data;
    if (tensor->type != ::tflite::TensorType_FLOAT32 || bytes.size() != 4) return std::nullopt;
    float v;
    std::memcpy(&v, bytes.data(), 4);
    return v;
  };
  std::map<int32_t, int> readers;
  for (const auto& op : g.operators)
    for (int32_t i : op->inputs) if (i >= 0) ++readers[i];
  for (int32_t o : g.outputs) readers[o] += 2;  // graph outputs are never folded away
  std::map<int32_t, size_t> writer;
  for (size_t k = 0; k < g.operators.size(); ++k)
    for (int32_t o : g.operators[k]->outputs) writer[o] = k;
  auto code_of = [&](size_t k) { return m.operator_codes[g.operators[k]->opcode_index]->builtin_code; };
  std::set<size_t> removed;
  for (size_t k = 0; k < g.operators.size(); ++k) {
    auto& op = *g.operators[k];
    auto code = code_of(k);
    bool fc = code == ::tflite::BuiltinOperator_FULLY_CONNECTED;
    bool conv = code == ::tflite::BuiltinOperator_CONV_2D;
    bool same_padding = conv && op.builtin_options.AsConv2DOptions()->padding == ::tflite::Padding_SAME;
    if (!fc && !conv) continue;
    // Walk up through single-reader RESHAPEs, then the scalar MUL / ADD chain.
    std::vector<size_t> reshapes;
    int32_t t = op.inputs[0];
    while (writer.count(t) && readers[t] == 1 && code_of(writer[t]) == ::tflite::BuiltinOperator_RESHAPE) {
      reshapes.push_back(writer[t]);
      t = g.operators[writer[t]]->inputs[0];
    }
    float a = 1.0f, b = 0.0f;  // the chain computes a * source + b
    std::vector<size_t> chain;
    while (writer.count(t) && readers[t] == 1) {
      size_t w = writer[t];
      auto& producer = *g.operators[w];
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
    if (chain.empty() || (same_padding && b != 0.0f)) continue;
    auto& weights = g.tensors[static_cast<size_t>(op.inputs[1])];
    if (weights->type != ::tflite::TensorType_FLOAT32) continue;
    auto& wbytes = m.buffers[weights->buffer]->data;
    auto* w = reinterpret_cast<float*>(wbytes.data());
    const size_t count = wbytes.size() / 4, outputs = static_cast<size_t>(weights->shape[0]), per_output = count / outputs;
    std::vector<float> bias(outputs, 0.0f);
    if (op.inputs.size() > 2 && op.inputs[2] >= 0) {
      const auto& bb = m.buffers[g.tensors[static_cast<size_t>(op.inputs[2])]->buffer]->data;
      std::memcpy(bias.data(), bb.data(), bb.size());
    }
    for (size_t o = 0; o < outputs; ++o) {
      double sum = 0;
      for (size_t i = 0; i < per_output; ++i) sum += w[o * per_output + i];
      bias[o] += static_cast<float>(b * sum);
      for (size_t i = 0; i < per_output; ++i) w[o * per_output + i] *= a;
    }
    std::string name = g.tensors[static_cast<size_t>(op.outputs[0])]->name;
    if (op.inputs.size() < 3) op.inputs.resize(3, -1);
    op.inputs[2] = builder.add_const_float(name + "/folded_bias", bias, {static_cast<int64_t>(outputs)});
    // Re-point the first op after the chain (a RESHAPE, or this op) at the chain's source.
    if (reshapes.empty()) op.inputs[0] = t;
    else g.operators[reshapes.back()]->inputs[0] = t;
    removed.insert(chain.begin(), chain.end());
  }
  if (removed.empty()) return;
  std::vector<std::unique_ptr<::tflite::OperatorT>> kept;
  for (size_t k = 0; k < g.operators.size(); ++k)
    if (!removed.count(k)) kept.push_back(std::move(g.operators[k]));
  g.operators = std::move(kept);
}

// Dynamic range: weights with at least 1024 values (TFLite's weights_min_num_elements) become
// symmetric int8 as TFLite's SymmetricQuantizeFloats does it (scale = max|w| / 127,
// q = round(w * 127 / max|w|)): per tensor for FULLY_CONNECTED (hybrid kernel with
// asymmetric_quantize_inputs: version 9 by op_version.cc), per output channel (axis 0) for CONV_2D
// (per-channel hybrid kernel v5).
void quantize_weights_for_hybrid_kernels(ModelBuilder& builder) {
  ::tflite::ModelT& m = builder.model();
  ::tflite::SubGraphT& g = builder.graph();
  for (auto& op : g.operators) {
    auto builtin = m.operator_codes[op->opcode_index]->builtin_code;
    bool fc = builtin == ::tflite::BuiltinOperator_FULLY_CONNECTED, conv = builtin == ::tflite::BuiltinOperator_CONV_2D;
    if (!fc && !conv) continue;
    auto& w = g.tensors[static_cast<size_t>(op->inputs[1])];
    const auto& bytes = m.buffers[w->buffer]->data;
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
    int qt = builder.add_tensor(w->name + "/int8", shape, ::tflite::TensorType_INT8, &q);
    auto& t = g.tensors[static_cast<size_t>(qt)];
    t->quantization = std::make_unique<::tflite::QuantizationParametersT>();
    t->quantization->scale = scales;
    t->quantization->zero_point.assign(channels, 0);
    t->quantization->quantized_dimension = 0;
    op->inputs[1] = qt;
    if (fc) {
      op->opcode_index = builder.opcode(::tflite::BuiltinOperator_FULLY_CONNECTED, 9);
      op->builtin_options.AsFullyConnectedOptions()->asymmetric_quantize_inputs = true;
    } else {
      op->opcode_index = builder.opcode(::tflite::BuiltinOperator_CONV_2D, 5);
    }
  }
}

// Each float32 constant read by an op becomes a float16 constant + a DEQUANTIZE op that runs
// first (and once per constant).
void store_weights_as_float16(ModelBuilder& builder) {
  ::tflite::ModelT& m = builder.model();
  ::tflite::SubGraphT& g = builder.graph();
  std::map<int, int> replaced;  // float32 constant -> dequantized tensor
  std::vector<std::unique_ptr<::tflite::OperatorT>> dequantize_ops;
  for (auto& op : g.operators) {
    for (int32_t& input : op->inputs) {
      if (input < 0) continue;
      auto& t = g.tensors[static_cast<size_t>(input)];
      if (t->type != ::tflite::TensorType_FLOAT32 || t->buffer == 0 || m.buffers[t->buffer]->data.empty()) continue;
      if (auto it = replaced.find(input); it != replaced.end()) {
        input = it->second;
        continue;
      }
      const auto& bytes = m.buffers[t->buffer]->data;
      std::vector<uint8_t> half(bytes.size() / 2);
      for (size_t i = 0; i < bytes.size() / 4; ++i) {
        float f;
        std::memcpy(&f, bytes.data() + i * 4, 4);
        uint16_t h = float_to_half(f);
        std::memcpy(half.data() + i * 2, &h, 2);
      }
      Shape shape(t->shape.begin(), t->shape.end());
      std::string name = t->name;
      int f16 = builder.add_tensor(name, shape, ::tflite::TensorType_FLOAT16, &half);
      int restored = builder.add_tensor(name + "/dequantize", shape, ::tflite::TensorType_FLOAT32);
      auto d = std::make_unique<::tflite::OperatorT>();
      d->opcode_index = builder.opcode(::tflite::BuiltinOperator_DEQUANTIZE, 3);
      d->inputs = {f16};
      d->outputs = {restored};
      d->builtin_options = ModelBuilder::options(::tflite::DequantizeOptionsT{});
      dequantize_ops.push_back(std::move(d));
      replaced[input] = restored;
      input = restored;
    }
  }
  for (auto& d : dequantize_ops) g.operators.insert(g.operators.begin(), std::move(d));
}

}  // namespace litepipe::tfl
