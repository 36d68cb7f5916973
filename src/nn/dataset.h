#pragma once
// Training data from TFRecord files of tf.Example: dense numeric features as the model's inputs
// (a fixed number of values per example) and one label (an int class id, or a float target).
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "nn/tensor.h"
#include "tensorflow/core/example/example.pb.h"

namespace litepipe::nn {

struct Dataset {
  Tensor x;  // [N] + shape: the first (or only) feature
  Tensor y;  // [N] labels (class ids or regression targets, as floats)
  std::map<std::string, Tensor> features;  // every feature read, by name: [N, values per example]
  int64_t without_label = 0;  // examples left out because their label was missing (skip_missing_labels)
  int64_t size() const { return y.rank() ? y.dim(0) : 0; }
};

// `map`, when given, rewrites each example first (e.g. the Transform graph applied to raw examples,
// as when TFX's Trainer gets raw examples and a transform graph).
using ExampleMap = std::function<tensorflow::Example(const tensorflow::Example&)>;

// One feature. `shape` defaults to [values per example]; e.g. {28, 28, 1} for images. An empty
// `label` reads features only (y is then all zeros).
Dataset load_examples(const std::vector<std::string>& files, const std::string& feature, const std::string& label,
                      Shape shape = {}, const ExampleMap& map = {});
// Several features, by name (each [N, values per example]) — the inputs of a multi-input model:
//   load_examples(files, {"bill_length_mm_xf", "body_mass_g_xf"}, "species_xf").features
// With skip_missing_labels, an example whose label is missing (an empty value list) is left out
// and counted, instead of being an error.
Dataset load_examples(const std::vector<std::string>& files, const std::vector<std::string>& features, const std::string& label,
                      const ExampleMap& map = {}, bool skip_missing_labels = false);
inline Dataset load_examples(const std::vector<std::string>& files, std::initializer_list<std::string> features,
                             const std::string& label, const ExampleMap& map = {}) {
  return load_examples(files, std::vector<std::string>(features), label, map);
}

}  // namespace litepipe::nn
