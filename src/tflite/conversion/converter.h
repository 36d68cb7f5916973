#pragma once
// ONNX -> TensorFlow Lite conversion of a serving model: builtin ops only, NHWC throughout
// (NCHW<->NHWC transposes of the ONNX graph disappear), batch normalization folded, activations
// fused where TFLite can, constants folded, a SignatureDef named as TFLite's converter names it
// (`serving_default_<input>:0`, dynamic batch as shape_signature -1). A model whose ONNX metadata
// holds class names (litepipe.class_names) gets TFLite Support metadata: TFLITE_METADATA with the
// output's label file, labels.txt packed after the flatbuffer as a zip archive (tflite/metadata.h).
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "tflite/conversion/quantizer.h"

namespace litepipe::tfl {

struct ConverterOptions {
  std::string signature_key = "serving_default";
  // float16 quantization: every float32 constant is stored as float16 and a DEQUANTIZE op (v3)
  // restores it at run time, as TFLite's converter does for supported_types = [float16].
  bool float16_weights = false;
  // Dynamic-range quantization: FULLY_CONNECTED weights with at least 1024 values become
  // per-tensor symmetric int8 and the op runs TFLite's hybrid kernel (inputs quantized per batch
  // row at run time, asymmetric_quantize_inputs, version 9 as op_version.cc gives it).
  bool dynamic_range_weights = false;
  // Full-integer int8: calibrated on `representative_dataset` (see quantizer.h); float32 inputs
  // and outputs unless int8_input_output.
  bool full_integer = false;
  bool int8_input_output = false;
  bool per_channel_fully_connected = true;
  std::vector<RepresentativeBatch> representative_dataset = {};
};

// The .tflite flatbuffer. Unsupported ops or layouts -> Error naming the ONNX node and op.
std::string convert_onnx_to_tflite(const onnx::ModelProto& model, const ConverterOptions& options, const std::string& origin);

}  // namespace litepipe::tfl
