#include "tflite/conversion/quantizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "tflite/runtime/interpreter.h"
#include "tflite/conversion/op_versions.h"
#include "tflite_subset_generated.h"

namespace litepipe::tfl {

ActivationRanges calibrate(const std::string& float_model, const std::vector<RepresentativeBatch>& batches,
                           const std::string& signature_key, const std::string& origin) {
  if (batches.empty()) fail("{}: full-integer quantization needs a representative dataset with at least one batch", origin);
  Interpreter interpreter(float_model, origin);
  interpreter.set_num_threads(-1);  // representative batches may be large: the caller's threads
  auto sig = interpreter.signatures().find(signature_key);
  if (sig == interpreter.signatures().end()) fail("{}: no signature '{}'", origin, signature_key);
  ActivationRanges ranges;
  auto record = [&](int index) {
    const Tensor& t = interpreter.tensor(index);
    if (t.type != DType::Float32 || t.constant) return;
    const float* v = t.as<float>();
    auto [lo, hi] = std::minmax_element(v, v + t.elements());
    auto [it, inserted] = ranges.by_tensor.emplace(index, std::make_pair(*lo, *hi));
    if (!inserted) it->second = {std::min(it->second.first, *lo), std::max(it->second.second, *hi)};
  };
  for (size_t b = 0; b < batches.size(); ++b) {
    for (const auto& [name, index] : sig->second.inputs) {
      auto feed = batches[b].find(name);
      if (feed == batches[b].end()) fail("{}: representative batch {} has no input '{}'", origin, b, name);
      auto pos = std::find(interpreter.inputs().begin(), interpreter.inputs().end(), index);
      interpreter.resize_input(static_cast<size_t>(pos - interpreter.inputs().begin()),
                               std::vector<int32_t>(feed->second.shape().begin(), feed->second.shape().end()));
    }
    interpreter.allocate_tensors();
    for (const auto& [name, index] : sig->second.inputs) {
      Tensor& t = interpreter.tensor(index);
      if (t.type != DType::Float32) fail("{}: input '{}' is {}; calibration runs float32 models", origin, name, dtype_name(t.type));
      std::memcpy(t.data, batches[b].at(name).data(), t.bytes());
      record(index);
    }
    interpreter.invoke([&](const Node& node) {
      for (int o : node.outputs) record(o);
    });
  }
  return ranges;
}

namespace {

using ::tflite::BuiltinOperator;

struct Params {
  float scale;
  int64_t zero_point;
};

// TFLite's asymmetric int8 parameters for a real range (0 always representable).
Params asymmetric_params(float lo, float hi) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  if (lo == hi) return {1.0f, 0};
  const float qmin = -128.0f, qmax = 127.0f;
  const float scale = (hi - lo) / (qmax - qmin);
  const float zero_point_from_min = qmin - lo / scale;
  int64_t zp = zero_point_from_min < qmin ? -128 : zero_point_from_min > qmax ? 127 : static_cast<int64_t>(std::round(zero_point_from_min));
  return {scale, zp};
}

class FullIntegerQuantizer {
 public:
  FullIntegerQuantizer(const std::string& float_model, const FullIntegerOptions& options, std::string origin)
      : options_(options), origin_(std::move(origin)) {
    model_ = ::tflite::UnPackModel(float_model.data());
    if (!model_ || model_->subgraphs.size() != 1) fail("{}: full-integer quantization needs a single-subgraph model", origin_);
    graph_ = model_->subgraphs[0].get();
  }

  // Fails on an operator without an int8 kernel (before any calibration work).
  void check_supported() { check_operators(); }

