// Mutation testing of litepipe's TensorFlow Lite runtime: makes N mutants of a .tflite model
// (random byte and bit flips, integer overwrites and truncations, mostly aimed at the flatbuffer's
// structure rather than its weights, and structured edits through the flatbuffers object API:
// shapes, types, buffers, quantization, operator inputs / outputs / options / order, signatures,
// metadata), and for each one, in this process: loads it, reads what `litepipe tflite inspect`
// reads, prepares and invokes it through tfl::Interpreter and through every SignatureRunner with
// random inputs, and runs `litepipe tflite inspect` and `litepipe predict` on it. A mutant either
// runs or fails with a litepipe::Error; anything else is a finding: another exception type is
// counted and makes the exit status 1, a crash (or, in an AddressSanitizer build, any memory error
// or undefined behaviour) ends the run.
//
//   tflite_mutants MODEL.tflite [--mutants N] [--seed S] [--only I] [--save I FILE] [--fork] [--no-cli] [--verbose]
//   tflite_mutants --make mlp|cnn|mlp-int8|cnn-int8 OUT.tflite
//
// Mutant I of seed S is the same on every run (--only I replays it, --save I FILE writes it).
// --fork runs each mutant in a child process and counts crashes instead of stopping (to measure
// a runtime that still crashes). --make writes a small model converted from an nn::Model: the
// MNIST MLP (Dense 32 relu, Dense 10 softmax) or CNN (two Conv2D + MaxPooling, Dense 10 softmax)
// with a Rescaling(1/255) in front, float32 or full-integer int8 (calibrated on random pixels).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/model_commands.h"
#include "core/error.h"
#include "core/files.h"
#include "core/log.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "onnx/onnx_model.h"
#include "tflite/converter.h"
#include "tflite/interpreter.h"
#include "tflite_subset_generated.h"

using namespace litepipe;
namespace fs = std::filesystem;

namespace {

// ---- --make: the models the suite trains, untrained (weights as initialized) -------------------
std::string make_model(const std::string& kind) {
  const bool cnn = kind.rfind("cnn", 0) == 0, int8 = kind.find("int8") != std::string::npos;
  if (kind != "mlp" && kind != "cnn" && kind != "mlp-int8" && kind != "cnn-int8") fail("--make: unknown model '{}' (mlp, cnn, mlp-int8, cnn-int8)", kind);
  nn::set_random_seed(7);
  auto input = nn::Input({784}, "image_floats");
  auto x = nn::Rescaling(1.0f / 255)(input);
  nn::NodeRef out;
  if (cnn) {
    auto c = nn::Reshape({28, 28, 1})(x);
    c = nn::MaxPooling2D()(nn::Conv2D(8, {3, 3}, {.activation = "relu"})(c));
    c = nn::MaxPooling2D()(nn::Conv2D(16, {3, 3}, {.activation = "relu"})(c));
    out = nn::Dense(10, {.activation = "softmax"})(nn::Flatten()(c));
  } else {
    out = nn::Dense(10, {.activation = "softmax"})(nn::Dense(32, {.activation = "relu"})(x));
  }
  nn::Model model({input}, out);
  fs::path dir = fs::temp_directory_path() / fmt::format("tflite_mutants_make_{}", ::getpid());
  model.save(dir);
  onnx::ModelProto proto = onnxio::load_model(dir / onnxio::kModelFileName);
  fs::remove_all(dir);
  tfl::ConverterOptions options;
  if (int8) {
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> pixel(0, 255);
    nn::Tensor batch({64, 784});
    for (int64_t i = 0; i < batch.size(); ++i) batch[i] = static_cast<float>(pixel(rng));
    options.full_integer = true;
    options.representative_dataset = {{{"image_floats", batch}}};
  }
  return tfl::convert_onnx_to_tflite(proto, options, kind);
}

// ---- mutations ---------------------------------------------------------------------------------
using Rng = std::mt19937_64;

template <typename T>
T pick(Rng& rng, const std::vector<T>& values) {
  return values[std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng)];
}
int64_t uniform(Rng& rng, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }
bool chance(Rng& rng, double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }

