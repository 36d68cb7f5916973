#pragma once
// Training data from TFRecord files of tf.Example: one dense numeric feature as the model input
// (a fixed number of values per example, reshaped to `shape`) and an int label.
#include <filesystem>
#include <string>
#include <vector>

#include "nn/tensor.h"

namespace litepipe::nn {

struct Dataset {
  Tensor x;  // [N] + shape
  Tensor y;  // [N] class indices (as floats)
};

// `shape` defaults to [values per example]; e.g. {28, 28, 1} for images. An empty `label` reads
// features only (y is then all zeros).
Dataset load_examples(const std::vector<std::string>& files, const std::string& feature, const std::string& label,
                      Shape shape = {});

}  // namespace litepipe::nn
