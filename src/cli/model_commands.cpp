#include "cli/model_commands.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "nn/dataset.h"
#include "onnx/onnx_model.h"
#include "tflite/interpreter.h"
#include "tflite/metadata.h"
#include "tflite/rewriter.h"
#include "tflite_subset_generated.h"

namespace litepipe {
namespace {

using nlohmann::json;

// Resolves a serving dir to the model file inside it.
fs::path model_file(const std::string& given) {
  fs::path p = given;
  if (fs::is_directory(p)) {
    if (fs::exists(p / "tflite")) return p / "tflite";
    if (fs::exists(p / onnxio::kModelFileName)) return p / onnxio::kModelFileName;
    fail("{}: holds neither a `tflite` file nor {}", given, onnxio::kModelFileName);
  }
  if (!fs::exists(p)) fail("{}: no such model", given);
  return p;
}

bool is_tflite(const fs::path& p) {
  std::string head = read_file(p).substr(0, 8);
  return head.size() == 8 && head.substr(4, 4) == "TFL3";
}

struct Feed {
  std::vector<int32_t> shape;
  std::vector<double> data;
};

std::map<std::string, Feed> read_feeds(const std::string& path) {
  json doc = read_json_file(path);
  if (!doc.is_object() || doc.empty()) fail("{}: expected an object {{\"<input>\": {{\"shape\": [...], \"data\": [...]}}}}", path);
  std::map<std::string, Feed> feeds;
  for (const auto& [name, v] : doc.items()) {
    if (!v.is_object() || !v.contains("shape") || !v["shape"].is_array() || !v.contains("data") || !v["data"].is_array()) {
      fail("{}: input '{}' needs fields \"shape\" (list) and \"data\" (list)", path, name);
    }
    Feed f;
    int64_t n = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() <= 0) fail("{}: input '{}': shape entries must be positive integers", path, name);
      f.shape.push_back(d.get<int32_t>());
      n *= d.get<int64_t>();
    }
    for (size_t i = 0; i < v["data"].size(); ++i) {
      if (!v["data"][i].is_number()) fail("{}: input '{}': data[{}] is not a number", path, name, i);
      f.data.push_back(v["data"][i].get<double>());
    }
    if (static_cast<int64_t>(f.data.size()) != n) fail("{}: input '{}': shape [{}] needs {} values, data has {}", path, name, fmt::join(f.shape, ", "), n, f.data.size());
    feeds[name] = std::move(f);
  }
  return feeds;
}

json tensor_json(const tfl::Tensor& t) {
  json data = json::array();
  for (int64_t i = 0; i < t.elements(); ++i) {
    switch (t.type) {
      case tfl::DType::Float32: data.push_back(t.as<float>()[i]); break;
      case tfl::DType::Int8: data.push_back(t.as<int8_t>()[i]); break;
      case tfl::DType::UInt8: data.push_back(t.as<uint8_t>()[i]); break;
      case tfl::DType::Int32: data.push_back(t.as<int32_t>()[i]); break;
      default: fail("output '{}' has type {}, which predict cannot print", t.name, tfl::dtype_name(t.type));
    }
  }
  return {{"dtype", tfl::dtype_name(t.type)}, {"shape", t.shape}, {"data", data}};
}

// An output of [examples, classes] scores with its class names: the names, and per example the
// class with the highest score (the first one on ties).
void add_predicted_classes(json& output, const std::vector<std::string>& class_names) {
  if (class_names.empty()) return;
  const json& shape = output["shape"];
  if (shape.size() != 2 || shape[1].get<size_t>() != class_names.size()) return;
  const size_t rows = shape[0].get<size_t>(), classes = class_names.size();
  json ids = json::array(), names = json::array();
  for (size_t r = 0; r < rows; ++r) {
    size_t best = 0;
    for (size_t c = 1; c < classes; ++c)
      if (output["data"][r * classes + c].get<double>() > output["data"][r * classes + best].get<double>()) best = c;
    ids.push_back(best);
    names.push_back(class_names[best]);
  }
  output["class_names"] = class_names;
  output["predicted_class_id"] = ids;
  output["predicted_class_name"] = names;
}

