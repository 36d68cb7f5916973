#include "transform/transform_graph.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/files.h"
#include "data/tfrecord.h"

namespace litepipe::transform {
namespace {

using nlohmann::json;
using tensorflow::Example;
using tensorflow::Feature;

const std::set<std::string> kMappers = {"identity", "scale_to_0_1", "scale_by_min_max", "scale_to_z_score",
                                        "bucketize", "compute_and_apply_vocabulary"};

std::vector<double> numeric_values(const Feature& f) {
  std::vector<double> v;
  if (f.has_float_list()) v.assign(f.float_list().value().begin(), f.float_list().value().end());
  else if (f.has_int64_list()) for (int64_t x : f.int64_list().value()) v.push_back(static_cast<double>(x));
  return v;
}

// Analyzer state for one raw feature.
struct Analysis {
  double min = std::numeric_limits<double>::infinity(), max = -std::numeric_limits<double>::infinity();
  double sum = 0, sum_sq = 0;
  uint64_t count = 0;
  std::vector<double> values;  // kept only for quantiles
  std::unordered_map<std::string, uint64_t> vocabulary;
  bool keep_values = false, want_vocabulary = false;
};

}  // namespace

PreprocessingFn parse_preprocessing_fn(const json& spec, const std::string& where) {
  if (!spec.is_array() || spec.empty()) fail("{}: preprocessing_fn must be a non-empty list of {{output, op, input}}", where);
  PreprocessingFn fn;
  std::set<std::string> outputs;
  for (size_t i = 0; i < spec.size(); ++i) {
    const json& e = spec[i];
    std::string at = fmt::format("{}: preprocessing_fn[{}]", where, i);
    if (!e.is_object()) fail("{} must be a mapping", at);
    for (const char* key : {"output", "op", "input"}) {
      if (!e.contains(key) || !e[key].is_string() || e[key].get<std::string>().empty()) fail("{}.{} must be a non-empty string", at, key);
    }
    TransformOp op{e["output"], e["op"], e["input"], json::object()};
    if (!kMappers.count(op.mapper)) {
      fail("{}.op is '{}', expected one of identity, scale_to_0_1, scale_by_min_max, scale_to_z_score, bucketize, compute_and_apply_vocabulary", at, op.mapper);
    }
    std::set<std::string> allowed;
    if (op.mapper == "scale_by_min_max") allowed = {"output_min", "output_max"};
    if (op.mapper == "bucketize") allowed = {"num_buckets"};
    if (op.mapper == "compute_and_apply_vocabulary") allowed = {"top_k", "num_oov_buckets", "default_value"};
    for (const auto& [k, v] : e.items()) {
      if (k == "output" || k == "op" || k == "input") continue;
      if (!allowed.count(k)) fail("{}: unknown field '{}' for {}", at, k, op.mapper);
      if (!v.is_number()) fail("{}.{} must be a number, got {}", at, k, v.dump());
      op.args[k] = v;
    }
    if (op.mapper == "scale_by_min_max") {
      op.args["output_min"] = op.args.value("output_min", 0.0);
      op.args["output_max"] = op.args.value("output_max", 1.0);
      if (op.args["output_min"].get<double>() >= op.args["output_max"].get<double>()) fail("{}: output_min must be < output_max", at);
    }
    if (op.mapper == "bucketize" && (!op.args.contains("num_buckets") || op.args["num_buckets"].get<int64_t>() < 1)) {
      fail("{}.num_buckets must be a positive integer", at);
    }
    if (!outputs.insert(op.output).second) fail("{}: output '{}' is produced twice", at, op.output);
    fn.push_back(op);
  }
  return fn;
}

TransformGraph TransformGraph::analyze(const PreprocessingFn& fn, const std::vector<std::filesystem::path>& train_files) {
  std::map<std::string, Analysis> analyses;
  for (const auto& op : fn) {
    Analysis& a = analyses[op.input];
    a.keep_values |= op.mapper == "bucketize";
    a.want_vocabulary |= op.mapper == "compute_and_apply_vocabulary";
  }
  std::string record;
  Example example;
  uint64_t examples = 0;
  for (const auto& file : train_files) {
    TFRecordReader reader(file);
    while (reader.next(record)) {
      if (!example.ParseFromString(record)) fail("{}: record {} is not a tf.Example", file.string(), reader.records_read() - 1);
      ++examples;
      for (auto& [name, a] : analyses) {
        auto it = example.features().feature().find(name);
        if (it == example.features().feature().end()) continue;
        if (a.want_vocabulary && it->second.has_bytes_list()) {
          for (const auto& s : it->second.bytes_list().value()) ++a.vocabulary[s];
          continue;
        }
        for (double v : numeric_values(it->second)) {
          a.min = std::min(a.min, v);
          a.max = std::max(a.max, v);
          a.sum += v;
          a.sum_sq += v * v;
          ++a.count;
          if (a.keep_values) a.values.push_back(v);
        }
      }
    }
  }
  if (examples == 0) fail("Transform: the training split has no examples to analyze");
  json ops = json::array();
  for (const auto& op : fn) {
    Analysis& a = analyses.at(op.input);
    json c = json::object();
    bool numeric = op.mapper != "identity" && op.mapper != "compute_and_apply_vocabulary";
    if (numeric && a.count == 0) fail("Transform: {} needs numeric feature '{}', which the training split does not have", op.mapper, op.input);
    if (op.mapper == "scale_to_0_1" || op.mapper == "scale_by_min_max") {
      c = {{"min", a.min}, {"max", a.max}};
    } else if (op.mapper == "scale_to_z_score") {
      double mean = a.sum / static_cast<double>(a.count);
      c = {{"mean", mean}, {"var", std::max(0.0, a.sum_sq / static_cast<double>(a.count) - mean * mean)}};
    } else if (op.mapper == "bucketize") {
      auto buckets = op.args["num_buckets"].get<int64_t>();
      std::sort(a.values.begin(), a.values.end());
      json boundaries = json::array();
      for (int64_t b = 1; b < buckets; ++b) {
        boundaries.push_back(a.values[static_cast<size_t>(static_cast<double>(b) / static_cast<double>(buckets) * static_cast<double>(a.values.size() - 1))]);
      }
      c = {{"boundaries", boundaries}};
    } else if (op.mapper == "compute_and_apply_vocabulary") {
      if (a.vocabulary.empty()) fail("Transform: compute_and_apply_vocabulary needs string feature '{}' in the training split", op.input);
      std::vector<std::pair<std::string, uint64_t>> vocab(a.vocabulary.begin(), a.vocabulary.end());
      std::sort(vocab.begin(), vocab.end(), [](auto& x, auto& y) { return x.second != y.second ? x.second > y.second : x.first > y.first; });
      if (op.args.contains("top_k")) vocab.resize(std::min(vocab.size(), op.args["top_k"].get<size_t>()));
      json v = json::array();
      for (auto& [s, n] : vocab) v.push_back(s);
      c = {{"vocabulary", v}};
    }
    ops.push_back({{"output", op.output}, {"op", op.mapper}, {"input", op.input}, {"args", op.args}, {"constants", c}});
  }
  return TransformGraph(json{{"ops", ops}, {"analyzed_examples", examples}});
}

TransformGraph TransformGraph::load(const std::filesystem::path& transform_output) {
  auto path = transform_output / kTransformGraphFile;
  json g = read_json_file(path);
  if (!g.contains("ops") || !g["ops"].is_array()) fail("{}: expected a field 'ops' with the transform ops", path.string());
  return TransformGraph(std::move(g));
}

void TransformGraph::save(const std::filesystem::path& transform_output) const {
  write_json_file_atomic(transform_output / kTransformGraphFile, graph_);
}

namespace {

double scale_of(const json& op, double* offset_out) {
  // y = x * scale + offset for the linear mappers.
  const json& c = op["constants"];
  const std::string mapper = op["op"];
  double scale = 1, offset = 0;
  if (mapper == "scale_to_0_1" || mapper == "scale_by_min_max") {
    double lo = mapper == "scale_to_0_1" ? 0.0 : op["args"]["output_min"].get<double>();
    double hi = mapper == "scale_to_0_1" ? 1.0 : op["args"]["output_max"].get<double>();
    double min = c["min"], max = c["max"];
    if (max > min) {
      scale = (hi - lo) / (max - min);
      offset = lo - min * scale;
    } else {  // one distinct value: the middle of the output range, as tf.Transform
      scale = 0;
      offset = (lo + hi) / 2;
    }
  } else if (mapper == "scale_to_z_score") {
    double sd = std::sqrt(c["var"].get<double>());
    scale = sd > 0 ? 1.0 / sd : 1.0;
    offset = -c["mean"].get<double>() * scale;
  }
  *offset_out = offset;
  return scale;
}

}  // namespace

Example TransformGraph::apply(const Example& raw) const {
  Example out;
  auto& features = *out.mutable_features()->mutable_feature();
  const auto& in = raw.features().feature();
  for (const auto& op : graph_["ops"]) {
    const std::string mapper = op["op"], input = op["input"], output = op["output"];
    auto it = in.find(input);
    if (it == in.end()) fail("Transform: example has no feature '{}' (needed for '{}')", input, output);
    const Feature& f = it->second;
    Feature& o = features[output];
    if (mapper == "identity") {
      o = f;
    } else if (mapper == "compute_and_apply_vocabulary") {
      const json& vocab = op["constants"]["vocabulary"];
      int64_t oov = op["args"].value("num_oov_buckets", int64_t{0}), def = op["args"].value("default_value", int64_t{-1});
      auto* list = o.mutable_int64_list();
      for (const auto& s : f.bytes_list().value()) {
        auto pos = std::find(vocab.begin(), vocab.end(), s);
        if (pos != vocab.end()) list->add_value(pos - vocab.begin());
        else list->add_value(oov > 0 ? static_cast<int64_t>(vocab.size()) + static_cast<int64_t>(std::hash<std::string>{}(s) % static_cast<size_t>(oov)) : def);
      }
    } else if (mapper == "bucketize") {
      const json& b = op["constants"]["boundaries"];
      auto* list = o.mutable_int64_list();
      for (double v : numeric_values(f)) list->add_value(std::upper_bound(b.begin(), b.end(), v, [](double x, const json& y) { return x < y.get<double>(); }) - b.begin());
    } else {
      double offset;
      double scale = scale_of(op, &offset);
      auto* list = o.mutable_float_list();
      auto values = numeric_values(f);
      list->mutable_value()->Reserve(static_cast<int>(values.size()));
      // Computed in float, in the order the ONNX graph computes it (x * scale + offset).
      auto s = static_cast<float>(scale), b = static_cast<float>(offset);
      for (double v : values) list->add_value(static_cast<float>(v) * s + b);
    }
  }
  return out;
}

std::string TransformGraph::to_onnx(onnxio::GraphBuilder& g, const std::string& raw_tensor, const std::string& transformed_feature) const {
  for (const auto& op : graph_["ops"]) {
    if (op["output"] != transformed_feature) continue;
    const std::string mapper = op["op"];
    if (mapper == "identity") return raw_tensor;
    if (mapper == "bucketize" || mapper == "compute_and_apply_vocabulary") {
      fail("Transform: '{}' ({}) cannot be part of a float serving signature; feed the model numeric features", transformed_feature, mapper);
    }
    double offset;
    auto scale = static_cast<float>(scale_of(op, &offset));
    auto bias = static_cast<float>(offset);
    std::string scaled = g.unique(transformed_feature + "_scaled");
    std::string out = g.unique(transformed_feature);
    g.add_node("Mul", {raw_tensor, g.add_initializer(transformed_feature + "_scale", &scale, {})}, {scaled});
    g.add_node("Add", {scaled, g.add_initializer(transformed_feature + "_offset", &bias, {})}, {out});
    return out;
  }
  fail("Transform: the transform graph produces no feature '{}'", transformed_feature);
}

std::function<std::string(onnxio::GraphBuilder&, const std::string&)> TransformGraph::serving_preprocessing(
    const std::string& transformed_feature) const {
  TransformGraph copy = *this;
  return [copy, transformed_feature](onnxio::GraphBuilder& g, const std::string& raw) { return copy.to_onnx(g, raw, transformed_feature); };
}

}  // namespace litepipe::transform
