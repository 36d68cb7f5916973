#pragma once
// Transform, after tf.Transform: a preprocessing_fn is a list of mappers, each reading a raw
// feature and writing a transformed one; analyzers (min, max, mean, variance, quantiles,
// vocabulary) run once over the training split, and their results become constants of the
// TransformGraph. The same graph transforms examples for training and becomes the first nodes of
// the exported serving model, so serving takes raw features.
//
// Mappers: identity, scale_to_0_1, scale_by_min_max {output_min, output_max},
// scale_to_z_score, bucketize {num_buckets}, compute_and_apply_vocabulary {top_k,
// num_oov_buckets, default_value}.
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "onnx/graph_builder.h"
#include "tensorflow/core/example/example.pb.h"

namespace litepipe::transform {

struct TransformOp {
  std::string output;  // transformed feature name, e.g. image_floats_xf
  std::string mapper;  // e.g. scale_by_min_max
  std::string input;   // raw feature name
  nlohmann::json args = nlohmann::json::object();
};

using PreprocessingFn = std::vector<TransformOp>;

// Parses the YAML/JSON form: a list of {output, op, input, ...args}. `where` names the origin.
PreprocessingFn parse_preprocessing_fn(const nlohmann::json& spec, const std::string& where);

class TransformGraph {
 public:
  TransformGraph() = default;
  // Runs the analyzers over the training files.
  static TransformGraph analyze(const PreprocessingFn& fn, const std::vector<std::filesystem::path>& train_files);
  static TransformGraph load(const std::filesystem::path& transform_output);
  void save(const std::filesystem::path& transform_output) const;

  // The transformed example: the outputs of every op (raw features not mapped are dropped).
  tensorflow::Example apply(const tensorflow::Example& raw) const;

  // ONNX nodes that compute `transformed_feature` from the raw input tensor `raw_tensor` (the
  // serving signature's input); returns the name of the result.
  std::string to_onnx(onnxio::GraphBuilder& g, const std::string& raw_tensor, const std::string& transformed_feature) const;
  // The serving signature's preprocessing for nn::Model::save.
  std::function<std::string(onnxio::GraphBuilder&, const std::string&)> serving_preprocessing(
      const std::string& transformed_feature) const;

  const nlohmann::json& to_json() const { return graph_; }

 private:
  explicit TransformGraph(nlohmann::json graph) : graph_(std::move(graph)) {}
  nlohmann::json graph_;  // {"ops": [{output, op, input, args, constants}]}
};

inline constexpr const char* kTransformGraphFile = "transform_graph.json";

}  // namespace litepipe::transform