json predict_tflite(const fs::path& path, const std::map<std::string, Feed>& feeds, const std::string& input_file, int threads) {
  auto interp = tfl::Interpreter::from_file(path);
  if (threads > 0) interp->set_num_threads(threads);
  std::map<std::string, int> by_name;
  for (size_t i = 0; i < interp->inputs().size(); ++i) by_name[interp->tensor(interp->inputs()[i]).name] = static_cast<int>(i);
  for (const auto& [key, sig] : interp->signatures())
    for (const auto& [name, tensor] : sig.inputs)
      for (size_t i = 0; i < interp->inputs().size(); ++i)
        if (interp->inputs()[i] == tensor) by_name[name] = static_cast<int>(i);
  for (const auto& [name, feed] : feeds) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      std::vector<std::string> known;
      for (const auto& [k, _] : by_name) known.push_back(k);
      fail("{}: input '{}' is not an input of {} (inputs: {})", input_file, name, path.string(), fmt::join(known, ", "));
    }
    interp->resize_input(static_cast<size_t>(it->second), feed.shape);
  }
  interp->allocate_tensors();
  for (const auto& [name, feed] : feeds) {
    tfl::Tensor& t = interp->tensor(interp->inputs()[static_cast<size_t>(by_name[name])]);
    for (size_t i = 0; i < feed.data.size(); ++i) {
      if (t.type == tfl::DType::Float32) t.as<float>()[i] = static_cast<float>(feed.data[i]);
      else if (t.type == tfl::DType::Int8) t.as<int8_t>()[i] = static_cast<int8_t>(std::clamp(feed.data[i], -128.0, 127.0));
      else fail("input '{}' has type {}, which predict cannot fill", name, tfl::dtype_name(t.type));
    }
  }
  interp->invoke();
  json out = json::object();
  for (size_t i = 0; i < interp->outputs().size(); ++i) {
    const tfl::Tensor& t = interp->tensor(interp->outputs()[i]);
    out[t.name] = tensor_json(t);
    add_predicted_classes(out[t.name], interp->output_labels(i));
  }
  return out;
}

json predict_onnx(const fs::path& path, const std::map<std::string, Feed>& feeds, const std::string& input_file, int threads) {
  onnxio::OnnxRunner runner(path);
  if (threads > 0) runner.set_num_threads(threads);
  std::map<std::string, nn::Tensor> inputs;
  auto names = runner.input_names();
  for (const auto& [name, feed] : feeds) {
    std::string graph_name = name;
    // A signature key (e.g. image_floats) maps to its graph input.
    const auto& sig = runner.signature_def().begin().value();
    if (sig.contains("inputs") && sig["inputs"].contains(name)) graph_name = sig["inputs"][name]["name"];
    if (std::find(names.begin(), names.end(), graph_name) == names.end()) {
      fail("{}: input '{}' is not an input of {} (inputs: {})", input_file, name, path.string(), fmt::join(names, ", "));
    }
    nn::Tensor t(std::vector<int64_t>(feed.shape.begin(), feed.shape.end()));
    for (size_t i = 0; i < feed.data.size(); ++i) t[static_cast<int64_t>(i)] = static_cast<float>(feed.data[i]);
    inputs[graph_name] = t;
  }
  std::vector<std::string> class_names = tfl::onnx_class_names(onnxio::load_model(path), path.string());
  json out = json::object();
  for (const auto& [name, t] : runner.run(inputs)) {
    json data = json::array();
    for (int64_t i = 0; i < t.size(); ++i) data.push_back(t[i]);
    out[name] = {{"dtype", "float32"}, {"shape", t.shape()}, {"data", data}};
    add_predicted_classes(out[name], class_names);
  }
  return out;
}

// TFLite Support's metadata, as its MetadataDisplayer shows it: the model's name and description,
// each tensor's metadata, the associated files packed in the model, and the labels.
void print_support_metadata(const tfl::Interpreter& interp, std::ostream& out) {
  auto metadata = interp.model_metadata();
  auto files = interp.associated_files();
  if (metadata) {
    out << fmt::format("metadata {}: model '{}'{}, min_parser_version {}\n", tfl::kMetadataBufferName, metadata->name,
                       metadata->version.empty() ? "" : fmt::format(" version {}", metadata->version), metadata->min_parser_version);
    if (!metadata->description.empty()) out << fmt::format("  description: {}\n", metadata->description);
    if (!metadata->author.empty()) out << fmt::format("  author: {}\n", metadata->author);
    if (!metadata->license.empty()) out << fmt::format("  license: {}\n", metadata->license);
    auto print_files = [&](const std::vector<tfl::AssociatedFileInfo>& list) {
      for (const auto& f : list) {
        out << fmt::format("      associated file {} ({}{}){}\n", f.name, f.type, f.locale.empty() ? "" : ", locale " + f.locale,
                           f.description.empty() ? "" : ": " + f.description);
      }
    };
    auto print_tensors = [&](const char* kind, const std::vector<tfl::TensorMetadataInfo>& tensors) {
      for (size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        out << fmt::format("  {} {} '{}'{}{}\n", kind, i, t.name, t.content.empty() ? "" : " " + t.content,
                           t.description.empty() ? "" : ": " + t.description);
        if (!t.min.empty() || !t.max.empty()) out << fmt::format("      stats min [{}] max [{}]\n", fmt::join(t.min, ", "), fmt::join(t.max, ", "));
        print_files(t.associated_files);
      }
    };
    print_tensors("input ", metadata->inputs);
    print_tensors("output", metadata->outputs);
    print_files(metadata->associated_files);
    for (size_t i = 0; i < metadata->outputs.size(); ++i) {
      auto labels = interp.output_labels(i);
      if (!labels.empty()) out << fmt::format("  labels of output {} ({}): {}\n", i, labels.size(), fmt::join(labels, ", "));
    }
  }
  for (const auto& [name, contents] : files) out << fmt::format("associated file {}: {} B (zip archive after the flatbuffer)\n", name, contents.size());
}

}  // namespace

