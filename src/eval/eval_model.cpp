#include "eval/eval_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/files.h"
#include "onnx/onnx_model.h"
#include "tflite/interpreter.h"

namespace litepipe::eval {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double micros_since(Clock::time_point start) { return std::chrono::duration<double, std::micro>(Clock::now() - start).count(); }

constexpr const char* kServingDir = "Format-Serving";  // the Trainer's serving model folder
constexpr const char* kTfLiteFileName = "tflite";      // TFLiteRewriter's default filename

template <typename Map>
std::string names_of(const Map& map) {
  std::vector<std::string> names;
  for (const auto& [name, _] : map) names.push_back(name);
  return fmt::format("{}", fmt::join(names, ", "));
}

// The output that holds the probabilities: `prediction_key`, or the only one.
template <typename Map>
std::string pick_output(const Map& outputs, const ModelSpec& spec, const std::string& origin) {
  if (!spec.prediction_key.empty()) {
    if (!outputs.count(spec.prediction_key)) {
      fail("{}: model_specs.prediction_key '{}' is not an output of signature '{}' (outputs: {})", origin, spec.prediction_key,
           spec.signature_name, names_of(outputs));
    }
    return spec.prediction_key;
  }
  if (outputs.size() != 1) {
    fail("{}: signature '{}' has {} outputs ({}); set model_specs.prediction_key to the probabilities", origin, spec.signature_name,
         outputs.size(), names_of(outputs));
  }
  return outputs.begin()->first;
}

class OnnxEvalModel final : public EvalModel {
 public:
  OnnxEvalModel(const fs::path& path, const ModelSpec& spec) : runner_(path) {
    const auto& signatures = runner_.signature_def();
    if (!signatures.contains(spec.signature_name)) {
      fail("{}: no signature '{}' (signatures: {})", path.string(), spec.signature_name, names_of(signatures.items()));
    }
    const auto& signature = signatures[spec.signature_name];
    std::map<std::string, std::string> outputs;  // signature key -> graph output
    const nlohmann::json signature_outputs = signature.value("outputs", nlohmann::json::object());
    for (const auto& [key, o] : signature_outputs.items()) outputs[key] = o.value("name", key);
    output_name_ = outputs.at(pick_output(outputs, spec, path.string()));
    const auto& graph = runner_.model().graph();
    for (const auto& name : runner_.input_names()) {
      ModelInput input{feature_name_for_input(name), name, 1};
      for (const auto& g : graph.input()) {
        if (g.name() != name) continue;
        const auto& dims = g.type().tensor_type().shape().dim();
        for (int d = 1; d < dims.size(); ++d) {
          if (!dims[d].has_dim_value()) fail("{}: input '{}' has a dynamic dimension {}; only the batch may vary", path.string(), name, d);
          input.width *= dims[d].dim_value();
        }
      }
      inputs_.push_back(input);
    }
    model_type_ = "onnx";
    path_ = path;
    file_size_ = fs::file_size(path);
  }

  void prepare_workers(size_t) override {}  // OnnxRunner::run is safe to call from several threads

  nn::Tensor predict(const std::map<std::string, nn::Tensor>& batch, size_t) override {
    std::map<std::string, nn::Tensor> feeds;
    for (const auto& input : inputs_) feeds[input.tensor_name] = batch.at(input.feature);
    auto outputs = runner_.run(feeds);
    auto it = outputs.find(output_name_);
    if (it == outputs.end()) fail("{}: the graph computed no output '{}'", path_.string(), output_name_);
    return it->second;
  }

