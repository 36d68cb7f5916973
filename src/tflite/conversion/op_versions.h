#pragma once
// The TensorFlow Lite runtime version each (builtin op, version) needs (TFLite's runtime-version
// table), and the model's `min_runtime_version`: the newest of them.
#include <string>
#include <vector>

#include "tflite_subset_generated.h"

namespace litepipe::tfl {

inline const char* runtime_version(::tflite::BuiltinOperator op, int version) {
  using namespace ::tflite;
  switch (op) {
    case BuiltinOperator_MEAN: return version >= 2 ? "1.14.0" : "1.6.0";
    case BuiltinOperator_SUB: return version >= 2 ? "1.14.0" : "1.6.0";
    case BuiltinOperator_DIV: return "1.6.0";
    case BuiltinOperator_NOT_EQUAL: return version >= 3 ? "2.3.0" : "1.14.0";
    case BuiltinOperator_SELECT_V2: return "2.2.0";  // version 1, the only one litepipe writes or runs
    case BuiltinOperator_TANH: return "1.14.0";
    case BuiltinOperator_RELU: return version >= 2 ? "2.1.0" : "1.5.0";
    case BuiltinOperator_RELU6: case BuiltinOperator_CONCATENATION: return version >= 2 ? "1.14.0" : "1.5.0";
    case BuiltinOperator_LOGISTIC: return "1.14.0";
    case BuiltinOperator_DEPTHWISE_CONV_2D: return version >= 3 ? "1.14.0" : version >= 2 ? "1.12.0" : "1.5.0";
    case BuiltinOperator_DEQUANTIZE: return version >= 3 ? "1.15.0" : version == 2 ? "1.14.0" : "1.13.1";
    case BuiltinOperator_QUANTIZE: return "1.14.0";
    case BuiltinOperator_HARD_SWISH: return "1.15.0";
    case BuiltinOperator_RSQRT: return version >= 2 ? "2.5.0" : "1.10.0";
    case BuiltinOperator_GATHER: return version >= 2 ? "1.14.0" : "1.6.0";
    case BuiltinOperator_CAST: return "1.5.0";
    case BuiltinOperator_PAD: return version >= 4 ? "2.6.0" : version == 3 ? "2.4.0" : version == 2 ? "1.14.0" : "1.5.0";
    case BuiltinOperator_RESIZE_NEAREST_NEIGHBOR: return version >= 3 ? "2.3.0" : version == 2 ? "1.14.0" : "1.13.1";
    case BuiltinOperator_REDUCE_MAX: return version >= 3 ? "2.5.0" : version == 2 ? "1.14.0" : "1.11.0";
    case BuiltinOperator_FULLY_CONNECTED:
      return version >= 7 ? "2.3.0" : version == 6 ? "2.1.0" : version == 5 ? "2.0.0" : version >= 3 ? "1.14.0" : version == 2 ? "1.10.0" : "1.5.0";
    case BuiltinOperator_CONV_2D: return version >= 5 ? "2.4.0" : version >= 2 ? "1.14.0" : "1.5.0";
    case BuiltinOperator_MAX_POOL_2D: case BuiltinOperator_AVERAGE_POOL_2D: case BuiltinOperator_SOFTMAX:
    case BuiltinOperator_ADD: return version >= 2 ? "1.14.0" : "1.5.0";
    case BuiltinOperator_MUL: return version >= 3 ? "1.15.0" : version == 2 ? "1.14.0" : "1.5.0";
    default: return "1.5.0";
  }
}

inline bool version_less(const std::string& a, const std::string& b) {
  auto parse = [](const std::string& s) {
    std::vector<int> v;
    size_t pos = 0;
    while (pos <= s.size()) {
      size_t dot = s.find('.', pos);
      v.push_back(std::stoi(s.substr(pos, dot - pos)));
      if (dot == std::string::npos) break;
      pos = dot + 1;
    }
    return v;
  };
  return parse(a) < parse(b);
}

inline std::string min_runtime_version(const ::tflite::ModelT& model) {
  std::string newest = "1.5.0";
  for (const auto& code : model.operator_codes) {
    std::string v = runtime_version(code->builtin_code, code->version);
    if (version_less(newest, v)) newest = v;
  }
  return newest;
}

}  // namespace litepipe::tfl