int predict(const PredictCommand& c, std::ostream& text) {
  fs::path path = model_file(c.model);
  auto feeds = read_feeds(c.input);
  json out = is_tflite(path) ? predict_tflite(path, feeds, c.input, c.threads) : predict_onnx(path, feeds, c.input, c.threads);
  write_json_file_atomic(c.output, out);
  for (const auto& [name, output] : out.items()) {
    if (!output.contains("predicted_class_id")) continue;
    const size_t classes = output["class_names"].size();
    for (size_t r = 0; r < output["predicted_class_id"].size(); ++r) {
      size_t id = output["predicted_class_id"][r];
      text << fmt::format("{} example {}: class {} '{}' (score {:.4g})\n", name, r, id, output["predicted_class_name"][r].get<std::string>(),
                          output["data"][r * classes + id].get<double>());
    }
  }
  return 0;
}

int predict(const PredictCommand& c) { return predict(c, std::cout); }

int tflite_inspect(const std::string& model, std::ostream& out) {
  fs::path path = model_file(model);
  auto interp = tfl::Interpreter::from_file(path);
  out << fmt::format("{}: {} bytes, {} tensors, {} operators\n", path.string(), interp->model_bytes(), interp->tensor_count(), interp->nodes().size());
  for (const auto& [k, v] : interp->metadata()) {
    if (k != tfl::kMetadataBufferName) out << fmt::format("metadata {}: {}\n", k, v);
  }
  print_support_metadata(*interp, out);
  for (const auto& [key, sig] : interp->signatures()) {
    out << fmt::format("signature {}:\n", key);
    for (const auto& [name, t] : sig.inputs) out << fmt::format("  input  {} -> tensor {} ({})\n", name, t, interp->tensor(t).name);
    for (const auto& [name, t] : sig.outputs) out << fmt::format("  output {} -> tensor {} ({})\n", name, t, interp->tensor(t).name);
  }
  out << "tensors:\n";
  size_t constant_bytes = 0;
  for (size_t i = 0; i < interp->tensor_count(); ++i) {
    const auto& t = interp->tensor(static_cast<int>(i));
    std::string quant;
    if (!t.scale.empty()) {
      quant = t.scale.size() == 1 ? fmt::format(" scale {:g} zero_point {}", t.scale[0], t.zero_point.empty() ? 0 : t.zero_point[0])
                                  : fmt::format(" per-channel ({} scales, axis {})", t.scale.size(), t.quantized_dimension);
    }
    if (t.constant) constant_bytes += t.bytes();
    out << fmt::format("  {:>3} {:<48} {:<8} [{}]{}{}{}\n", i, t.name, tfl::dtype_name(t.type), fmt::join(t.shape, ", "),
                       t.shape_signature != t.shape ? fmt::format(" signature [{}]", fmt::join(t.shape_signature, ", ")) : "",
                       t.constant ? fmt::format(" const {} B", t.bytes()) : "", quant);
  }
  out << "operators:\n";
  for (size_t k = 0; k < interp->nodes().size(); ++k) {
    const auto& n = interp->nodes()[k];
    out << fmt::format("  {:>3} {} v{}  [{}] -> [{}]\n", k, n.op_name, n.version, fmt::join(n.inputs, ", "), fmt::join(n.outputs, ", "));
  }
  interp->allocate_tensors();
  out << fmt::format("constants {} B, activation arena {} B (batch {})\n", constant_bytes, interp->arena_bytes(),
                     interp->inputs().empty() ? 0 : interp->tensor(interp->inputs()[0]).shape[0]);
  return 0;
}