int32_t interesting_int(Rng& rng) {
  return pick<int32_t>(rng, {0, 1, -1, 2, 3, 4, 7, 8, 10, 16, 127, 128, 255, 256, 784, 1024, 65535, 65536, -2, -128, -129,
                             1 << 20, 1 << 30, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min(),
                             static_cast<int32_t>(uniform(rng, -100000, 100000))});
}
float interesting_float(Rng& rng) {
  return pick<float>(rng, {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 1e-30f, 1e30f, 1e-45f, std::numeric_limits<float>::infinity(),
                           -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(), 1.0f / 256, 3.0f});
}

// The byte ranges of the flatbuffer that hold buffer contents (weights); mutations mostly go
// elsewhere, where the structure is.
std::vector<std::pair<size_t, size_t>> data_ranges(const std::string& bytes) {
  std::vector<std::pair<size_t, size_t>> ranges;
  const auto* model = ::tflite::GetModel(bytes.data());
  if (!model->buffers()) return ranges;
  for (const auto* b : *model->buffers()) {
    if (!b->data() || b->data()->size() < 64) continue;
    const size_t start = static_cast<size_t>(b->data()->data() - reinterpret_cast<const uint8_t*>(bytes.data()));
    ranges.emplace_back(start, start + b->data()->size());
  }
  std::sort(ranges.begin(), ranges.end());
  return ranges;
}

size_t structure_offset(Rng& rng, const std::string& bytes, const std::vector<std::pair<size_t, size_t>>& weights) {
  for (int tries = 0; tries < 64; ++tries) {
    size_t at = static_cast<size_t>(uniform(rng, 0, static_cast<int64_t>(bytes.size()) - 1));
    bool in_weights = false;
    for (const auto& [a, b] : weights) in_weights |= at >= a && at < b;
    if (!in_weights || chance(rng, 0.05)) return at;
  }
  return static_cast<size_t>(uniform(rng, 0, static_cast<int64_t>(bytes.size()) - 1));
}

void byte_mutation(Rng& rng, std::string& bytes, const std::vector<std::pair<size_t, size_t>>& weights) {
  if (bytes.size() < 16) return;
  switch (uniform(rng, 0, 5)) {
    case 0: {  // a random byte
      size_t at = structure_offset(rng, bytes, weights);
      bytes[at] = static_cast<char>(bytes[at] ^ static_cast<char>(uniform(rng, 1, 255)));
      break;
    }
    case 1: {  // a bit
      size_t at = structure_offset(rng, bytes, weights);
      bytes[at] = static_cast<char>(bytes[at] ^ static_cast<char>(1 << uniform(rng, 0, 7)));
      break;
    }
    case 2: case 3: {  // an aligned 32-bit integer (offsets, lengths, indices, shape values)
      size_t at = structure_offset(rng, bytes, weights) & ~size_t{3};
      if (at + 4 > bytes.size()) break;
      int32_t value = interesting_int(rng);
      if (chance(rng, 0.3)) {
        int32_t old;
        std::memcpy(&old, bytes.data() + at, 4);
        value = static_cast<int32_t>(static_cast<uint32_t>(old) + static_cast<uint32_t>(uniform(rng, -4, 4)));
      }
      std::memcpy(bytes.data() + at, &value, 4);
      break;
    }
    case 4: {  // a 16-bit value (vtable entries)
      size_t at = structure_offset(rng, bytes, weights) & ~size_t{1};
      if (at + 2 > bytes.size()) break;
      auto value = static_cast<uint16_t>(pick<int>(rng, {0, 4, 8, 0xffff, static_cast<int>(uniform(rng, 0, 64))}));
      std::memcpy(bytes.data() + at, &value, 2);
      break;
    }
    default:  // truncation
      bytes.resize(static_cast<size_t>(uniform(rng, 0, static_cast<int64_t>(bytes.size()) - 1)));
      break;
  }
}

::tflite::BuiltinOptionsUnion other_options(Rng& rng) {
  ::tflite::BuiltinOptionsUnion u;
  switch (uniform(rng, 0, 6)) {
    case 0: u.Set(::tflite::Conv2DOptionsT{}); break;
    case 1: u.Set(::tflite::Pool2DOptionsT{}); break;
    case 2: u.Set(::tflite::FullyConnectedOptionsT{}); break;
    case 3: u.Set(::tflite::SoftmaxOptionsT{}); break;
    case 4: u.Set(::tflite::ReshapeOptionsT{}); break;
    case 5: u.Set(::tflite::ConcatenationOptionsT{}); break;
    default: u.Set(::tflite::AddOptionsT{}); break;
  }
  return u;
}

