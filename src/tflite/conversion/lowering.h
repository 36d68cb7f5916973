#pragma once
// The converter's ONNX-op lowerings: each ONNX op type maps to a function (lowerings.cpp's table)
// that turns one node into TFLite operators through a ConversionContext — the values computed so
// far (TFLite tensors, NCHW views, constants not yet materialized) and the model being built.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "tflite/conversion/converter.h"
#include "tflite/conversion/model_builder.h"

namespace litepipe::tfl {

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
  bool int32 = false;            // an INT32 tensor (a Cast's output: GATHER's indices)
};

class ConversionContext {
 public:
  ConversionContext(const ConverterOptions& options, std::string origin) : options(options), origin(std::move(origin)) {}

  const ConverterOptions& options;
  const std::string origin;
  ModelBuilder builder;
  std::map<std::string, Value> values;      // by ONNX name
  std::map<std::string, int> consumers;     // ONNX name -> nodes (and graph outputs) reading it
  std::set<std::string> graph_outputs;
  std::map<int, size_t> producer;           // TFLite tensor -> operator index
  // HardSigmoid outputs waiting for their Mul (x * HardSigmoid(x) becomes HARD_SWISH): output -> x.
  std::map<std::string, std::string> hard_sigmoid_of;
  // Sqrt outputs waiting for the Div they divide (x / Sqrt(v) becomes MUL(x, RSQRT(v))): output -> v.
  std::map<std::string, std::string> sqrt_of;

  [[noreturn]] void fail_node(const onnx::NodeProto& n, const std::string& message);
  // The value of an ONNX name computed so far (an Error naming `what` when there is none).
  Value& value(const std::string& name, const std::string& what);
  void alias(const onnx::NodeProto& n, const Value& v);
  // Materializes a constant Value as a float tensor (TFLite shape = its ONNX dims).
  int tensor_of(Value& v, const std::string& name);
  // A new tensor for the node's first output, recorded as its value.
  int new_output(const onnx::NodeProto& n, const Shape& shape, bool nchw = false, ::tflite::TensorType type = ::tflite::TensorType_FLOAT32);
  // builder.add_op, remembering which operator computes each output.
  size_t add_op(::tflite::BuiltinOperator op, int version, std::vector<int32_t> inputs, std::vector<int32_t> outputs,
                ::tflite::BuiltinOptionsUnion options = {});
  // The activation slot of the op that produced `tensor`, if it can take a fused activation.
  ::tflite::ActivationFunctionType* fusable_activation(int tensor, const std::string& onnx_name);
  // TF's SAME/VALID from explicit ONNX pads; anything else cannot be expressed in TFLite.
  ::tflite::Padding padding_of(const onnx::NodeProto& n, const Shape& in, const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
                               const std::vector<int64_t>& dil, const std::vector<int64_t>& pads);
  // A constant operand in the TFLite layout of the other operand.
  int constant_operand(const onnx::NodeProto& n, Value& c, const Value& other);
  // NumPy broadcasting of TFLite shapes; -1 (the dynamic batch) stays dynamic.
  Shape broadcast(const onnx::NodeProto& n, const Shape& x, const Shape& y);

  static const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& name);
  static int64_t attr_i(const onnx::NodeProto& n, const std::string& name, int64_t def);
  static float attr_f(const onnx::NodeProto& n, const std::string& name, float def);
  static std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t> def);
};

using Lowering = void (*)(ConversionContext&, const onnx::NodeProto&);
// The lowering of an ONNX op type (default domain), or nullptr.
Lowering find_lowering(const std::string& op_type);

}  // namespace litepipe::tfl
