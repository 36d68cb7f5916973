#pragma once
// Model evaluation as TFMA does it: read tf.Examples, run the model in batches, compute metrics
// and plots per slice, check thresholds (against a baseline model for change thresholds) and
// write the results:
//
//   metrics.json      {"model", "baseline_model"?, "problem_type", "example_count", "slices":
//                      [{"slice_key", "slice", "metrics", "baseline_metrics"?}]}
//   plots.json        {"slices": [{"slice_key", "slice", "plots"}]}
//   validations.json  {"validation_ok", "thresholds_configured", "metric_validations_per_slice",
//                      "missing_slices", "change_thresholds_skipped"}
//   eval_config.json  the config with its defaults filled in
//   predictions.tfrecord.gz  one tf.Example per example: example_index, label (int64) and
//                      probabilities, or for a regression model label (float) and prediction; and
//                      the slicing features (so two evaluations can be compared example by example)
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/eval_config.h"
#include "eval/metrics.h"

namespace tensorflow {
class Feature;
}
namespace litepipe::distributed {
class World;
}

namespace litepipe::eval {

inline constexpr const char* kMetricsFile = "metrics.json";
inline constexpr const char* kPlotsFile = "plots.json";
inline constexpr const char* kValidationsFile = "validations.json";
inline constexpr const char* kEvalConfigFile = "eval_config.json";
inline constexpr const char* kPredictionsFile = "predictions.tfrecord.gz";
inline constexpr const char* kOverallSliceKey = "Overall";
inline constexpr int64_t kDefaultBatchSize = 256;
// The Trainer's serving model folder, and the folder in it that holds the model's Transform graph
// (what TFMA's preprocessing_function_names runs).
inline constexpr const char* kServingModelDirName = "Format-Serving";
inline constexpr const char* kModelTransformDirName = "transform_fn";

struct EvaluationRequest {
  EvalConfig config;
  std::vector<std::filesystem::path> example_files;  // TFRecord files of tf.Example, read in order
  std::filesystem::path model_uri;                   // a Model artifact (holds Format-Serving/)
  std::optional<std::filesystem::path> baseline_model_uri;
  std::filesystem::path output_dir;                  // where the files above are written
  int64_t batch_size = kDefaultBatchSize;
  size_t threads = 0;  // 0 = every core
  // The features of the examples' schema, when the Evaluator has one: every feature the config
  // names (label, slicing, per-slice thresholds) must be one of them (or, with
  // preprocessing_function_names, an output of the model's transform graph).
  std::optional<std::set<std::string>> schema_features;
  std::string schema_origin;  // the schema file, for errors
  // Sharded over a world of K ranks (every rank calls evaluate with the same request): rank r
  // reads and predicts example files r, r + K, ...; rank 0 gathers the predictions in file order,
  // computes the metrics and writes the files, equal to one process's; the other ranks return an
  // empty result. Null: this process does it all.
  const distributed::World* world = nullptr;
};

struct ModelInfo {
  std::string name, model_type;
  std::filesystem::path path;  // the model file
  uint64_t file_size = 0;
};

struct EvaluationResult {
  ModelInfo model;
  std::optional<ModelInfo> baseline_model;
  int64_t example_count = 0;
  ProblemType problem_type = ProblemType::MultiClass;  // what the model was evaluated as
  bool thresholds_configured = false;
  bool validation_ok = true;
  nlohmann::json metrics, plots, validations;
};

EvaluationResult evaluate(const EvaluationRequest& request);

// TFMA's slice key text: "Overall", "image_class:3", "a_X_b:1_X_x" (columns sorted).
std::string slice_key_string(const std::vector<std::pair<std::string, std::string>>& slice);

// A bytes_list value as slice text (slice keys and values are written to metrics.json and
// plots.json, which are UTF-8): valid UTF-8 sequences are kept and every other byte is written as
// `\xNN` (two lowercase hex digits), so "caf\xe9" is the Latin-1 byte 0xE9 after "caf".
std::string utf8_or_escaped(std::string_view bytes);
// The length of the valid UTF-8 sequence starting at `at` (1 to 4), or 0 when there is none.
size_t utf8_sequence_length(std::string_view text, size_t at);

// Copies the `width` values (float or int64) of model input feature `name` to `out`; `where` names
// the record in the error when the count differs.
void feature_as_floats(const tensorflow::Feature& feature, const std::string& name, int64_t width, float* out, const std::string& where);

}  // namespace litepipe::eval