// One edit of an option field of `op`.
void mutate_options(Rng& rng, ::tflite::BuiltinOptionsUnion& u) {
  auto i = [&] { return interesting_int(rng); };
  auto act = [&] { return static_cast<::tflite::ActivationFunctionType>(uniform(rng, 0, 8)); };
  auto pad = [&] { return static_cast<::tflite::Padding>(uniform(rng, 0, 3)); };
  if (auto* o = u.AsConv2DOptions()) {
    switch (uniform(rng, 0, 5)) {
      case 0: o->stride_w = i(); break;
      case 1: o->stride_h = i(); break;
      case 2: o->dilation_w_factor = i(); break;
      case 3: o->dilation_h_factor = i(); break;
      case 4: o->padding = pad(); break;
      default: o->fused_activation_function = act(); break;
    }
  } else if (auto* p = u.AsPool2DOptions()) {
    switch (uniform(rng, 0, 5)) {
      case 0: p->stride_w = i(); break;
      case 1: p->stride_h = i(); break;
      case 2: p->filter_width = i(); break;
      case 3: p->filter_height = i(); break;
      case 4: p->padding = pad(); break;
      default: p->fused_activation_function = act(); break;
    }
  } else if (auto* f = u.AsFullyConnectedOptions()) {
    switch (uniform(rng, 0, 3)) {
      case 0: f->fused_activation_function = act(); break;
      case 1: f->keep_num_dims = !f->keep_num_dims; break;
      case 2: f->weights_format = static_cast<::tflite::FullyConnectedOptionsWeightsFormat>(uniform(rng, 0, 3)); break;
      default: f->asymmetric_quantize_inputs = !f->asymmetric_quantize_inputs; break;
    }
  } else if (auto* s = u.AsSoftmaxOptions()) {
    s->beta = interesting_float(rng);
  } else if (auto* r = u.AsReshapeOptions()) {
    if (r->new_shape.empty() || chance(rng, 0.3)) r->new_shape.push_back(i());
    else r->new_shape[static_cast<size_t>(uniform(rng, 0, static_cast<int64_t>(r->new_shape.size()) - 1))] = i();
  } else if (auto* c = u.AsConcatenationOptions()) {
    if (chance(rng, 0.5)) c->axis = static_cast<int32_t>(uniform(rng, -6, 6));
    else c->fused_activation_function = act();
  } else if (auto* a = u.AsAddOptions()) {
    a->fused_activation_function = act();
  } else if (auto* m = u.AsMulOptions()) {
    m->fused_activation_function = act();
  } else if (auto* d = u.AsDepthwiseConv2DOptions()) {
    switch (uniform(rng, 0, 4)) {
      case 0: d->stride_w = i(); break;
      case 1: d->depth_multiplier = i(); break;
      case 2: d->dilation_h_factor = i(); break;
      case 3: d->padding = pad(); break;
      default: d->fused_activation_function = act(); break;
    }
  } else if (auto* red = u.AsReducerOptions()) {
    red->keep_dims = !red->keep_dims;
  }
}

