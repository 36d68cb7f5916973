#pragma once
// A TensorFlow Lite interpreter structured as TFLite Micro's:
// - loading: the flatbuffer is verified over the whole file (as TFLite's FlatBufferModel does, so a
//   file with TFLite Support's associated files zipped after the flatbuffer loads), then the model
//   check (model_check.cpp) rejects a hostile model before anything is sized by its contents:
//   tensor indices in range, shapes non-negative with products that fit, buffers exactly the
//   tensors' byte sizes, quantization parameters consistent, every tensor read by an operator
//   already computed (so the graph is acyclic), signatures and metadata referring to what exists.
//   Each operator's kernel is resolved once (op_resolver.h) and its Init parses the options into
//   the kernel's typed OpData (TFLite's defaults when the options are absent) and checks the
//   element types it supports;
// - allocate_tensors(): each kernel's Prepare checks shapes and quantization, computes output
//   shapes (checked arithmetic), precomputes (multipliers, tables, packed weights), requests
//   scratch memory and picks its Eval for the tensors' types; one arena is then planned for every
//   activation and scratch buffer;
// - invoke(): each node's Eval, nothing else.
// It loads any valid .tflite whose operators it implements, not only litepipe's.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nn/tensor.h"
#include "tflite/runtime/tensor.h"
#include "tflite/support/metadata.h"

namespace tflite {
struct Model;
struct Operator;
}

namespace litepipe::tfl {

class Interpreter;
class OpContext;
struct Kernel;

// What a kernel keeps for one operator instance: its options (parsed at load) and what Prepare
// precomputed. Each kernel derives its own.
struct OpData {
  virtual ~OpData() = default;
};

using EvalFn = void (*)(OpContext&);

// One operator instance.
struct Node {
  int builtin = 0;
  int version = 1;
  std::string op_name;
  const ::tflite::Operator* op = nullptr;
  std::vector<int> inputs, outputs;  // -1: an absent optional input
  const Kernel* kernel = nullptr;    // resolved once, at load
  std::unique_ptr<OpData> data;      // the kernel's OpData
  EvalFn eval = nullptr;             // chosen by Prepare for the tensors' types
  std::vector<size_t> scratch_bytes;  // scratch buffers Prepare requested, planned in the arena
  std::vector<uint8_t*> scratch;
};

class Interpreter {
 public:
  static std::unique_ptr<Interpreter> from_file(const std::filesystem::path& path);
  // Verifies and checks the model (see above); an Error naming `origin` and what is wrong.
  Interpreter(std::string model_bytes, std::string origin);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }
  // An Error for an index the model does not have.
  Tensor& tensor(int index);
  const Tensor& tensor(int index) const;
  size_t tensor_count() const { return tensors_.size(); }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::string& origin() const { return origin_; }

  // Like TFLite's ResizeInputTensor: dims allowed by shape_signature (-1 = any).
  void resize_input(size_t input, const std::vector<int32_t>& shape);
  // Prepares every node for the current input shapes and plans the arena; called by invoke()
  // when shapes changed.
  void allocate_tensors();
  // allocate_tensors() only when an input shape changed since the last one (or never ran).
  void ensure_allocated() {
    if (!prepared_) allocate_tensors();
  }
  // TFLite's SetNumThreads: the OpenMP threads invoke() may use (default 1, as TFLite's CPU
  // kernels: batch-1 latency of small models is best on one thread, and a team spinning on a
  // shared core loses far more than it gains); -1 runs with the caller's OpenMP setting (the
  // Evaluator, which spreads batches over its own workers). The caller's setting is restored
  // after each run.
  void set_num_threads(int threads);
  int num_threads() const { return num_threads_; }
  void invoke();
  // invoke() that calls `after_node` once each operator has run (calibration reads every
  // intermediate tensor there, before the arena reuses its memory).
  void invoke(const std::function<void(const Node&)>& after_node);
  size_t arena_bytes() const { return arena_size_; }
  // The most memory allocate_tensors() may plan for activations and scratch buffers (TFLite
  // Micro's fixed arena); a plan that needs more is an Error. Unlimited by default.
  void set_max_arena_bytes(size_t bytes) { max_arena_bytes_ = bytes; }

  // SignatureDefs: key -> (name -> tensor index); inputs are subgraph inputs, outputs subgraph
  // outputs (checked at load).
  struct Signature {
    std::map<std::string, int> inputs, outputs;
  };
  const std::map<std::string, Signature>& signatures() const { return signatures_; }
  // The model's Metadata entries: name -> the buffer's text up to its first NUL (e.g.
  // min_runtime_version). TFLITE_METADATA holds a flatbuffer: read it with model_metadata().
  std::map<std::string, std::string> metadata() const;
  // TFLite Support metadata (tflite/support/metadata.h): the ModelMetadata in TFLITE_METADATA
  // (nullopt without one), the files packed after the flatbuffer as a zip archive (name ->
  // contents), and the labels of output `output` (its TENSOR_AXIS_LABELS file; empty without
  // one). Read on each call; corrupt metadata is an Error here, never when the model is loaded or run.
  std::optional<ModelMetadataInfo> model_metadata() const;
  std::map<std::string, std::string> associated_files() const;
  std::vector<std::string> output_labels(size_t output) const;
  // The whole file, flatbuffer and any associated files after it.
  size_t model_bytes() const { return bytes_.size(); }

  [[noreturn]] void fail_node(const Node& node, const std::string& message) const;

 private:
  friend class OpContext;
  void load();  // model_check.cpp: verification, the model check, kernel resolution and Init
  void plan_arena();

  std::string bytes_;
  std::string origin_;
  int num_threads_ = 1;
  const ::tflite::Model* model_ = nullptr;
  std::vector<Tensor> tensors_;
  std::vector<Node> nodes_;
  std::vector<int> inputs_, outputs_;
  std::map<std::string, Signature> signatures_;
  std::vector<std::vector<uint8_t>> owned_constants_;  // constants copied for alignment
  uint8_t* arena_ = nullptr;
  size_t arena_size_ = 0;
  size_t max_arena_bytes_ = SIZE_MAX;
  bool prepared_ = false;
};

// TFLite's SignatureRunner: inputs and outputs by their SignatureDef names. Each input is resized
// to the batch it is fed (kernels are prepared again only when a shape changes); int8 inputs are
// quantized with the tensor's scale and zero point and int8 outputs dequantized, so callers always
// see float32 (bool outputs as 1 / 0).
class SignatureRunner {
 public:
  SignatureRunner(Interpreter& interpreter, const std::string& signature_key);
  std::map<std::string, nn::Tensor> run(const std::map<std::string, nn::Tensor>& inputs);
  const Interpreter::Signature& signature() const { return signature_; }

 private:
  Interpreter& interpreter_;
  std::string key_;
  Interpreter::Signature signature_;
};

}  // namespace litepipe::tfl
