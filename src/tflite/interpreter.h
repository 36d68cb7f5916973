#pragma once
// A TensorFlow Lite interpreter in the spirit of TFLite Micro: the flatbuffer is verified first
// (over the whole file, as TFLite's FlatBufferModel does, so a file with TFLite Support's
// associated files zipped after the flatbuffer loads), every operator's kernel validates its
// tensors and computes output shapes in Prepare (once per input shape), one activation arena is
// planned for the whole graph, and Eval is lean. It loads any valid .tflite whose operators it
// implements, not only litepipe's.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nn/tensor.h"
#include "tflite/metadata.h"

namespace tflite {
struct Model;
struct Operator;
}

namespace litepipe::tfl {

// TensorFlow Lite's TensorType values.
enum class DType : int8_t { Float32 = 0, Float16 = 1, Int32 = 2, UInt8 = 3, Int64 = 4, String = 5, Bool = 6, Int16 = 7, Int8 = 9 };
const char* dtype_name(DType t);
size_t dtype_size(DType t);

struct Tensor {
  std::string name;
  DType type = DType::Float32;
  std::vector<int32_t> shape;
  std::vector<int32_t> shape_signature;  // -1 = dynamic
  std::vector<float> scale;              // quantization (empty: none)
  std::vector<int64_t> zero_point;
  int32_t quantized_dimension = 0;
  bool constant = false;
  uint8_t* data = nullptr;  // constant buffer, or a slot of the arena

  int64_t elements() const;
  size_t bytes() const { return static_cast<size_t>(elements()) * dtype_size(type); }
  template <typename T>
  T* as() const { return reinterpret_cast<T*>(data); }
};

class Interpreter;

// One operator instance: its tensors and whatever its kernel precomputed in Prepare.
struct Node {
  int builtin = 0;
  int version = 1;
  std::string op_name;
  const ::tflite::Operator* op = nullptr;
  std::vector<int> inputs, outputs;
  bool quantized = false;     // Prepare chose the int8 kernel
  std::vector<int64_t> ints;  // kernel scratch: precomputed parameters
  std::vector<float> floats;
  std::shared_ptr<void> state;  // kernel-owned objects (e.g. a oneDNN primitive)
};

struct Kernel {
  const char* name;
  int max_version;
  void (*prepare)(Interpreter&, Node&);
  void (*eval)(Interpreter&, Node&);
};
// The kernel for a builtin operator code, or nullptr.
const Kernel* find_kernel(int builtin);

class Interpreter {
 public:
  static std::unique_ptr<Interpreter> from_file(const std::filesystem::path& path);
  Interpreter(std::string model_bytes, std::string origin);
  ~Interpreter();

  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }
  Tensor& tensor(int index) { return tensors_.at(static_cast<size_t>(index)); }
  const Tensor& tensor(int index) const { return tensors_.at(static_cast<size_t>(index)); }
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
  void invoke();
  // invoke() that calls `after_node` once each operator has run (calibration reads every
  // intermediate tensor there, before the arena reuses its memory).
  void invoke(const std::function<void(const Node&)>& after_node);
  size_t arena_bytes() const { return arena_size_; }

  // SignatureDefs: key -> (name -> tensor index).
  struct Signature {
    std::map<std::string, int> inputs, outputs;
  };
  const std::map<std::string, Signature>& signatures() const { return signatures_; }
  // The model's Metadata entries: name -> the buffer's text up to its first NUL (e.g.
  // min_runtime_version). TFLITE_METADATA holds a flatbuffer: read it with model_metadata().
  std::map<std::string, std::string> metadata() const;
  // TFLite Support metadata (tflite/metadata.h): the ModelMetadata in TFLITE_METADATA (nullopt
  // without one), the files packed after the flatbuffer as a zip archive (name -> contents), and
  // the labels of output `output` (its TENSOR_AXIS_LABELS file; empty without one). Read on each
  // call; corrupt metadata is an Error here, never when the model is loaded or run.
  std::optional<ModelMetadataInfo> model_metadata() const;
  std::map<std::string, std::string> associated_files() const;
  std::vector<std::string> output_labels(size_t output) const;
  // The whole file, flatbuffer and any associated files after it.
  size_t model_bytes() const { return bytes_.size(); }

  [[noreturn]] void fail_node(const Node& node, const std::string& message) const;

 private:
  std::string bytes_;
  std::string origin_;
  const ::tflite::Model* model_ = nullptr;
  std::vector<Tensor> tensors_;
  std::vector<Node> nodes_;
  std::vector<int> inputs_, outputs_;
  std::map<std::string, Signature> signatures_;
  std::vector<std::vector<uint8_t>> owned_constants_;  // constants copied for alignment
  uint8_t* arena_ = nullptr;
  size_t arena_size_ = 0;
  bool prepared_ = false;
};

// TFLite's SignatureRunner: inputs and outputs by their SignatureDef names. Each input is resized
// to the batch it is fed (kernels are prepared again only when a shape changes); int8 inputs are quantized with the tensor's scale and zero point and
// int8 outputs dequantized, so callers always see float32 (bool outputs as 1 / 0).
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