void structured_mutation(Rng& rng, ::tflite::ModelT& m) {
  if (m.subgraphs.empty()) return;
  auto& g = *m.subgraphs[0];
  const auto tensors = static_cast<int64_t>(g.tensors.size());
  auto any_tensor = [&]() -> int32_t {
    return chance(rng, 0.9) ? static_cast<int32_t>(uniform(rng, 0, std::max<int64_t>(tensors - 1, 0))) : pick<int32_t>(rng, {-1, -2, static_cast<int32_t>(tensors), 1 << 30});
  };
  auto some = [&](auto& v) -> decltype(v[0])& { return v[static_cast<size_t>(uniform(rng, 0, static_cast<int64_t>(v.size()) - 1))]; };
  switch (uniform(rng, 0, 19)) {
    case 0: case 1: {  // a shape value, or a dimension more or less
      if (g.tensors.empty()) break;
      auto& t = *some(g.tensors);
      if (t.shape.empty() || chance(rng, 0.15)) t.shape.push_back(interesting_int(rng));
      else if (chance(rng, 0.15)) t.shape.pop_back();
      else some(t.shape) = interesting_int(rng);
      if (chance(rng, 0.3) && !t.shape_signature.empty()) some(t.shape_signature) = interesting_int(rng);
      break;
    }
    case 2: {  // a type
      if (g.tensors.empty()) break;
      some(g.tensors)->type = static_cast<::tflite::TensorType>(uniform(rng, -2, 12));
      break;
    }
    case 3: {  // a buffer index
      if (g.tensors.empty()) break;
      some(g.tensors)->buffer = static_cast<uint32_t>(chance(rng, 0.8) ? uniform(rng, 0, static_cast<int64_t>(m.buffers.size()) - 1) : interesting_int(rng));
      break;
    }
    case 4: case 5: {  // quantization parameters
      if (g.tensors.empty()) break;
      auto& t = *some(g.tensors);
      if (!t.quantization) t.quantization = std::make_unique<::tflite::QuantizationParametersT>();
      auto& q = *t.quantization;
      switch (uniform(rng, 0, 5)) {
        case 0: q.scale.push_back(interesting_float(rng)); break;
        case 1: if (!q.scale.empty()) q.scale.pop_back(); break;
        case 2: if (!q.scale.empty()) some(q.scale) = interesting_float(rng); break;
        case 3: if (!q.zero_point.empty()) some(q.zero_point) = interesting_int(rng); else q.zero_point.push_back(interesting_int(rng)); break;
        case 4: q.quantized_dimension = static_cast<int32_t>(uniform(rng, -2, 5)); break;
        default: t.quantization.reset(); break;
      }
      break;
    }
    case 6: case 7: {  // an operator's input or output
      if (g.operators.empty()) break;
      auto& op = *some(g.operators);
      if (chance(rng, 0.6) && !op.inputs.empty()) some(op.inputs) = any_tensor();
      else if (chance(rng, 0.5) && !op.outputs.empty()) some(op.outputs) = any_tensor();
      else if (chance(rng, 0.5)) op.inputs.push_back(any_tensor());
      else if (!op.inputs.empty()) op.inputs.pop_back();
      break;
    }
    case 8: case 9: {  // options: absent, of another op, or one field changed
      if (g.operators.empty()) break;
      auto& op = *some(g.operators);
      double r = std::uniform_real_distribution<double>(0, 1)(rng);
      if (r < 0.25) op.builtin_options.Reset();
      else if (r < 0.35) op.builtin_options = other_options(rng);
      else mutate_options(rng, op.builtin_options);
      break;
    }
    case 10: {  // operator order: swap two, or duplicate one
      if (g.operators.size() < 2) break;
      size_t a = static_cast<size_t>(uniform(rng, 0, static_cast<int64_t>(g.operators.size()) - 1));
      size_t b = static_cast<size_t>(uniform(rng, 0, static_cast<int64_t>(g.operators.size()) - 1));
      if (chance(rng, 0.7)) std::swap(g.operators[a], g.operators[b]);
      else g.operators.insert(g.operators.begin() + static_cast<std::ptrdiff_t>(b), std::make_unique<::tflite::OperatorT>(*g.operators[a]));
      break;
    }
    case 11: {  // an operator code
      if (m.operator_codes.empty()) break;
      auto& c = *some(m.operator_codes);
      switch (uniform(rng, 0, 3)) {
        case 0: c.builtin_code = static_cast<::tflite::BuiltinOperator>(pick<int>(rng, {0, 1, 2, 3, 4, 6, 9, 14, 17, 18, 19, 21, 22, 25, 28, 32, 39, 40, 41, 42, 72, 114, 123, 127, 200})); break;
        case 1: c.deprecated_builtin_code = static_cast<int8_t>(uniform(rng, -128, 127)); break;
        case 2: c.version = static_cast<int32_t>(uniform(rng, -1, 9)); break;
        default: c.custom_code = "Custom"; break;
      }
      break;
    }
    case 12: {  // an opcode index
      if (g.operators.empty()) break;
      some(g.operators)->opcode_index = static_cast<uint32_t>(uniform(rng, 0, static_cast<int64_t>(m.operator_codes.size())));
      break;
    }
    case 13: {  // subgraph inputs / outputs
      auto& v = chance(rng, 0.5) ? g.inputs : g.outputs;
      if (v.empty() || chance(rng, 0.2)) v.push_back(any_tensor());
      else if (chance(rng, 0.2)) v.pop_back();
      else some(v) = any_tensor();
      break;
    }
    case 14: {  // signatures
      if (m.signature_defs.empty()) break;
      auto& s = *some(m.signature_defs);
      auto& maps = chance(rng, 0.5) ? s.inputs : s.outputs;
      if (maps.empty()) break;
      auto& entry = *some(maps);
      if (chance(rng, 0.7)) entry.tensor_index = static_cast<uint32_t>(any_tensor());
      else if (chance(rng, 0.5)) entry.name = chance(rng, 0.5) ? "" : "renamed";  // "": the name is absent (null)
      else s.subgraph_index = static_cast<uint32_t>(uniform(rng, 0, 3));
      break;
    }
    case 15: {  // metadata
      if (m.metadata.empty()) break;
      some(m.metadata)->buffer = static_cast<uint32_t>(chance(rng, 0.5) ? uniform(rng, 0, static_cast<int64_t>(m.buffers.size()) + 2) : interesting_int(rng));
      break;
    }
    case 16: {  // a buffer's contents: shorter, longer, or stored outside (offset / size)
      if (m.buffers.empty()) break;
      auto& b = *some(m.buffers);
      switch (uniform(rng, 0, 3)) {
        case 0: if (!b.data.empty()) b.data.resize(static_cast<size_t>(uniform(rng, 0, static_cast<int64_t>(b.data.size()) - 1))); break;
        case 1: b.data.resize(b.data.size() + static_cast<size_t>(uniform(rng, 1, 64))); break;
        case 2: b.offset = static_cast<uint64_t>(uniform(rng, 0, 1 << 20)); b.size = static_cast<uint64_t>(uniform(rng, 0, 1 << 20)); break;
        default: m.buffers[0]->data.assign(16, 1); break;
      }
      break;
    }
    case 17: {  // a second subgraph, or none
      if (chance(rng, 0.5)) m.subgraphs.push_back(std::make_unique<::tflite::SubGraphT>());
      else m.subgraphs.clear();
      break;
    }
    case 18: {  // a tensor removed (indices beyond it now dangle)
      if (g.tensors.empty()) break;
      g.tensors.erase(g.tensors.begin() + uniform(rng, 0, tensors - 1));
      break;
    }
    default: {  // sparsity / variable flags
      if (g.tensors.empty()) break;
      auto& t = *some(g.tensors);
      if (chance(rng, 0.5)) t.is_variable = !t.is_variable;
      else t.sparsity = std::make_unique<::tflite::SparsityParametersT>();
      break;
    }
  }
}

