#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "tflite/conversion/lowering.h"

namespace litepipe::tfl {

[[noreturn]] void ConversionContext::fail_node(const onnx::NodeProto& n, const std::string& message) {
  fail("{}: node '{}' ({}): {}", origin, n.name(), n.op_type(), message);
}

Value& ConversionContext::value(const std::string& name, const std::string& what) {
  auto it = values.find(name);
  if (it == values.end()) fail("{}: {} '{}' is not produced by any earlier node", origin, what, name);
  return it->second;
}

int ConversionContext::tensor_of(Value& v, const std::string& name) {
  if (v.tensor >= 0) return v.tensor;
  v.shape = v.constant->dims;
  v.tensor = builder.add_const_float(name, v.constant->values, v.constant->dims);
  return v.tensor;
}

int ConversionContext::new_output(const onnx::NodeProto& n, const Shape& shape, bool nchw, ::tflite::TensorType type) {
  Value v;
  v.shape = shape;
  v.nchw = nchw;
  v.boolean = type == ::tflite::TensorType_BOOL;
  v.tensor = builder.add_tensor(n.output(0), shape, type);
  values[n.output(0)] = v;
  return v.tensor;
}

::tflite::ActivationFunctionType* ConversionContext::fusable_activation(int tensor, const std::string& onnx_name) {
  if (consumers[onnx_name] != 1 || graph_outputs.count(onnx_name)) return nullptr;
  auto it = producer.find(tensor);
  if (it == producer.end()) return nullptr;
  auto& u = builder.graph().operators[it->second]->builtin_options;
  ::tflite::ActivationFunctionType* act = nullptr;
  if (auto* o = u.AsFullyConnectedOptions()) act = &o->fused_activation_function;
  else if (auto* o2 = u.AsConv2DOptions()) act = &o2->fused_activation_function;
  else if (auto* o3 = u.AsDepthwiseConv2DOptions()) act = &o3->fused_activation_function;
  else if (auto* o4 = u.AsAddOptions()) act = &o4->fused_activation_function;
  else if (auto* o5 = u.AsPool2DOptions()) act = &o5->fused_activation_function;
  return act && *act == ::tflite::ActivationFunctionType_NONE ? act : nullptr;
}

::tflite::Padding ConversionContext::padding_of(const onnx::NodeProto& n, const Shape& in, const std::vector<int64_t>& kernel,
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

const onnx::AttributeProto* ConversionContext::attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t ConversionContext::attr_i(const onnx::NodeProto& n, const std::string& name, int64_t def) {
  auto* a = attr(n, name);
  return a ? a->i() : def;
}

float ConversionContext::attr_f(const onnx::NodeProto& n, const std::string& name, float def) {
  auto* a = attr(n, name);
  return a ? a->f() : def;
}

std::vector<int64_t> ConversionContext::attr_ints(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t> def) {
  auto* a = attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : def;
}

void ConversionContext::alias(const onnx::NodeProto& n, const Value& v) { values[n.output(0)] = v; }

size_t ConversionContext::add_op(::tflite::BuiltinOperator op, int version, std::vector<int32_t> inputs, std::vector<int32_t> outputs,
                                 ::tflite::BuiltinOptionsUnion options) {
  const size_t index = builder.add_op(op, version, std::move(inputs), std::move(outputs), std::move(options));
  for (int32_t out : builder.graph().operators.back()->outputs) producer[out] = index;
  return index;
}

int ConversionContext::constant_operand(const onnx::NodeProto& n, Value& c, const Value& other) {
  const Constant& k = *c.constant;
  size_t count = k.values.size();
  if (count == 1) return builder.add_const_float(n.output(0) + "/scalar", k.values, {});
  if (other.nchw) {
    // Per-channel constants of an NCHW view ([C,1,1] or [1,C,1,1]) become [C] in NHWC.
    int64_t channels = other.shape[3];
    if (static_cast<int64_t>(count) == channels) return builder.add_const_float(n.output(0) + "/channel_constant", k.values, {channels});
    fail_node(n, "a constant operand of an NCHW activation must be a scalar or per channel");
  }
  return tensor_of(c, n.output(0) + "/constant");
}

Shape ConversionContext::broadcast(const onnx::NodeProto& n, const Shape& x, const Shape& y) {
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

}  // namespace litepipe::tfl
