#pragma once
// `litepipe predict`, `litepipe tflite inspect`, `litepipe tflite benchmark`.
#include <ostream>
#include <string>
#include <vector>

namespace litepipe {

struct PredictCommand {
  std::string model;   // a .tflite file, an ONNX model, or a serving dir holding `tflite` or model.onnx
  std::string input;   // {"<input name or signature key>": {"shape": [...], "data": [...]}}
  // {"<output tensor name>": {"dtype": ..., "shape": [...], "data": [...]}}; an output the model
  // names classes for (TFLite: its TENSOR_AXIS_LABELS file in TFLITE_METADATA; ONNX: the
  // litepipe.class_names metadata) also gets "class_names", and per example "predicted_class_id"
  // (the highest score) and "predicted_class_name".
  std::string output;
  int threads = 0;  // > 0: the runtime's num_threads; 0: its default (TFLite's 1, ONNX Runtime's every core)
};
// Prints each example's predicted class id and name to `out` when the model names its classes.
int predict(const PredictCommand& command, std::ostream& out);
int predict(const PredictCommand& command);  // out = std::cout

// Tensors, operators, quantization, sizes; TFLite Support metadata (model name, tensor metadata,
// associated files, labels) when the model has it.
int tflite_inspect(const std::string& model, std::ostream& out);

struct BenchmarkCommand {
  std::string model;
  int runs = 1000;
  int warmup = 50;
  int batch = 1;
  int threads = 1;  // the interpreter's num_threads (TFLite's default, 1)
  bool profile_ops = false;
};
int tflite_benchmark(const BenchmarkCommand& command, std::ostream& out);

struct ConvertCommand {
  std::string src, dst;
  bool float16 = false, dynamic_range = false, full_integer = false, int8_io = false, per_tensor_dense = false;
  std::vector<std::string> representative_examples;  // TFRecord files or folders
  int64_t representative_count = 500;
};
int tflite_convert(const ConvertCommand& command);

}  // namespace litepipe