std::string mutate(const std::string& original, const std::vector<std::pair<size_t, size_t>>& weights, uint64_t seed, uint64_t index) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32)};
  Rng rng(seq);
  std::string bytes = original;
  // Half the mutants get structured edits (1-3), then some of those and every other one byte-level
  // edits (1-4).
  if (chance(rng, 0.5)) {
    auto model = ::tflite::UnPackModel(original.data());
    const int64_t edits = uniform(rng, 1, 3);
    for (int64_t e = 0; e < edits; ++e) structured_mutation(rng, *model);
    flatbuffers::FlatBufferBuilder fbb;
    fbb.Finish(::tflite::Model::Pack(fbb, model.get()), ::tflite::ModelIdentifier());
    // (Re-packing drops what followed the flatbuffer, e.g. TFLite Support's zip archive of
    // associated files; byte-level mutants keep it.)
    bytes.assign(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
    if (chance(rng, 0.7)) return bytes;
  }
  const int64_t edits = uniform(rng, 1, 4);
  for (int64_t e = 0; e < edits; ++e) byte_mutation(rng, bytes, weights);
  return bytes;
}

// ---- running one mutant ------------------------------------------------------------------------
enum class Outcome { Ran, Error, OtherException };

struct Options {
  bool cli = true, verbose = false;
};

