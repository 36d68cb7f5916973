#include "onnx/graph_builder.h"

#include <fmt/format.h>

namespace litepipe::onnxio {

std::string GraphBuilder::unique(const std::string& base) {
  std::string name = base;
  for (int i = 1; names_.count(name); ++i) name = fmt::format("{}_{}", base, i);
  names_.insert(name);
  return name;
}

std::string GraphBuilder::add_initializer(const std::string& base, const float* data, const std::vector<int64_t>& dims) {
  std::string name = unique(base);
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    t->add_dims(d);
    n *= d;
  }
  t->set_raw_data(std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(n) * sizeof(float)));
  return name;
}

std::string GraphBuilder::add_int64_initializer(const std::string& base, const std::vector<int64_t>& values) {
  std::string name = unique(base);
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
  return name;
}

onnx::NodeProto& GraphBuilder::add_node(const std::string& op, const std::vector<std::string>& inputs,
                                        const std::vector<std::string>& outputs) {
  onnx::NodeProto* node = graph_->add_node();
  node->set_op_type(op);
  node->set_name(unique(op + "_" + (outputs.empty() ? std::string("node") : outputs[0])));
  for (const auto& i : inputs) node->add_input(i);
  for (const auto& o : outputs) node->add_output(o);
  return *node;
}

void GraphBuilder::set_attr(onnx::NodeProto& node, const std::string& name, int64_t v) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void GraphBuilder::set_attr(onnx::NodeProto& node, const std::string& name, float v) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void GraphBuilder::set_attr(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

Layout GraphBuilder::layout(const std::string& tensor) const {
  auto it = layouts_.find(tensor);
  return it == layouts_.end() ? Layout::Any : it->second;
}

std::string GraphBuilder::in_layout(const std::string& tensor, Layout want) {
  Layout have = layout(tensor);
  if (want == Layout::Any || have == Layout::Any || have == want) return tensor;
  auto key = std::make_pair(tensor, want);
  if (auto it = converted_.find(key); it != converted_.end()) return it->second;
  std::string out = unique(tensor + (want == Layout::NCHW ? "_nchw" : "_nhwc"));
  auto& node = add_node("Transpose", {tensor}, {out});
  set_attr(node, "perm", want == Layout::NCHW ? std::vector<int64_t>{0, 3, 1, 2} : std::vector<int64_t>{0, 2, 3, 1});
  layouts_[out] = want;
  converted_[key] = out;
  return out;
}

}  // namespace litepipe::onnxio