  std::string run(const ActivationRanges& ranges) {
    ranges_ = &ranges;
    // Activations: graph inputs first, then each operator's output in execution order, so a
    // same-scale op (reshape, pooling) can copy its input's parameters.
    // An input read only by CAST (ids for GATHER) stays float32: CAST takes float.
    for (int32_t i : graph_->inputs)
      if (!read_only_by_cast(i)) quantize_activation(i, range_params(i));
    std::vector<std::unique_ptr<::tflite::OperatorT>> ordered;
    for (auto& op : graph_->operators) {
      BuiltinOperator code = builtin(*op);
      int32_t out = op->outputs.at(0);
      if (code == ::tflite::BuiltinOperator_CAST) {
        // int32 indices: nothing to quantize.
      } else if (code == ::tflite::BuiltinOperator_GATHER) {
        // TFLite's quantizer: the table is quantized as an activation (asymmetric over its range)
        // and the output keeps its parameters (same scale in and out).
        if (!is_constant(op->inputs.at(0))) fail("{}: full-integer quantization: GATHER's table '{}' is not constant", origin_, tensor(op->inputs[0]).name);
        quantize_constant_operand(op->inputs[0]);
        quantize_activation(out, params_.at(op->inputs[0]));
      } else if (code == ::tflite::BuiltinOperator_RESHAPE || code == ::tflite::BuiltinOperator_MAX_POOL_2D ||
          code == ::tflite::BuiltinOperator_AVERAGE_POOL_2D || code == ::tflite::BuiltinOperator_PAD ||
          code == ::tflite::BuiltinOperator_REDUCE_MAX || code == ::tflite::BuiltinOperator_RESIZE_NEAREST_NEIGHBOR) {
        // TFLite requires the input's parameters on the output (PAD then pads with the zero point).
        quantize_activation(out, params_.at(op->inputs.at(0)));
      } else if (code == ::tflite::BuiltinOperator_SOFTMAX || code == ::tflite::BuiltinOperator_LOGISTIC) {
        quantize_activation(out, {1.0f / 256.0f, -128});  // TFLite's fixed int8 output of (0, 1)
      } else if (code == ::tflite::BuiltinOperator_TANH) {
        quantize_activation(out, {1.0f / 128.0f, 0});  // ... and of (-1, 1)
      } else {
        quantize_activation(out, range_params(out));
      }
      // TFLite's int8 concatenation takes inputs at the output's parameters: requantize the others.
      if (code == ::tflite::BuiltinOperator_CONCATENATION) {
        const Params target = params_.at(out);
        for (int32_t& input : op->inputs) {
          const Params p = params_.at(input);
          if (p.scale == target.scale && p.zero_point == target.zero_point) continue;
          const int32_t requantized = add_activation_tensor(tensor(input).name + "/requantized", tensor(input), target);
          ordered.push_back(make_op(::tflite::BuiltinOperator_QUANTIZE, 1, input, requantized));
          ordered.back()->builtin_options.Set(::tflite::QuantizeOptionsT{});
          input = requantized;
        }
      }
      ordered.push_back(std::move(op));
    }
    graph_->operators = std::move(ordered);
    for (auto& op : graph_->operators) quantize_constants(*op);
    for (auto& op : graph_->operators) set_int8_version(*op);
    if (!options_.int8_input_output) wrap_with_float_io();
    drop_unused_operator_codes();
    update_min_runtime_version();
    flatbuffers::FlatBufferBuilder fbb;
    fbb.Finish(::tflite::Model::Pack(fbb, model_.get()), ::tflite::ModelIdentifier());
    return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
  }

 private:
  BuiltinOperator builtin(const ::tflite::OperatorT& op) const { return model_->operator_codes[op.opcode_index]->builtin_code; }