int tflite_benchmark(const BenchmarkCommand& c, std::ostream& out) {
  fs::path path = model_file(c.model);
  auto start = std::chrono::steady_clock::now();
  auto interp = tfl::Interpreter::from_file(path);
  interp->set_num_threads(c.threads);
  for (size_t i = 0; i < interp->inputs().size(); ++i) {
    auto shape = interp->tensor(interp->inputs()[i]).shape;
    if (!shape.empty()) shape[0] = c.batch;
    interp->resize_input(i, shape);
  }
  interp->allocate_tensors();
  double init_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::mt19937 rng(1);
  for (int i : interp->inputs()) {
    auto& t = interp->tensor(i);
    std::uniform_real_distribution<float> d(0, 1);
    for (int64_t k = 0; k < t.elements(); ++k) {
      if (t.type == tfl::DType::Float32) t.as<float>()[k] = d(rng);
      else if (t.type == tfl::DType::Int8) t.as<int8_t>()[k] = static_cast<int8_t>(static_cast<int>(d(rng) * 255) - 128);
    }
  }
  for (int i = 0; i < c.warmup; ++i) interp->invoke();
  std::vector<double> us(static_cast<size_t>(c.runs));
  for (int i = 0; i < c.runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    interp->invoke();
    us[static_cast<size_t>(i)] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  }
  std::vector<double> sorted = us;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) { return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())))]; };
  double mean = 0;
  for (double v : us) mean += v / static_cast<double>(us.size());
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  out << fmt::format("{}: batch {}, {} thread{}, {} runs after {} warmup\n", path.string(), c.batch, c.threads, c.threads == 1 ? "" : "s", c.runs,
                     c.warmup);
  out << fmt::format("init {:.2f} ms; latency us: min {:.2f} p50 {:.2f} p90 {:.2f} p99 {:.2f} max {:.2f} mean {:.2f}\n", init_ms,
                     sorted.front(), pct(0.5), pct(0.9), pct(0.99), sorted.back(), mean);
  out << fmt::format("model {} B, arena {} B, peak RSS {:.1f} MiB\n", interp->model_bytes(), interp->arena_bytes(),
                     static_cast<double>(usage.ru_maxrss) / 1024.0);
  if (c.profile_ops) {
    // Average time per operator (as benchmark_model --enable_op_profiling).
    std::vector<double> op_us(interp->nodes().size(), 0.0);
    for (int i = 0; i < c.runs; ++i) {
      auto last = std::chrono::steady_clock::now();
      interp->invoke([&](const tfl::Node& node) {
        auto now = std::chrono::steady_clock::now();
        op_us[static_cast<size_t>(&node - interp->nodes().data())] += std::chrono::duration<double, std::micro>(now - last).count();
        last = now;
      });
    }
    for (size_t k = 0; k < op_us.size(); ++k) {
      const auto& node = interp->nodes()[k];
      out << fmt::format("  op {:>3} {:<18} v{} {:>9.2f} us\n", k, node.op_name, node.version, op_us[k] / c.runs);
    }
  }
  return 0;
}

int tflite_convert(const ConvertCommand& c) {
  const int modes = int{c.float16} + int{c.dynamic_range} + int{c.full_integer};
  if (modes > 1) fail("tflite convert: choose one of --float16, --dynamic-range and --full-integer");
  if ((c.int8_io || c.per_tensor_dense) && !c.full_integer) fail("tflite convert: --int8-io and --per-tensor-dense need --full-integer");
  if (c.full_integer && c.representative_examples.empty()) {
    fail("tflite convert: --full-integer needs --representative-examples (TFRecord files or folders of tf.Example with the model's input features)");
  }
  rewriting::TFLiteRewriterOptions options;
  if (modes > 0) options.quantization_optimizations = {"DEFAULT"};
  if (c.float16) options.quantization_supported_types = {"float16"};
  if (c.full_integer) {
    options.quantization_enable_full_integer = true;
    options.quantization_int8_input_output = c.int8_io;
    options.quantization_disable_per_channel_for_dense_layers = c.per_tensor_dense;
    std::vector<std::string> files;
    for (const auto& p : c.representative_examples) {
      if (!fs::is_directory(p)) { files.push_back(p); continue; }
      for (const auto& entry : fs::directory_iterator(p)) if (entry.is_regular_file()) files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    onnxio::OnnxRunner onnx(fs::path(c.src) / onnxio::kModelFileName);
    std::vector<std::string> inputs = onnx.input_names();
    const int64_t count = c.representative_count;
    constexpr int64_t batch = 100;
    options.representative_dataset = [files, inputs, count] {
      std::map<std::string, nn::Tensor> features;
      for (const auto& name : inputs) features[name] = nn::load_examples(files, name, "").x;
      std::vector<tfl::RepresentativeBatch> batches;
      const int64_t available = features.begin()->second.shape()[0];
      for (int64_t start = 0; start < std::min(count, available); start += batch) {
        tfl::RepresentativeBatch b;
        for (const auto& [name, x] : features) b[name] = x.slice_rows(start, std::min({start + batch, count, available}));
        batches.push_back(std::move(b));
      }
      return batches;
    };
  }
  auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_rewriter", options);
  rewriting::rewrite_saved_model(c.src, c.dst, *rewriter, rewriting::ModelType::TFLITE_MODEL);
  std::printf("%s\n", (fs::path(c.dst) / options.filename).string().c_str());
  return 0;
}

}  // namespace litepipe