// Random values for a tensor of `shape` (mostly in the pixel range; a few NaN / inf / huge).
nn::Tensor random_input(Rng& rng, const std::vector<int64_t>& shape) {
  nn::Tensor t(shape);
  std::uniform_real_distribution<float> pixel(0.0f, 255.0f);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = pixel(rng);
  if (t.size() > 0 && chance(rng, 0.2)) {
    for (int k = 0; k < 3; ++k) t[uniform(rng, 0, t.size() - 1)] = interesting_float(rng);
  }
  return t;
}

constexpr int64_t kMaxInputValues = int64_t{1} << 22;

// The shape to feed an input: its signature with -1 replaced by a batch of 1-3; empty when it
// would hold more than kMaxInputValues values (such a mutant is only loaded and prepared).
std::vector<int64_t> feed_shape(Rng& rng, const tfl::Tensor& t) {
  std::vector<int64_t> shape;
  int64_t count = 1;
  for (size_t d = 0; d < t.shape_signature.size(); ++d) {
    int64_t v = t.shape_signature[d] < 0 ? uniform(rng, 1, 3) : t.shape_signature[d];
    if (v > kMaxInputValues || (v > 0 && count > kMaxInputValues / v)) return {};
    count *= v;
    shape.push_back(v);
  }
  if (shape.empty()) shape.push_back(1);  // TFLite's scalar would not be fed by a runner anyway
  return shape;
}

Outcome run_mutant(const std::string& bytes, uint64_t seed, uint64_t index, const fs::path& scratch, const Options& options,
                   std::string* message) {
  Rng rng(seed * 0x9E3779B97F4A7C15ull + index);
  try {
    tfl::Interpreter interpreter(bytes, "mutant");
#ifndef TFLITE_MUTANTS_BASELINE
    interpreter.set_max_arena_bytes(size_t{256} << 20);
#endif
    // What `tflite inspect` reads.
    for (const auto& [k, v] : interpreter.metadata()) (void)k, (void)v;
    try {
      (void)interpreter.model_metadata();
      (void)interpreter.associated_files();
      for (size_t o = 0; o < interpreter.outputs().size(); ++o) (void)interpreter.output_labels(o);
    } catch (const Error&) {
      // Corrupt TFLite Support metadata is an error of these calls only; the model still runs.
    }
    for (size_t i = 0; i < interpreter.tensor_count(); ++i) (void)interpreter.tensor(static_cast<int>(i)).name.size();
    // Interpreter: resize, allocate, fill, invoke, read the outputs.
    bool fed = true;
    for (size_t i = 0; i < interpreter.inputs().size(); ++i) {
      auto shape = feed_shape(rng, interpreter.tensor(interpreter.inputs()[i]));
      if (shape.empty()) fed = false;
      else interpreter.resize_input(i, std::vector<int32_t>(shape.begin(), shape.end()));
    }
    interpreter.allocate_tensors();
    if (fed) {
      for (int i : interpreter.inputs()) {
        tfl::Tensor& t = interpreter.tensor(i);
        if (!t.data) continue;
        std::uniform_int_distribution<int> byte(0, 255);
        for (size_t b = 0; b < t.bytes(); ++b) t.data[b] = static_cast<uint8_t>(byte(rng));
        if (t.type == tfl::DType::Float32) {
          for (int64_t k = 0; k < t.elements(); ++k) t.as<float>()[k] = static_cast<float>(byte(rng));
        }
      }
      interpreter.invoke();
      double checksum = 0;
      for (int o : interpreter.outputs()) {
        const tfl::Tensor& t = interpreter.tensor(o);
        for (size_t b = 0; b < t.bytes(); ++b) checksum += t.data[b];
      }
      (void)checksum;
    }
    // SignatureRunner, on a second interpreter (as the Evaluator runs one per worker).
    tfl::Interpreter second(bytes, "mutant");
#ifndef TFLITE_MUTANTS_BASELINE
    second.set_max_arena_bytes(size_t{256} << 20);
#endif
    for (const auto& [key, signature] : second.signatures()) {
      tfl::SignatureRunner runner(second, key);
      std::map<std::string, nn::Tensor> feeds;
      bool feedable = true;
      for (const auto& [name, index] : signature.inputs) {
        if (index < 0 || static_cast<size_t>(index) >= second.tensor_count()) { feedable = false; break; }
        auto shape = feed_shape(rng, second.tensor(index));
        if (shape.empty()) { feedable = false; break; }
        feeds[name] = random_input(rng, shape);
      }
      if (!feedable) continue;
      for (const auto& [name, y] : runner.run(feeds)) (void)name, (void)y.size();
    }
    // The command line: `litepipe tflite inspect` and `litepipe predict`.
    if (options.cli) {
      fs::path file = scratch / "mutant.tflite";
      write_file_atomic(file, bytes);
      std::ostringstream text;
      tflite_inspect(file.string(), text);
      nlohmann::json in = nlohmann::json::object();
      for (size_t i = 0; i < second.inputs().size(); ++i) {
        const tfl::Tensor& t = second.tensor(second.inputs()[i]);
        auto shape = feed_shape(rng, t);
        if (shape.empty()) return Outcome::Ran;
        nlohmann::json data = nlohmann::json::array();
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        for (int64_t k = 0; k < n; ++k) data.push_back(uniform(rng, 0, 255));
        in[t.name] = {{"shape", shape}, {"data", data}};
      }
      write_file_atomic(scratch / "in.json", in.dump());
      std::ostringstream predicted;
      predict({.model = file.string(), .input = (scratch / "in.json").string(), .output = (scratch / "out.json").string()}, predicted);
    }
    return Outcome::Ran;
  } catch (const Error& e) {
    *message = e.what();
    return Outcome::Error;
  } catch (const std::exception& e) {
    *message = fmt::format("{} (not a litepipe::Error)", e.what());
    return Outcome::OtherException;
  }
}