  void check_operators() {
    static const std::set<BuiltinOperator> supported = {
        ::tflite::BuiltinOperator_FULLY_CONNECTED, ::tflite::BuiltinOperator_CONV_2D, ::tflite::BuiltinOperator_DEPTHWISE_CONV_2D,
        ::tflite::BuiltinOperator_MAX_POOL_2D, ::tflite::BuiltinOperator_AVERAGE_POOL_2D, ::tflite::BuiltinOperator_RESHAPE,
        ::tflite::BuiltinOperator_SOFTMAX, ::tflite::BuiltinOperator_ADD, ::tflite::BuiltinOperator_MUL,
        ::tflite::BuiltinOperator_SUB, ::tflite::BuiltinOperator_CONCATENATION, ::tflite::BuiltinOperator_RELU,
        ::tflite::BuiltinOperator_RELU6, ::tflite::BuiltinOperator_LOGISTIC, ::tflite::BuiltinOperator_TANH,
        ::tflite::BuiltinOperator_MEAN, ::tflite::BuiltinOperator_GATHER, ::tflite::BuiltinOperator_CAST,
        ::tflite::BuiltinOperator_HARD_SWISH, ::tflite::BuiltinOperator_PAD, ::tflite::BuiltinOperator_REDUCE_MAX,
        ::tflite::BuiltinOperator_RESIZE_NEAREST_NEIGHBOR, ::tflite::BuiltinOperator_RSQRT};
    for (size_t k = 0; k < graph_->operators.size(); ++k) {
      auto code = builtin(*graph_->operators[k]);
      if (!supported.count(code)) {
        fail("{}: full-integer quantization: operator {} is {}, which has no int8 kernel in litepipe "
             "(int8 ops: FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE, SOFTMAX, ADD, SUB, MUL, "
             "CONCATENATION, RELU, RELU6, LOGISTIC, TANH, MEAN, REDUCE_MAX, PAD, RESIZE_NEAREST_NEIGHBOR, GATHER, HARD_SWISH, RSQRT; CAST of float ids)",
             origin_, k, ::tflite::EnumNameBuiltinOperator(code));
      }
      if (auto* fc = graph_->operators[k]->builtin_options.AsFullyConnectedOptions(); fc && fc->fused_activation_function == ::tflite::ActivationFunctionType_TANH) {
        fail("{}: full-integer quantization: operator {} (FULLY_CONNECTED) fuses TANH, which int8 kernels cannot", origin_, k);
      }
      if (auto* conv = graph_->operators[k]->builtin_options.AsConv2DOptions(); conv && conv->fused_activation_function == ::tflite::ActivationFunctionType_TANH) {
        fail("{}: full-integer quantization: operator {} (CONV_2D) fuses TANH, which int8 kernels cannot", origin_, k);
      }
    }
  }

  ::tflite::TensorT& tensor(int32_t index) { return *graph_->tensors.at(static_cast<size_t>(index)); }
  bool read_only_by_cast(int32_t index) const {
    bool read = false;
    for (const auto& op : graph_->operators) {
      if (std::find(op->inputs.begin(), op->inputs.end(), index) == op->inputs.end()) continue;
      if (builtin(*op) != ::tflite::BuiltinOperator_CAST) return false;
      read = true;
    }
    return read;
  }
  std::vector<uint8_t>& data(int32_t index) { return model_->buffers.at(tensor(index).buffer)->data; }
  bool is_constant(int32_t index) { return tensor(index).buffer != 0 && !data(index).empty(); }

  Params range_params(int32_t index) {
    auto it = ranges_->by_tensor.find(index);
    if (it == ranges_->by_tensor.end()) {
      fail("{}: full-integer quantization: tensor '{}' was never computed on the representative dataset", origin_, tensor(index).name);
    }
    return asymmetric_params(it->second.first, it->second.second);
  }

  void set_quantization(::tflite::TensorT& t, std::vector<float> scales, std::vector<int64_t> zero_points, int32_t axis = 0) {
    t.quantization = std::make_unique<::tflite::QuantizationParametersT>();
    t.quantization->scale = std::move(scales);
    t.quantization->zero_point = std::move(zero_points);
    t.quantization->quantized_dimension = axis;
  }

  void quantize_activation(int32_t index, Params p) {
    auto& t = tensor(index);
    if (t.type != ::tflite::TensorType_FLOAT32 || is_constant(index)) return;
    t.type = ::tflite::TensorType_INT8;
    set_quantization(t, {p.scale}, {p.zero_point});
    params_[index] = p;
  }

  // A new int8 activation tensor shaped like `like`, with parameters `p`.
  int32_t add_activation_tensor(const std::string& name, const ::tflite::TensorT& like, Params p) {
    auto t = std::make_unique<::tflite::TensorT>();
    t->name = name;
    t->type = ::tflite::TensorType_INT8;
    t->shape = like.shape;
    t->shape_signature = like.shape_signature;
    set_quantization(*t, {p.scale}, {p.zero_point});
    graph_->tensors.push_back(std::move(t));
    const auto index = static_cast<int32_t>(graph_->tensors.size() - 1);
    params_[index] = p;
    return index;
  }