 private:
  onnxio::OnnxRunner runner_;
};

// The step of tensor `index`'s values: its int8 scale, or that of the int8 tensor a DEQUANTIZE
// op turns into it; 0 for float values.
double quantization_step(const tfl::Interpreter& interpreter, int index) {
  const tfl::Tensor& t = interpreter.tensor(index);
  if (t.type == tfl::DType::Int8 && !t.scale.empty()) return t.scale[0];
  for (const auto& node : interpreter.nodes()) {
    if (node.op_name != "DEQUANTIZE" || node.outputs.empty() || node.outputs[0] != index || node.inputs.empty()) continue;
    const tfl::Tensor& source = interpreter.tensor(node.inputs[0]);
    if (!source.scale.empty()) return source.scale[0];
  }
  return 0;
}

class TfLiteEvalModel final : public EvalModel {
 public:
  TfLiteEvalModel(const fs::path& path, const ModelSpec& spec) : bytes_(read_file(path)), signature_name_(spec.signature_name) {
    path_ = path;
    model_type_ = kTfLiteModelType;
    file_size_ = bytes_.size();
    interpreters_.push_back(std::make_unique<tfl::Interpreter>(bytes_, path.string()));
    tfl::Interpreter& interpreter = *interpreters_[0];
    interpreter.set_num_threads(-1);  // the Evaluator's workers set the thread count
    auto signature = interpreter.signatures().find(spec.signature_name);
    if (signature == interpreter.signatures().end()) {
      fail("{}: no signature '{}' (signatures: {})", path.string(), spec.signature_name, names_of(interpreter.signatures()));
    }
    output_name_ = pick_output(signature->second.outputs, spec, path.string());
    output_step_ = quantization_step(interpreter, signature->second.outputs.at(output_name_));
    for (const auto& [key, index] : signature->second.inputs) {
      const tfl::Tensor& t = interpreter.tensor(index);
      const auto& dims = t.shape_signature.empty() ? t.shape : t.shape_signature;
      if (dims.empty()) fail("{}: input '{}' is a scalar; expected [batch, ...]", path.string(), t.name);
      ModelInput input{feature_name_for_input(t.name), t.name, 1};
      for (size_t d = 1; d < dims.size(); ++d) {
        if (dims[d] < 0) fail("{}: input '{}' has a dynamic dimension {}; only the batch may vary", path.string(), t.name, d);
        input.width *= dims[d];
      }
      if (dims[0] >= 0) max_batch_ = t.shape[0];
      signature_keys_[input.feature] = key;
      inputs_.push_back(input);
    }
  }

  void prepare_workers(size_t workers) override {
    while (interpreters_.size() < workers) {
      interpreters_.push_back(std::make_unique<tfl::Interpreter>(bytes_, path_.string()));
      interpreters_.back()->set_num_threads(-1);
    }
    workers_.resize(interpreters_.size());
  }

  // Through TFLite's SignatureRunner (one per worker): inputs resized to the batch (kernels are
  // prepared again only when the batch shape changes), int8 inputs quantized, outputs dequantized.
  nn::Tensor predict(const std::map<std::string, nn::Tensor>& batch, size_t worker) override {
    if (workers_.empty()) prepare_workers(1);
    std::unique_ptr<tfl::SignatureRunner>& runner = workers_.at(worker);
    if (!runner) runner = std::make_unique<tfl::SignatureRunner>(*interpreters_.at(worker), signature_name_);
    std::map<std::string, nn::Tensor> feeds;
    for (const auto& input : inputs_) feeds[signature_keys_.at(input.feature)] = batch.at(input.feature);
    return runner->run(feeds).at(output_name_);
  }

 private:
  std::string bytes_;
  std::string signature_name_;
  std::map<std::string, std::string> signature_keys_;  // feature -> signature input key
  std::vector<std::unique_ptr<tfl::Interpreter>> interpreters_;
  std::vector<std::unique_ptr<tfl::SignatureRunner>> workers_;
};

}  // namespace

std::string feature_name_for_input(const std::string& tensor_name) {
  static const std::string prefix = "serving_default_";
  std::string name = tensor_name.rfind(prefix, 0) == 0 ? tensor_name.substr(prefix.size()) : tensor_name;
  return name.substr(0, name.find(':'));
}

std::vector<double> EvalModel::time_predictions(const std::map<std::string, nn::Tensor>& batch, int warmup, int runs) {
  prepare_workers(1);
  for (int i = 0; i < warmup; ++i) predict(batch, 0);
  std::vector<double> micros;
  micros.reserve(static_cast<size_t>(std::max(runs, 0)));
  for (int i = 0; i < runs; ++i) {
    auto start = Clock::now();
    nn::Tensor probabilities = predict(batch, 0);
    micros.push_back(micros_since(start));
  }
  return micros;
}

std::unique_ptr<EvalModel> EvalModel::load(const fs::path& model_uri, const ModelSpec& spec) {
  fs::path serving = model_uri / kServingDir;
  if (!fs::is_directory(serving)) fail("{}: the model has no {} folder (a Trainer's serving model)", model_uri.string(), kServingDir);
  fs::path tflite = serving / kTfLiteFileName, onnx = serving / onnxio::kModelFileName;
  bool want_tflite = spec.model_type.empty() ? fs::exists(tflite) && !fs::exists(onnx) : spec.is_tflite();
  fs::path file = want_tflite ? tflite : onnx;
  if (!fs::is_regular_file(file)) {
    fail("{}: no {} model file; model_type '{}' expects {}", serving.string(), want_tflite ? "TFLite" : "ONNX",
         spec.model_type.empty() ? "(by file)" : spec.model_type, file.string());
  }
  if (want_tflite) return std::make_unique<TfLiteEvalModel>(file, spec);
  return std::make_unique<OnnxEvalModel>(file, spec);
}

}  // namespace litepipe::eval
