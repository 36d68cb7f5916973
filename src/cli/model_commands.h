#pragma once
// `litepipe predict`, `litepipe tflite inspect`, `litepipe tflite benchmark`.
#include <ostream>
#include <string>
#include <vector>

namespace litepipe {

struct PredictCommand {
  std::string model;   // a .tflite file, an ONNX model, or a serving dir holding `tflite` or model.onnx
  std::string input;   // {"<input name or signature key>": {"shape": [...], "data": [...]}}
  std::string output;  // {"<output tensor name>": {"dtype": ..., "shape": [...], "data": [...]}}
};
int predict(const PredictCommand& command);

int tflite_inspect(const std::string& model, std::ostream& out);

struct BenchmarkCommand {
  std::string model;
  int runs = 1000;
  int warmup = 50;
  int batch = 1;
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
