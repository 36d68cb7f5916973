// Model::save: the model (and any preprocessing) as a standard ONNX model, opset 13, with a
// symbolic batch dimension, validated by ONNX's own checker and strict shape inference before
// it is written.
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

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
  if (inputs_.size() != 1) fail("model {}: save() exports single-input models; this one has {}", name_, inputs_.size());
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

  // The raw input: with preprocessing it may differ from the model's own Input.
  std::string raw = g.unique(signature.input_name);
  Shape raw_shape = inputs_[0]->shape;
  set_float_type(graph->add_input(), raw, raw_shape);
  std::string x = signature.preprocessing ? signature.preprocessing(g, raw) : raw;
  if (inputs_[0]->shape.size() == 3) g.set_layout(x, onnxio::Layout::NHWC);

  std::map<const Node*, std::string> names = {{inputs_[0].get(), x}};
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
       {{"inputs", {{signature.input_name, {{"name", raw}, {"dtype", "float32"}, {"shape", nlohmann::json::array()}}}}},
        {"outputs", {{signature.output_name, {{"name", output}, {"dtype", "float32"}}}}}}}};
  signature_def[signature.name]["inputs"][signature.input_name]["shape"].push_back(-1);
  for (int64_t d : raw_shape) signature_def[signature.name]["inputs"][signature.input_name]["shape"].push_back(d);
  auto* meta = model.add_metadata_props();
  meta->set_key(onnxio::kSignatureMetadataKey);
  meta->set_value(signature_def.dump());
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& n : order_) layers.push_back({{"name", n->layer->name()}, {"class_name", n->layer->type()}, {"config", n->layer->config()}});
  auto* keras = model.add_metadata_props();
  keras->set_key("litepipe.layers");
  keras->set_value(layers.dump());

  onnxio::check_model(model, name_);
  std::filesystem::path path = dir / "model.onnx";
  write_file_atomic(path, model.SerializeAsString());
  return path;
}

}  // namespace litepipe::nn
