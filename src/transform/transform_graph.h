#pragma once
// Transform, after tf.Transform: a preprocessing_fn is a list of mappers, each reading a raw
// feature (or the output of an earlier op) and writing a transformed one; analyzers (min, max,
// mean, variance, quantiles, most frequent value, vocabulary) run over the training split, and
// their results become constants of the TransformGraph. The same graph transforms examples for
// training and becomes the first nodes of the exported serving model, so serving takes raw
// features.
//
// Mappers (names in transform::mappers): identity, fill_missing {strategy: constant | mean |
// most_frequent, value}, scale_to_0_1, scale_by_min_max {output_min, output_max},
// scale_to_z_score, bucketize {num_buckets}, compute_and_apply_vocabulary {top_k,
// num_oov_buckets, default_value}, one_hot {depth}.
//
// A missing value (an empty value list, as ExampleGen writes a missing CSV cell) stays missing
// through every mapper but fill_missing, which replaces it. In a serving model a missing float
// input is NaN.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "onnx/graph_builder.h"
#include "tensorflow/core/example/example.pb.h"

namespace litepipe::transform {

namespace mappers {
inline constexpr const char* kIdentity = "identity";
inline constexpr const char* kFillMissing = "fill_missing";
inline constexpr const char* kScaleTo01 = "scale_to_0_1";
inline constexpr const char* kScaleByMinMax = "scale_by_min_max";
inline constexpr const char* kScaleToZScore = "scale_to_z_score";
inline constexpr const char* kBucketize = "bucketize";
inline constexpr const char* kVocabulary = "compute_and_apply_vocabulary";
inline constexpr const char* kOneHot = "one_hot";
}  // namespace mappers

enum class FillStrategy { Constant, Mean, MostFrequent };

// One op of a preprocessing_fn, parsed and checked.
struct TransformOp {
  std::string output;  // transformed feature name, e.g. image_floats_xf
  std::string mapper;  // one of transform::mappers
  std::string input;   // a raw feature, or the output of an earlier op
  // Mapper parameters (only those of `mapper` are used).
  double output_min = 0, output_max = 1;                // scale_by_min_max
  int64_t num_buckets = 0;                              // bucketize
  std::optional<int64_t> top_k;                         // compute_and_apply_vocabulary
  int64_t num_oov_buckets = 0, default_value = -1;      // compute_and_apply_vocabulary
  FillStrategy strategy = FillStrategy::Constant;       // fill_missing
  nlohmann::json value = nullptr;                       // fill_missing constant
  std::optional<int64_t> depth;                         // one_hot; default: learned (vocabulary size + OOV, or max + 1)

  nlohmann::json args_json() const;  // the parameters as written back into the graph
};

using PreprocessingFn = std::vector<TransformOp>;

// Parses the YAML/JSON form: a list of {output, op, input, ...args}. `where` names the origin;
// every error names the op's index and field.
PreprocessingFn parse_preprocessing_fn(const nlohmann::json& spec, const std::string& where);

struct VocabularyIndex;

class TransformGraph {
 public:
  TransformGraph();  // no ops
  // Runs the analyzers over the training files (one pass per level of chained ops).
  static TransformGraph analyze(const PreprocessingFn& fn, const std::vector<std::filesystem::path>& train_files);
  static TransformGraph load(const std::filesystem::path& transform_output);
  void save(const std::filesystem::path& transform_output) const;

  // The transformed example: the outputs of every op (raw features not mapped are dropped).
  tensorflow::Example apply(const tensorflow::Example& raw) const;

  // The raw feature a transformed feature is computed from (following chained ops).
  std::string raw_feature_of(const std::string& transformed_feature) const;
  // The vocabulary of a compute_and_apply_vocabulary output, most frequent first: its class
  // names when it is the label. Empty when the feature is not a vocabulary's output.
  std::vector<std::string> vocabulary(const std::string& transformed_feature) const;
  bool produces(const std::string& transformed_feature) const;

  // ONNX nodes that compute `transformed_feature` from the raw input tensor `raw_tensor` (the
  // serving signature's input, float32, NaN where missing); returns the name of the result.
  std::string to_onnx(onnxio::GraphBuilder& g, const std::string& raw_tensor, const std::string& transformed_feature) const;
  // The serving signature's preprocessing for nn::Model::save, single input.
  std::function<std::string(onnxio::GraphBuilder&, const std::string&)> serving_preprocessing(
      const std::string& transformed_feature) const;
  // Serving inputs for nn::Model::save: each transformed feature a model Input is named after,
  // with the raw feature that feeds it and its preprocessing.
  std::map<std::string, onnxio::ServingInput> serving_inputs(const std::vector<std::string>& transformed_features) const;

  const nlohmann::json& to_json() const { return graph_; }

 private:
  explicit TransformGraph(nlohmann::json graph);
  const nlohmann::json& op_producing(const std::string& transformed_feature) const;
  nlohmann::json graph_;  // {"ops": [{output, op, input, args, constants}]}
  std::shared_ptr<const VocabularyIndex> vocabularies_;  // lookups of every vocabulary, built once
};

inline constexpr const char* kTransformGraphFile = "transform_graph.json";

}  // namespace litepipe::transform
