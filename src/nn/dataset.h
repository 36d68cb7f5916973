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
  // Set by load_train_shard under a launcher: one entry per example of the whole training set (in
  // file order), its row in x / y / features here, or -1 where another rank holds it.
  std::vector<int64_t> shard_rows = {};
  int64_t size() const { return y.rank() ? y.dim(0) : 0; }
  bool is_shard() const { return !shard_rows.empty(); }
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

// The training set of a data-parallel Model::fit(const Dataset&): in one process the same as
// load_examples. Under mpirun / srun (distributed/world.h) every rank reads the record framing of
// every file, which fixes the global example order (file order, as one process), but parses and
// maps (`map`: e.g. the Transform graph) only the examples i with i mod ranks == rank — parsing and
// mapping are what cost, and a split is often a single file (ExampleGen writes one shard per 20,000
// examples), so whole files per rank would leave ranks idle. fit() then draws the single-process
// global batches and each rank computes the rows of each batch it holds. The errors of an example
// are found by the rank that parses it. Pass the Dataset itself to fit(): its x and y are only this
// rank's rows.
Dataset load_train_shard(const std::vector<std::string>& files, const std::string& feature, const std::string& label, Shape shape = {},
                         const ExampleMap& map = {});
Dataset load_train_shard(const std::vector<std::string>& files, const std::vector<std::string>& features, const std::string& label,
                         const ExampleMap& map = {}, bool skip_missing_labels = false);

}  // namespace litepipe::nn
