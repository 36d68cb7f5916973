#include "onnx/runtime/kernel.h"

#include <algorithm>

#include <fmt/ranges.h>

namespace litepipe::onnxio::runtime {

const onnx::AttributeProto* PrepareContext::attr(const std::string& name) const {
  for (const auto& a : proto_.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t PrepareContext::attr_int(const std::string& name, int64_t def) const {
  const auto* a = attr(name);
  return a ? a->i() : def;
}

float PrepareContext::attr_float(const std::string& name, float def) const {
  const auto* a = attr(name);
  return a ? a->f() : def;
}

std::vector<int64_t> PrepareContext::attr_ints(const std::string& name, std::vector<int64_t> def) const {
  const auto* a = attr(name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : def;
}

std::string PrepareContext::attr_string(const std::string& name, const std::string& def) const {
  const auto* a = attr(name);
  return a ? a->s() : def;
}

const Tensor* PrepareContext::constant_input(size_t i) const {
  return has_input(i) ? constants_[static_cast<size_t>(node_.inputs[i])] : nullptr;
}

Tensor& Frame::output(const Node& node, std::span<const int64_t> dims) {
  const auto slot = static_cast<size_t>(node.output);
  Tensor& t = values_[slot];
  if (!reusable_[slot] || !t.data() || !std::equal(dims.begin(), dims.end(), t.shape().begin(), t.shape().end())) {
    t = Tensor(Shape(dims.begin(), dims.end()));
  }
  return t;
}

void Frame::set_output_view(const Node& node, const Tensor& source, std::span<const int64_t> dims) {
  Tensor& t = values_[static_cast<size_t>(node.output)];
  // Last call's view is still right when it is of the same buffer with the same shape.
  if (t.data() == source.data() && std::equal(dims.begin(), dims.end(), t.shape().begin(), t.shape().end())) return;
  t = source.reshaped(Shape(dims.begin(), dims.end()));
}

std::string dims_string(std::span<const int64_t> dims) { return fmt::format("[{}]", fmt::join(dims, ", ")); }

}  // namespace litepipe::onnxio::runtime
