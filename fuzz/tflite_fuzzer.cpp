// .tflite load + prepare + invoke: litepipe's TensorFlow Lite interpreter on an arbitrary file.
//
// As `litepipe predict` / the Evaluator use it: construct the Interpreter from the bytes (flatbuffer
// verification, tensors, operators, signatures), read the metadata (Metadata entries, TFLite
// Support's ModelMetadata, the zip of associated files, output labels), resize every input to its
// shape signature (-1 -> 1), allocate_tensors() (every kernel's Prepare + the arena plan), fill
// the inputs and invoke(); then run every SignatureDef through SignatureRunner.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "fuzz_util.h"
#include "nn/tensor.h"
#include "tflite/interpreter.h"

using namespace litepipe;

namespace {

constexpr int64_t kMaxInputElements = 1 << 20;
constexpr size_t kMaxArenaBytes = size_t{64} << 20;

// The shape an input is fed: its signature with dynamic (-1) dimensions set to 1; `elements` is
// -1 when the product is negative or too large to fill.
std::vector<int32_t> feed_shape(const tfl::Tensor& t, int64_t& elements) {
  std::vector<int32_t> shape = t.shape_signature.empty() ? t.shape : t.shape_signature;
  elements = 1;
  for (int32_t& d : shape) {
    if (d == -1) d = 1;
    if (d < 0 || (d > 0 && elements > kMaxInputElements / d)) {
      elements = -1;
      continue;
    }
    if (elements >= 0) elements *= d;
  }
  return shape;
}

float value_at(int64_t i) { return static_cast<float>(static_cast<int>((i * 2654435761u) % 511u)) * 0.5f - 127.0f; }

void fill(tfl::Tensor& t, int64_t elements) {
  if (!t.data || t.constant || elements < 0 || elements != t.elements()) return;
  for (int64_t i = 0; i < elements; ++i) {
    switch (t.type) {
      case tfl::DType::Float32: t.as<float>()[i] = value_at(i); break;
      case tfl::DType::Int32: t.as<int32_t>()[i] = static_cast<int32_t>(i % 7) - 3; break;
      case tfl::DType::Int64: t.as<int64_t>()[i] = static_cast<int64_t>(i % 7) - 3; break;
      case tfl::DType::Int16: t.as<int16_t>()[i] = static_cast<int16_t>(value_at(i)); break;
      case tfl::DType::Int8: t.as<int8_t>()[i] = static_cast<int8_t>(value_at(i)); break;
      case tfl::DType::UInt8: case tfl::DType::Bool: t.as<uint8_t>()[i] = static_cast<uint8_t>(i & 1); break;
      default: std::memset(t.data, 0, static_cast<size_t>(elements) * tfl::dtype_size(t.type)); return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<tfl::Interpreter> interpreter;
  try {
    interpreter = std::make_unique<tfl::Interpreter>(std::string(fuzz::as_view(data, size)), "fuzz.tflite");
  } catch (const Error&) {
    return 0;
  }
  tfl::Interpreter& interp = *interpreter;

  // Metadata: corrupt metadata is an Error on these calls, never on load or run.
  try {
    (void)interp.metadata();
  } catch (const Error&) {
  }
  try {
    (void)interp.model_metadata();
  } catch (const Error&) {
  }
  try {
    (void)interp.associated_files();
  } catch (const Error&) {
  }
  for (size_t o = 0; o < interp.outputs().size(); ++o) {
    try {
      (void)interp.output_labels(o);
    } catch (const Error&) {
    }
  }

  // Prepare and invoke on inputs of the shape the model declares.
  try {
    std::vector<int64_t> elements(interp.inputs().size(), -1);
    for (size_t i = 0; i < interp.inputs().size(); ++i) {
      auto shape = feed_shape(interp.tensor(interp.inputs()[i]), elements[i]);
      interp.resize_input(i, shape);
    }
    interp.allocate_tensors();
    // A model may legitimately be big; the time its kernels take on 100M-element tensors is not a
    // finding (it would be a libFuzzer timeout), so such models are prepared but not run.
    if (interp.arena_bytes() > kMaxArenaBytes) return 0;
    for (size_t i = 0; i < interp.inputs().size(); ++i) fill(interp.tensor(interp.inputs()[i]), elements[i]);
    interp.invoke();
    // Read every output, as predict does.
    double sum = 0;
    for (int o : interp.outputs()) {
      const tfl::Tensor& t = interp.tensor(o);
      if (t.type == tfl::DType::Float32 && t.data) {
        for (int64_t k = 0, n = std::min<int64_t>(t.elements(), kMaxInputElements); k < n; ++k) sum += t.as<float>()[k];
      }
    }
    (void)sum;
  } catch (const Error&) {
  }

  // Every signature through SignatureRunner (float feeds; int8 inputs are quantized by the runner).
  for (const auto& [key, signature] : interp.signatures()) {
    try {
      tfl::SignatureRunner runner(interp, key);
      std::map<std::string, nn::Tensor> feeds;
      bool feedable = true;
      for (const auto& [name, index] : signature.inputs) {
        // An index that is no tensor: fed [1], for SignatureRunner to reject (the harness does
        // not index with it itself).
        int64_t n = 1;
        std::vector<int32_t> shape = {1};
        if (index >= 0 && static_cast<size_t>(index) < interp.tensor_count()) shape = feed_shape(interp.tensor(index), n);
        if (n < 0) {
          feedable = false;
          break;
        }
        nn::Tensor x(std::vector<int64_t>(shape.begin(), shape.end()));
        for (int64_t k = 0; k < x.size(); ++k) x[k] = value_at(k);
        feeds.emplace(name, std::move(x));
      }
      if (!feedable) continue;
      auto outputs = runner.run(feeds);
      (void)outputs;
    } catch (const Error&) {
    }
  }
  return 0;
}
