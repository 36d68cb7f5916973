#pragma once
// `litepipe predict`, `litepipe tflite inspect`, `litepipe tflite benchmark`.
#include <ostream>
#include <string>

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
};
int tflite_benchmark(const BenchmarkCommand& command, std::ostream& out);

int tflite_convert(const std::string& src, const std::string& dst, bool float16, bool dynamic_range);

}  // namespace litepipe
