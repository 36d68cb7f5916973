// ONNX -> TensorFlow Lite: the graph's inputs become TFLite inputs, each node is lowered by the
// lowering its op type maps to (lowerings.cpp), the outputs and the SignatureDef are named as
// TFLite's converter names them, then the graph passes run (passes.h), and the model is packed;
// full-integer quantization (quantizer.h) and TFLite Support metadata follow.
#include "tflite/conversion/converter.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "onnx/onnx_model.h"
#include "tflite/conversion/lowering.h"
#include "tflite/conversion/op_versions.h"
#include "tflite/conversion/passes.h"
#include "tflite/conversion/quantizer.h"
#include "tflite/support/metadata.h"
#include "tflite_subset_generated.h"

namespace litepipe::tfl {
namespace {

Constant read_constant(const onnx::TensorProto& t, const std::string& origin) {
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
    fail("{}: initializer '{}' has ONNX data type {}; the converter takes FLOAT and INT64", origin, t.name(), t.data_type());
  }
  return c;
}

// One node through its lowering. The lowerings expect float32 operands: a boolean may only be
// Where's condition.
void lower(ConversionContext& cx, const onnx::NodeProto& n) {
  const std::string& op = n.op_type();
  if (!n.domain().empty() && n.domain() != "ai.onnx") cx.fail_node(n, fmt::format("domain '{}' is not supported", n.domain()));
  const Lowering lowering = find_lowering(op);
  if (!lowering) cx.fail_node(n, "this ONNX op has no TensorFlow Lite builtin conversion in litepipe");
  if (op != "Identity" && op != "Dropout") {
    for (int i = 0; i < n.input_size(); ++i) {
      auto it = cx.values.find(n.input(i));
      if (it != cx.values.end() && it->second.boolean && !(op == "Where" && i == 0)) {
        cx.fail_node(n, fmt::format("input '{}' is boolean; litepipe converts boolean tensors only as Where's condition", n.input(i)));
      }
    }
  }
  lowering(cx, n);
}

std::string lower_and_pack(const onnx::ModelProto& onnx, ConversionContext& cx) {
  const auto& g = onnx.graph();
  std::vector<std::pair<std::string, int>> signature_inputs, signature_outputs;
  for (const auto& t : g.initializer()) cx.values[t.name()].constant = read_constant(t, cx.origin);
  for (const auto& n : g.node())
    for (const auto& i : n.input()) ++cx.consumers[i];
  for (const auto& o : g.output()) ++cx.consumers[o.name()], cx.graph_outputs.insert(o.name());
  for (const auto& i : g.input()) {
    if (cx.values.count(i.name())) continue;
    const auto& dims = i.type().tensor_type().shape().dim();
    Shape shape;
    for (int d = 0; d < dims.size(); ++d) shape.push_back(dims[d].has_dim_value() && d > 0 ? dims[d].dim_value() : -1);
    if (i.type().tensor_type().elem_type() != onnx::TensorProto::FLOAT) fail("{}: input '{}' is not float32", cx.origin, i.name());
    Value v;
    v.shape = shape;
    v.tensor = cx.builder.add_tensor(fmt::format("{}_{}:0", cx.options.signature_key, i.name()), shape, ::tflite::TensorType_FLOAT32);
    cx.builder.graph().inputs.push_back(v.tensor);
    signature_inputs.emplace_back(i.name(), v.tensor);
    cx.values[i.name()] = v;
  }
  for (const auto& n : g.node()) lower(cx, n);
  int out_index = 0;
  for (const auto& o : g.output()) {
    Value& v = cx.value(o.name(), "graph output");
    if (v.nchw) fail("{}: output '{}' is NCHW; litepipe converts models whose outputs are NHWC or 2-D", cx.origin, o.name());
    if (v.tensor < 0) fail("{}: output '{}' is a constant", cx.origin, o.name());
    cx.builder.graph().tensors[static_cast<size_t>(v.tensor)]->name = fmt::format("StatefulPartitionedCall:{}", out_index++);
    cx.builder.graph().outputs.push_back(v.tensor);
    signature_outputs.emplace_back(o.name(), v.tensor);
  }
  auto sig = std::make_unique<::tflite::SignatureDefT>();
  sig->signature_key = cx.options.signature_key;
  for (auto& [name, index] : signature_inputs) {
    auto m = std::make_unique<::tflite::TensorMapT>();
    m->name = name;
    m->tensor_index = static_cast<uint32_t>(index);
    sig->inputs.push_back(std::move(m));
  }
  for (auto& [name, index] : signature_outputs) {
    auto m = std::make_unique<::tflite::TensorMapT>();
    m->name = name;
    m->tensor_index = static_cast<uint32_t>(index);
    sig->outputs.push_back(std::move(m));
  }
  cx.builder.model().signature_defs.push_back(std::move(sig));
  fold_scalar_affine_into_linear_ops(cx.builder);
  if (cx.options.dynamic_range_weights) quantize_weights_for_hybrid_kernels(cx.builder);
  if (cx.options.float16_weights) store_weights_as_float16(cx.builder);
  remove_unused_tensors(cx.builder);
  // min_runtime_version: the newest runtime any (op, version) needs; a 16-byte string.
  std::string min_version = min_runtime_version(cx.builder.model());
  std::vector<uint8_t> text(16, 0);
  std::memcpy(text.data(), min_version.data(), min_version.size());
  auto meta = std::make_unique<::tflite::MetadataT>();
  meta->name = "min_runtime_version";
  meta->buffer = cx.builder.add_buffer(text);
  cx.builder.model().metadata.push_back(std::move(meta));

  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(::tflite::Model::Pack(fbb, &cx.builder.model()), ::tflite::ModelIdentifier());
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

}  // namespace

std::string convert_onnx_to_tflite(const onnx::ModelProto& model, const ConverterOptions& options, const std::string& origin) {
  const int modes = int{options.float16_weights} + int{options.dynamic_range_weights} + int{options.full_integer};
  if (modes > 1) fail("{}: choose one of float16, dynamic-range and full-integer quantization", origin);
  ConversionContext cx(options, origin);
  std::string tflite = lower_and_pack(model, cx);
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