// The kind of an error message, for the summary: its text after the origin, with numbers and
// quoted names replaced.
std::string error_kind(const std::string& message) {
  std::string s = message;
  if (s.rfind("mutant: ", 0) == 0) s = s.substr(8);
  std::string out;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool opens = c == '\'' && !quoted && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '(');
    const bool closes = c == '\'' && quoted && (i + 1 == s.size() || !std::isalpha(static_cast<unsigned char>(s[i + 1])));
    if (opens || closes) {
      quoted = opens;
      if (closes) out += "'…'";
      continue;
    }
    if (quoted) continue;
    if (std::isdigit(static_cast<unsigned char>(c))) {
      if (out.empty() || out.back() != '#') out += '#';
      continue;
    }
    out += c;
  }
  return out.substr(0, 100);
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s MODEL.tflite [--mutants N] [--seed S] [--only I] [--save I FILE] [--fork] [--no-cli] [--verbose]\n"
               "       %s --make mlp|cnn|mlp-int8|cnn-int8 OUT.tflite\n",
               argv0, argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  init_logging(false);
  std::string model_path;
  uint64_t mutants = 1000, seed = 1;
  int64_t only = -1, save = -1;
  std::string save_path;
  bool fork_each = false;
  Options options;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) fail("{} needs a value", a);
        return argv[++i];
      };
      if (a == "--make") {
        std::string kind = next();
        std::string out = next();
        write_file_atomic(out, make_model(kind));
        std::printf("wrote %s (%s)\n", out.c_str(), kind.c_str());
        return 0;
      }
      if (a == "--mutants") mutants = std::stoull(next());
      else if (a == "--seed") seed = std::stoull(next());
      else if (a == "--only") only = std::stoll(next());
      else if (a == "--save") save = std::stoll(next()), save_path = next();
      else if (a == "--fork") fork_each = true;
      else if (a == "--no-cli") options.cli = false;
      else if (a == "--verbose") options.verbose = true;
      else if (!a.empty() && a[0] == '-') return usage(argv[0]);
      else model_path = a;
    }
    if (model_path.empty()) return usage(argv[0]);
    const std::string original = read_file(model_path);
    {
      tfl::Interpreter check(original, model_path);  // the original must load
    }
    const auto weights = data_ranges(original);
    if (save >= 0) {
      write_file_atomic(save_path, mutate(original, weights, seed, static_cast<uint64_t>(save)));
      std::printf("wrote mutant %lld of seed %llu to %s\n", static_cast<long long>(save), static_cast<unsigned long long>(seed), save_path.c_str());
      return 0;
    }
    fs::path scratch = fs::temp_directory_path() / fmt::format("tflite_mutants_{}", ::getpid());
    fs::create_directories(scratch);
    uint64_t ran = 0, errors = 0, other = 0, crashes = 0, identical = 0;
    std::map<std::string, uint64_t> kinds;
    std::vector<uint64_t> crashed, unclean;
    const auto start = std::chrono::steady_clock::now();
    const uint64_t first = only >= 0 ? static_cast<uint64_t>(only) : 0, last = only >= 0 ? first + 1 : mutants;
    for (uint64_t m = first; m < last; ++m) {
      const std::string bytes = mutate(original, weights, seed, m);
      identical += bytes == original;
      std::string message;
      Outcome outcome;
      if (fork_each) {
        fs::create_directories(scratch / fmt::format("child_{}", m % 4));
        std::fflush(stdout);
        pid_t child = ::fork();
        if (child < 0) fail("fork failed");
        if (child == 0) {
          std::string ignored;
          Outcome o = run_mutant(bytes, seed, m, scratch / fmt::format("child_{}", m % 4), options, &ignored);
          std::fflush(stdout);
          ::_exit(o == Outcome::Ran ? 10 : o == Outcome::Error ? 11 : 12);
        }
        int status = 0;
        ::waitpid(child, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) >= 10 && WEXITSTATUS(status) <= 12) {
          outcome = WEXITSTATUS(status) == 10 ? Outcome::Ran : WEXITSTATUS(status) == 11 ? Outcome::Error : Outcome::OtherException;
        } else {
          ++crashes;
          crashed.push_back(m);
          std::printf("mutant %llu: crashed (%s %d)\n", static_cast<unsigned long long>(m), WIFSIGNALED(status) ? "signal" : "exit status",
                      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
          continue;
        }
        // Re-run in-process only for the message when verbose (not for crashes).
        if (options.verbose && outcome != Outcome::Ran) run_mutant(bytes, seed, m, scratch, options, &message);
      } else {
        outcome = run_mutant(bytes, seed, m, scratch, options, &message);
      }
      if (outcome == Outcome::Ran) ++ran;
      if (outcome == Outcome::Error) {
        ++errors;
        if (!message.empty()) ++kinds[error_kind(message)];
      }
      if (outcome == Outcome::OtherException) {
        ++other;
        unclean.push_back(m);
        std::printf("mutant %llu: %s\n", static_cast<unsigned long long>(m), message.c_str());
      }
      if (options.verbose || only >= 0) {
        std::printf("mutant %llu: %s%s\n", static_cast<unsigned long long>(m), outcome == Outcome::Ran ? "ran" : "error: ", message.c_str());
      }
      if ((m + 1) % 1000 == 0 && only < 0) {
        std::printf("  %llu mutants, %.0f s\n", static_cast<unsigned long long>(m + 1),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        std::fflush(stdout);
      }
    }
    fs::remove_all(scratch);
    const uint64_t total = last - first;
    std::printf("%s: %llu mutants (seed %llu; %llu identical to the model): %llu clean errors, %llu ran OK, %llu other exceptions, %llu crashes\n",
                model_path.c_str(), static_cast<unsigned long long>(total), static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(identical), static_cast<unsigned long long>(errors), static_cast<unsigned long long>(ran),
                static_cast<unsigned long long>(other), static_cast<unsigned long long>(crashes));
    if (!kinds.empty() && only < 0) {
      std::vector<std::pair<uint64_t, std::string>> sorted;
      for (const auto& [k, n] : kinds) sorted.emplace_back(n, k);
      std::sort(sorted.rbegin(), sorted.rend());
      std::printf("most frequent errors:\n");
      for (size_t i = 0; i < std::min<size_t>(sorted.size(), 15); ++i) std::printf("  %6llu  %s\n", static_cast<unsigned long long>(sorted[i].first), sorted[i].second.c_str());
    }
    if (!crashed.empty()) {
      std::printf("crashed:");
      for (uint64_t m : crashed) std::printf(" %llu", static_cast<unsigned long long>(m));
      std::printf("\n");
    }
    return other + crashes > 0 ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tflite_mutants: %s\n", e.what());
    return 1;
  }
}
