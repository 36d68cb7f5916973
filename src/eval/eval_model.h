#pragma once
// A serving model as the Evaluator runs it: the full model (ONNX, `<model uri>/Format-Serving/
// model.onnx`, litepipe's ONNX runner) or the TFLite one (`.../Format-Serving/tflite`, litepipe's
// interpreter), with TFMA's input mapping: a tensor named `serving_default_image_floats:0` is fed
// the feature `image_floats`.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eval/eval_config.h"
#include "nn/tensor.h"

namespace litepipe::eval {

struct ModelInput {
  std::string feature;      // the tf.Example feature that feeds it
  std::string tensor_name;  // as the model names it
  int64_t width = 0;        // values per example (the shape without the batch dimension)
};

// TFMA's rule: a leading `serving_default_` is stripped and anything from `:` on cut.
std::string feature_name_for_input(const std::string& tensor_name);

class EvalModel {
 public:
  // Loads the serving model under `model_uri` (a Model artifact) for `spec`; model_type "" picks
  // the file that is there. Errors name the path and what was expected.
  static std::unique_ptr<EvalModel> load(const std::filesystem::path& model_uri, const ModelSpec& spec);
  virtual ~EvalModel() = default;

  const std::vector<ModelInput>& inputs() const { return inputs_; }
  const std::string& model_type() const { return model_type_; }  // "tf_lite" or "onnx"
  const std::filesystem::path& path() const { return path_; }     // the model file
  uint64_t file_size() const { return file_size_; }
  // Largest batch the model takes (0 = any): a TFLite input without a dynamic batch dimension
  // keeps its stored batch.
  int64_t max_batch() const { return max_batch_; }
  // The output that holds the probabilities (ONNX: the graph output; TFLite: the signature key).
  const std::string& output_name() const { return output_name_; }
  // The quantization step of that output (an int8 output, or a float one dequantized from int8 by
  // the model's last op); 0 for a float model. Quantized probabilities sum to 1 only within it.
  double output_step() const { return output_step_; }

  // Sets up `workers` independent runners (TFLite: one interpreter each, as TFMA does).
  virtual void prepare_workers(size_t workers) = 0;
  // The output for one batch (feature -> [rows, width]), on runner `worker`: probabilities
  // [rows, classes], or one value per example ([rows, 1] or [rows]: regression, or a binary
  // classifier's positive-class probability).
  virtual nn::Tensor predict(const std::map<std::string, nn::Tensor>& batch, size_t worker) = 0;
  // Latency: predict(batch) `warmup` times, then `runs` times timed, on runner 0; the microseconds
  // of each timed run. Both model types are timed the same way, through the Evaluator's own
  // prediction path: feeding the inputs (TFLite: resizing, quantizing int8 inputs), running the
  // model and copying (TFLite: dequantizing) the probabilities out.
  std::vector<double> time_predictions(const std::map<std::string, nn::Tensor>& batch, int warmup, int runs);

 protected:
  std::vector<ModelInput> inputs_;
  std::string model_type_;
  std::filesystem::path path_;
  uint64_t file_size_ = 0;
  int64_t max_batch_ = 0;
  std::string output_name_;
  double output_step_ = 0;
};

}  // namespace litepipe::eval
