#pragma once
// No-code trainers: `module_file: builtin` with `run_fn: dnn_classifier | dnn_regressor |
// cnn_image_classifier` trains a standard model from the pipeline file alone, configured by the
// Trainer's custom_config (Keras-like keys):
//
//   custom_config:
//     features: [bill_length_mm, body_mass_g]   # raw feature names: the serving inputs
//     label: species                            # raw label; its Transform output is trained on
//     hidden_units: [16, 8]
//     dropout: 0.0
//     optimizer: adam                            # adam | sgd | rmsprop
//     learning_rate: 0.01
//     batch_size: 20
//     seed: 42
//     tflite: float                              # none | float | float16 | dynamic_range | int8
//   cnn_image_classifier also: image_shape: [28, 28, 1], conv_filters: [32, 64] (3x3 conv + 2x2
//   max pooling each), hidden_units default [128]. dnn_regressor: one linear output, mean squared
//   error, float label.
//
// The Transform graph maps each raw feature to the feature the model trains on (the last op of
// its chain); the label's vocabulary, if any, gives the class names. The serving model takes the
// raw features, with the Transform graph in-graph, exactly as a hand-written module saves it.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "components/trainer.h"

namespace litepipe {

inline constexpr const char* kBuiltinModule = "builtin";

struct BuiltinTrainerConfig {
  std::string run_fn;  // dnn_classifier | dnn_regressor | cnn_image_classifier
  std::vector<std::string> features;
  std::string label;
  std::vector<int64_t> hidden_units = {16, 8};
  float dropout = 0.0f;
  std::string optimizer = "adam";
  float learning_rate = 0.001f;
  int64_t batch_size = 32;
  uint64_t seed = 42;
  std::string tflite = "none";
  std::vector<int64_t> image_shape = {};         // cnn_image_classifier: [height, width, channels]
  std::vector<int64_t> conv_filters = {32, 64};  // cnn_image_classifier
};

// Parses and checks custom_config for the builtin `run_fn`; errors name the field.
BuiltinTrainerConfig parse_builtin_trainer_config(const std::string& run_fn, const nlohmann::json& custom_config);
// The names of the builtin run_fns.
const std::vector<std::string>& builtin_run_fns();
// Trains and saves as the named builtin run_fn.
void run_builtin_trainer(const std::string& run_fn, const FnArgs& fn_args);

}  // namespace litepipe
