#pragma once
// Training data from TFRecord files of tf.Example: one dense numeric feature as the model input
// (a fixed number of values per example, reshaped to `shape`) and an int label.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "nn/tensor.h"
#include "tensorflow/core/example/example.pb.h"

namespace litepipe::nn {

struct Dataset {
  Tensor x;  // [N] + shape
  Tensor y;  // [N] class indices (as floats)
};

// `shape` defaults to [values per example]; e.g. {28, 28, 1} for images. An empty `label` reads
// features only (y is then all zeros).
// `map`, when given, rewrites each example first (e.g. the Transform graph applied to raw examples,
// as when TFX's Trainer gets raw examples and a transform graph).
using ExampleMap = std::function<tensorflow::Example(const tensorflow::Example&)>;
Dataset load_examples(const std::vector<std::string>& files, const std::string& feature, const std::string& label,
                      Shape shape = {}, const ExampleMap& map = {});

}  // namespace litepipe::nn
