// Model::save: the model (and any preprocessing) as a standard ONNX model, opset 13, with a
// symbolic batch dimension, validated by ONNX's own checker and strict shape inference before
// it is written.
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>

#include "core/error.h"
#include "core/files.h"
#include "nn/model.h"
#include "onnx/onnx_model.h"

namespace litepipe::nn {

namespace {

void set_float_type(onnx::ValueInfoProto* v, const std::string& name, const Shape& shape) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  auto* s = t->mutable_shape();
  s->add_dim()->set_dim_param("batch");
  for (int64_t d : shape) s->add_dim()->set_dim_value(d);
}

}  // namespace

std::filesystem::path Model::save(const std::filesystem::path& dir, const SavedSignature& signature) const {
  // Each model Input's serving input: the raw feature it takes and its preprocessing.
  std::map<std::string, onnxio::ServingInput> serving = signature.inputs;
  if (!signature.input_name.empty() || signature.preprocessing) {
    if (inputs_.size() != 1) fail("model {}: has {} inputs; give each its serving input in SavedSignature::inputs", name_, inputs_.size());
    if (!serving.empty()) fail("model {}: SavedSignature sets both input_name and inputs", name_);
    serving[inputs_[0]->name] = {signature.input_name.empty() ? inputs_[0]->name : signature.input_name, signature.preprocessing};
  }
  for (const auto& entry : serving) {
    const std::string& name = entry.first;
    if (std::none_of(inputs_.begin(), inputs_.end(), [&](const NodeRef& i) { return i->name == name; })) {
      fail("model {}: SavedSignature::inputs names '{}', which is not an Input of the model", name_, name);
    }
  }
  for (const auto& input : inputs_) {
    if (!serving.count(input->name)) serving[input->name] = {input->name, {}};
  }

  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("litepipe");
  model.set_producer_version("0.1.0");
  model.set_model_version(1);
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(onnxio::kOpsetVersion);
  auto* graph = model.mutable_graph();
  graph->set_name(name_);
  onnxio::GraphBuilder g(graph);

  // The raw inputs, one graph input per raw feature (several model Inputs may share one), in the
  // model's Input order; then each Input's preprocessing.
  std::map<std::string, std::string> raw_tensors;  // raw feature -> graph input
  nlohmann::json signature_inputs = nlohmann::json::object();
  std::map<const Node*, std::string> names;
  for (const auto& input : inputs_) {
    const onnxio::ServingInput& s = serving.at(input->name);
    if (s.raw_feature.empty()) fail("model {}: the serving input of '{}' has no raw feature name", name_, input->name);
    auto [it, inserted] = raw_tensors.emplace(s.raw_feature, "");
    if (inserted) {
      it->second = g.unique(s.raw_feature);
      // With preprocessing the raw feature is assumed to be as wide as the model's input.
      set_float_type(graph->add_input(), it->second, input->shape);
      nlohmann::json shape = nlohmann::json::array({-1});
      for (int64_t d : input->shape) shape.push_back(d);
      signature_inputs[s.raw_feature] = {{"name", it->second}, {"dtype", "float32"}, {"shape", shape}};
    }
    std::string x = s.preprocessing ? s.preprocessing(g, it->second) : it->second;
    if (input->shape.size() == 3) g.set_layout(x, onnxio::Layout::NHWC);
    names[input.get()] = x;
  }
  for (const auto& n : order_) {
    std::vector<std::string> in;
    for (const auto& i : n->inputs) in.push_back(names.at(i.get()));
    std::string out = g.unique(n->layer->name());
    n->layer->to_onnx(g, in, out);
    names[n.get()] = out;
  }
  std::string last = g.in_layout(names.at(output_.get()), onnxio::Layout::NHWC);
  std::string output = g.unique(signature.output_name);
  g.add_node("Identity", {last}, {output});
  set_float_type(graph->add_output(), output, output_->shape);

  nlohmann::json signature_def = {
      {signature.name,
       {{"inputs", signature_inputs},
        {"outputs", {{signature.output_name, {{"name", output}, {"dtype", "float32"}}}}}}}};
  auto* meta = model.add_metadata_props();
  meta->set_key(onnxio::kSignatureMetadataKey);
  meta->set_value(signature_def.dump());
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& n : order_) layers.push_back({{"name", n->layer->name()}, {"class_name", n->layer->type()}, {"config", n->layer->config()}});
  auto* keras = model.add_metadata_props();
  keras->set_key("litepipe.layers");
  keras->set_value(layers.dump());
  if (!signature.class_names.empty()) {
    if (output_->shape.size() != 1 || output_->shape[0] != static_cast<int64_t>(signature.class_names.size())) {
      fail("model {}: {} class names for an output of shape {}", name_, signature.class_names.size(), shape_string(output_->shape));
    }
    auto* classes = model.add_metadata_props();
    classes->set_key(kClassNamesMetadataKey);
    classes->set_value(nlohmann::json(signature.class_names).dump());
  }

  onnxio::check_model(model, name_);
  std::filesystem::path path = dir / "model.onnx";
  write_file_atomic(path, model.SerializeAsString());
  return path;
}

}  // namespace litepipe::nn