  std::vector<float> float_values(int32_t index) {
    const auto& bytes = data(index);
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), v.size() * 4);
    return v;
  }

  // Symmetric int8 per channel along `axis` (scale = max|w| / 127), as TFLite's quantizer.
  std::vector<float> quantize_weights(int32_t index, int32_t axis, bool per_channel) {
    auto& t = tensor(index);
    if (t.type != ::tflite::TensorType_FLOAT32) fail("{}: weights '{}' are not float32", origin_, t.name);
    std::vector<float> w = float_values(index);
    const auto channels = per_channel ? static_cast<size_t>(t.shape.at(static_cast<size_t>(axis))) : 1;
    size_t inner = per_channel ? 1 : w.size();
    for (size_t d = static_cast<size_t>(axis) + 1; per_channel && d < t.shape.size(); ++d) inner *= static_cast<size_t>(t.shape[d]);
    std::vector<float> half_range(channels, 0.0f);
    for (size_t i = 0; i < w.size(); ++i) half_range[i / inner % channels] = std::max(half_range[i / inner % channels], std::abs(w[i]));
    std::vector<float> scales(channels);
    std::vector<uint8_t> q(w.size());
    for (size_t c = 0; c < channels; ++c) scales[c] = half_range[c] == 0.0f ? 1.0f : half_range[c] / 127.0f;
    for (size_t i = 0; i < w.size(); ++i) {
      const size_t c = i / inner % channels;
      const float inverse = half_range[c] == 0.0f ? 0.0f : 127.0f / half_range[c];
      const auto v = static_cast<int32_t>(std::round(w[i] * inverse));
      q[i] = static_cast<uint8_t>(static_cast<int8_t>(std::clamp(v, -127, 127)));
    }
    t.type = ::tflite::TensorType_INT8;
    data(index) = std::move(q);
    set_quantization(t, scales, std::vector<int64_t>(channels, 0), axis);
    return scales;
  }

  // int32 bias with scale input_scale * weight_scale[c] and zero point 0.
  void quantize_bias(int32_t index, float input_scale, const std::vector<float>& weight_scales) {
    auto& t = tensor(index);
    std::vector<float> b = float_values(index);
    if (weight_scales.size() != 1 && b.size() != weight_scales.size()) fail("{}: bias '{}' has {} values for {} channels", origin_, t.name, b.size(), weight_scales.size());
    std::vector<float> scales(weight_scales.size());
    std::vector<uint8_t> bytes(b.size() * 4);
    for (size_t c = 0; c < b.size(); ++c) {
      const size_t s = weight_scales.size() == 1 ? 0 : c;
      scales[s] = input_scale * weight_scales[s];
      const double q = std::round(static_cast<double>(b[c]) / static_cast<double>(scales[s]));
      const auto v = static_cast<int32_t>(std::clamp(q, -2147483647.0, 2147483647.0));
      std::memcpy(bytes.data() + c * 4, &v, 4);
    }
    t.type = ::tflite::TensorType_INT32;
    data(index) = std::move(bytes);
    set_quantization(t, scales, std::vector<int64_t>(scales.size(), 0), 0);
  }

  int32_t add_zero_bias(const std::string& name, size_t channels) {
    auto buffer = std::make_unique<::tflite::BufferT>();
    buffer->data.assign(channels * 4, 0);
    model_->buffers.push_back(std::move(buffer));
    auto t = std::make_unique<::tflite::TensorT>();
    t->name = name;
    t->type = ::tflite::TensorType_FLOAT32;
    t->shape = {static_cast<int32_t>(channels)};
    t->buffer = static_cast<uint32_t>(model_->buffers.size() - 1);
    graph_->tensors.push_back(std::move(t));
    return static_cast<int32_t>(graph_->tensors.size() - 1);
  }

  // A float constant operand (ADD / MUL): asymmetric int8 over its own range.
  void quantize_constant_operand(int32_t index) {
    auto& t = tensor(index);
    if (t.type != ::tflite::TensorType_FLOAT32) return;  // shared and already quantized
    std::vector<float> v = float_values(index);
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    Params p = asymmetric_params(*lo, *hi);
    std::vector<uint8_t> q(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const auto r = static_cast<int32_t>(std::round(v[i] / p.scale)) + static_cast<int32_t>(p.zero_point);
      q[i] = static_cast<uint8_t>(static_cast<int8_t>(std::clamp(r, -128, 127)));
    }
    t.type = ::tflite::TensorType_INT8;
    data(index) = std::move(q);
    set_quantization(t, {p.scale}, {p.zero_point});
    params_[index] = p;
  }

  void quantize_constants(::tflite::OperatorT& op) {
    BuiltinOperator code = builtin(op);
    bool fc = code == ::tflite::BuiltinOperator_FULLY_CONNECTED, conv = code == ::tflite::BuiltinOperator_CONV_2D,
         depthwise = code == ::tflite::BuiltinOperator_DEPTHWISE_CONV_2D;
    if (fc || conv || depthwise) {
      int32_t weights = op.inputs.at(1);
      // TFLite's int8 convolutions require a bias tensor: give a bias-less op zeros, as TFLite's
      // converter does.
      if (op.inputs.size() < 3 || op.inputs[2] < 0) {
        const auto& w = tensor(weights);
        const auto channels = static_cast<size_t>(depthwise ? w.shape.back() : w.shape.front());
        op.inputs.resize(3);
        op.inputs[2] = add_zero_bias(w.name + "/zero_bias", channels);
      }
      if (!is_constant(weights)) fail("{}: full-integer quantization: weights '{}' are not constant", origin_, tensor(weights).name);
      std::vector<float> scales = quantize_weights(weights, depthwise ? 3 : 0, !fc || options_.per_channel_fully_connected);
      if (op.inputs.size() > 2 && op.inputs[2] >= 0) quantize_bias(op.inputs[2], params_.at(op.inputs[0]).scale, scales);
      return;
    }
    if (code == ::tflite::BuiltinOperator_ADD || code == ::tflite::BuiltinOperator_MUL || code == ::tflite::BuiltinOperator_SUB) {
      for (int32_t i : op.inputs)
        if (is_constant(i)) quantize_constant_operand(i);
    }
  }

  uint32_t opcode(BuiltinOperator op, int version) {
    for (size_t i = 0; i < model_->operator_codes.size(); ++i) {
      if (model_->operator_codes[i]->builtin_code == op && model_->operator_codes[i]->version == version) return static_cast<uint32_t>(i);
    }
    auto c = std::make_unique<::tflite::OperatorCodeT>();
    c->builtin_code = op;
    c->deprecated_builtin_code = static_cast<int8_t>(std::min<int>(op, ::tflite::BuiltinOperator_PLACEHOLDER_FOR_GREATER_OP_CODES));
    c->version = version;
    model_->operator_codes.push_back(std::move(c));
    return static_cast<uint32_t>(model_->operator_codes.size() - 1);
  }

  // TFLite's op versions for int8 kernels.
  void set_int8_version(::tflite::OperatorT& op) {
    BuiltinOperator code = builtin(op);
    int version = 1;
    switch (code) {
      case ::tflite::BuiltinOperator_FULLY_CONNECTED: version = 4; break;  // every int8 op has a bias here
      case ::tflite::BuiltinOperator_CONV_2D: case ::tflite::BuiltinOperator_DEPTHWISE_CONV_2D: version = 3; break;
      case ::tflite::BuiltinOperator_MUL: {
        const float ratio = params_.at(op.inputs[0]).scale * params_.at(op.inputs[1]).scale / params_.at(op.outputs[0]).scale;
        version = ratio >= 1.0f ? 3 : 2;
        break;
      }
      case ::tflite::BuiltinOperator_RESHAPE: case ::tflite::BuiltinOperator_QUANTIZE: case ::tflite::BuiltinOperator_CAST:
      case ::tflite::BuiltinOperator_HARD_SWISH: version = 1; break;
      case ::tflite::BuiltinOperator_PAD: version = tensor(op.inputs[0]).shape.size() > 4 ? 4 : 2; break;  // op_version.cc: 5-D pads are v4
      case ::tflite::BuiltinOperator_RESIZE_NEAREST_NEIGHBOR: {
        const auto* o = op.builtin_options.AsResizeNearestNeighborOptions();
        version = o && (o->half_pixel_centers || o->align_corners) ? 3 : 2;  // op_version.cc
        break;
      }
      default: version = 2; break;  // e.g. REDUCE_MAX, MEAN, pooling: int8 is version 2
    }
    // Operator codes are shared between operators: re-point instead of editing in place.
    op.opcode_index = opcode(code, version);
  }

  // QUANTIZE after each float input and DEQUANTIZE before each output, so callers feed and read
  // float32 while everything in between is int8.
  void wrap_with_float_io() {
    std::vector<std::unique_ptr<::tflite::OperatorT>> front, back;
    for (int32_t input : graph_->inputs) {
      if (tensor(input).type != ::tflite::TensorType_INT8) continue;  // a float input read by CAST
      const int32_t quantized = int8_twin(input);
      for (auto& op : graph_->operators)
        for (int32_t& i : op->inputs)
          if (i == input) i = quantized;
      front.push_back(make_op(::tflite::BuiltinOperator_QUANTIZE, 1, input, quantized));
      front.back()->builtin_options.Set(::tflite::QuantizeOptionsT{});
    }
    for (int32_t output : graph_->outputs) {
      const int32_t quantized = int8_twin(output);
      for (auto& op : graph_->operators)
        for (int32_t& o : op->outputs)
          if (o == output) o = quantized;
      back.push_back(make_op(::tflite::BuiltinOperator_DEQUANTIZE, 2, quantized, output));
      back.back()->builtin_options.Set(::tflite::DequantizeOptionsT{});
    }
    graph_->operators.insert(graph_->operators.begin(), std::make_move_iterator(front.begin()), std::make_move_iterator(front.end()));
    for (auto& op : back) graph_->operators.push_back(std::move(op));
  }

  // A new int8 tensor taking over `index`'s quantization; `index` becomes float32 again (the
  // signature keeps its name).
  int32_t int8_twin(int32_t index) {
    auto& original = tensor(index);
    auto q = std::make_unique<::tflite::TensorT>();
    q->name = original.name + "/int8";
    q->type = ::tflite::TensorType_INT8;
    q->shape = original.shape;
    q->shape_signature = original.shape_signature;
    q->quantization = std::move(original.quantization);
    original.type = ::tflite::TensorType_FLOAT32;
    original.quantization = nullptr;
    graph_->tensors.push_back(std::move(q));
    return static_cast<int32_t>(graph_->tensors.size() - 1);
  }

  std::unique_ptr<::tflite::OperatorT> make_op(BuiltinOperator code, int version, int32_t in, int32_t out) {
    auto op = std::make_unique<::tflite::OperatorT>();
    op->opcode_index = opcode(code, version);
    op->inputs = {in};
    op->outputs = {out};
    return op;
  }

  // The float ops' codes (e.g. FULLY_CONNECTED v1) are left without users.
  void drop_unused_operator_codes() {
    std::vector<int> remap(model_->operator_codes.size(), -1);
    std::vector<std::unique_ptr<::tflite::OperatorCodeT>> kept;
    for (auto& op : graph_->operators) {
      int& mapped = remap[op->opcode_index];
      if (mapped < 0) {
        mapped = static_cast<int>(kept.size());
        kept.push_back(std::move(model_->operator_codes[op->opcode_index]));
      }
      op->opcode_index = static_cast<uint32_t>(mapped);
    }
    model_->operator_codes = std::move(kept);
  }

  void update_min_runtime_version() {
    const std::string version = min_runtime_version(*model_);
    for (auto& m : model_->metadata) {
      if (m->name != "min_runtime_version") continue;
      std::vector<uint8_t> text(16, 0);
      std::memcpy(text.data(), version.data(), std::min<size_t>(version.size(), 15));
      model_->buffers.at(m->buffer)->data = text;
    }
  }

  const ActivationRanges* ranges_ = nullptr;
  FullIntegerOptions options_;
  std::string origin_;
  std::unique_ptr<::tflite::ModelT> model_;
  ::tflite::SubGraphT* graph_ = nullptr;
  std::map<int32_t, Params> params_;
};

}  // namespace

std::string quantize_full_integer(const std::string& float_model, const std::vector<RepresentativeBatch>& batches,
                                  const FullIntegerOptions& options, const std::string& origin) {
  FullIntegerQuantizer quantizer(float_model, options, origin);
  quantizer.check_supported();
  ActivationRanges ranges = calibrate(float_model, batches, options.signature_key, origin);
  return quantizer.run(ranges);
}

}  // namespace litepipe::tfl
