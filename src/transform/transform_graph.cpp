#include "transform/transform_graph.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/files.h"
#include "data/tfrecord.h"

namespace litepipe::transform {
namespace {

using nlohmann::json;
using tensorflow::Example;
using tensorflow::Feature;
namespace m = mappers;

// Each mapper and the parameters it takes.
const std::map<std::string, std::set<std::string>> kMapperArgs = {
    {m::kIdentity, {}},
    {m::kFillMissing, {"strategy", "value"}},
    {m::kScaleTo01, {}},
    {m::kScaleByMinMax, {"output_min", "output_max"}},
    {m::kScaleToZScore, {}},
    {m::kBucketize, {"num_buckets"}},
    {m::kVocabulary, {"top_k", "num_oov_buckets", "default_value"}},
    {m::kOneHot, {"depth"}},
};

std::string mapper_names() {
  std::vector<std::string> names;
  for (const auto& [name, _] : kMapperArgs) names.push_back(name);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::vector<double> numeric_values(const Feature& f) {
  std::vector<double> v;
  if (f.has_float_list()) v.assign(f.float_list().value().begin(), f.float_list().value().end());
  else if (f.has_int64_list()) for (int64_t x : f.int64_list().value()) v.push_back(static_cast<double>(x));
  return v;
}

int value_count(const Feature& f) {
  return f.float_list().value_size() + f.int64_list().value_size() + f.bytes_list().value_size();
}

// Values as strings: what a vocabulary and the most-frequent analyzer count.
std::vector<std::string> string_values(const Feature& f) {
  std::vector<std::string> v;
  if (f.has_bytes_list()) v.assign(f.bytes_list().value().begin(), f.bytes_list().value().end());
  else if (f.has_int64_list()) for (int64_t x : f.int64_list().value()) v.push_back(std::to_string(x));
  else if (f.has_float_list()) for (float x : f.float_list().value()) v.push_back(fmt::format("{}", x));
  return v;
}

const char* kind_name(const Feature& f) {
  if (f.has_bytes_list()) return "bytes";
  if (f.has_int64_list()) return "int";
  if (f.has_float_list()) return "float";
  return "";
}

// Analyzer state of one op, over the values of its input.
struct Analysis {
  double min = std::numeric_limits<double>::infinity(), max = -std::numeric_limits<double>::infinity();
  double sum = 0, sum_sq = 0;
  uint64_t count = 0;
  std::vector<double> values;  // kept only for quantiles
  std::unordered_map<std::string, uint64_t> frequencies;
  std::string kind;  // of the input values: float, int or bytes
  bool keep_values = false, want_frequencies = false;

  void add(const Feature& f) {
    if (value_count(f) == 0) return;
    if (kind.empty()) kind = kind_name(f);
    if (want_frequencies) for (auto& s : string_values(f)) ++frequencies[s];
    if (f.has_bytes_list()) return;
    for (double v : numeric_values(f)) {
      if (!std::isfinite(v)) continue;  // NaN / inf take no part in min, max and moments
      min = std::min(min, v);
      max = std::max(max, v);
      sum += v;
      sum_sq += v * v;
      ++count;
      if (keep_values) values.push_back(v);
    }
  }
};

// y = x * scale + offset for the linear mappers.
double scale_of(const json& op, double* offset_out) {
  const json& c = op["constants"];
  const std::string mapper = op["op"];
  double scale = 1, offset = 0;
  if (mapper == m::kScaleTo01 || mapper == m::kScaleByMinMax) {
    double lo = mapper == m::kScaleTo01 ? 0.0 : op["args"]["output_min"].get<double>();
    double hi = mapper == m::kScaleTo01 ? 1.0 : op["args"]["output_max"].get<double>();
    double min = c["min"], max = c["max"];
    if (max > min) {
      scale = (hi - lo) / (max - min);
      offset = lo - min * scale;
    } else {  // one distinct value: the middle of the output range, as tf.Transform
      scale = 0;
      offset = (lo + hi) / 2;
    }
  } else if (mapper == m::kScaleToZScore) {
    double sd = std::sqrt(c["var"].get<double>());
    scale = sd > 0 ? 1.0 / sd : 1.0;
    offset = -c["mean"].get<double>() * scale;
  }
  *offset_out = offset;
  return scale;
}

// One op applied to its input's value list.
Feature apply_op(const json& op, const Feature& f, const std::unordered_map<std::string, int64_t>* vocabulary_index) {
  const std::string mapper = op["op"];
  const json& c = op["constants"];
  const json& args = op["args"];
  Feature o;
  if (mapper == m::kIdentity) return f;
  if (mapper == m::kFillMissing) {
    if (value_count(f) > 0) return f;
    const std::string kind = c.at("kind");
    if (kind == "bytes") o.mutable_bytes_list()->add_value(c.at("fill").get<std::string>());
    else if (kind == "int") o.mutable_int64_list()->add_value(c.at("fill").get<int64_t>());
    else o.mutable_float_list()->add_value(c.at("fill").get<float>());
    return o;
  }
  if (mapper == m::kVocabulary) {
    int64_t size = static_cast<int64_t>(c["vocabulary"].size());
    int64_t oov = args.value("num_oov_buckets", int64_t{0}), def = args.value("default_value", int64_t{-1});
    auto* list = o.mutable_int64_list();
    for (const auto& s : string_values(f)) {
      auto it = vocabulary_index->find(s);
      if (it != vocabulary_index->end()) list->add_value(it->second);
      else list->add_value(oov > 0 ? size + static_cast<int64_t>(std::hash<std::string>{}(s) % static_cast<size_t>(oov)) : def);
    }
    return o;
  }
  if (mapper == m::kBucketize) {
    const json& b = c["boundaries"];
    auto* list = o.mutable_int64_list();
    for (double v : numeric_values(f)) list->add_value(std::upper_bound(b.begin(), b.end(), v, [](double x, const json& y) { return x < y.get<double>(); }) - b.begin());
    return o;
  }
  if (mapper == m::kOneHot) {
    auto depth = c.at("depth").get<int64_t>();
    auto* list = o.mutable_float_list();
    for (double v : numeric_values(f)) {
      for (int64_t k = 0; k < depth; ++k) list->add_value(static_cast<double>(k) == v ? 1.0f : 0.0f);  // out of range: all zeros, as tf.one_hot
    }
    return o;
  }
  double offset;
  double scale = scale_of(op, &offset);
  auto* list = o.mutable_float_list();
  auto values = numeric_values(f);
  list->mutable_value()->Reserve(static_cast<int>(values.size()));
  // Computed in float, in the order the ONNX graph computes it (x * scale + offset).
  auto s = static_cast<float>(scale), b = static_cast<float>(offset);
  for (double v : values) list->add_value(static_cast<float>(v) * s + b);
  return o;
}

}  // namespace

// Vocabulary lookups by op output, built once per graph.
struct VocabularyIndex : std::map<std::string, std::unordered_map<std::string, int64_t>> {};

namespace {

VocabularyIndex index_vocabularies(const json& ops) {
  VocabularyIndex index;
  for (const auto& op : ops) {
    if (op["op"] != m::kVocabulary || !op["constants"].contains("vocabulary")) continue;
    auto& entry = index[op["output"].get<std::string>()];
    const json& v = op["constants"]["vocabulary"];
    for (size_t i = 0; i < v.size(); ++i) entry.emplace(v[i].get<std::string>(), static_cast<int64_t>(i));
  }
  return index;
}

// Runs `ops` (with constants) over a raw example; `values` gets every op's output by name.
void run_ops(const json& ops, const VocabularyIndex& vocabularies, const Example& raw, std::map<std::string, Feature>& values) {
  const auto& in = raw.features().feature();
  for (const auto& op : ops) {
    const std::string input = op["input"], output = op["output"];
    const Feature* f = nullptr;
    if (auto v = values.find(input); v != values.end()) f = &v->second;
    else if (auto it = in.find(input); it != in.end()) f = &it->second;
    if (!f) fail("Transform: example has no feature '{}' (needed for '{}')", input, output);
    auto vocab = vocabularies.find(output);
    values[output] = apply_op(op, *f, vocab == vocabularies.end() ? nullptr : &vocab->second);
  }
}

double arg_number(const json& e, const char* key, const std::string& at) {
  if (!e[key].is_number()) fail("{}.{} must be a number, got {}", at, key, e[key].dump());
  return e[key].get<double>();
}

int64_t arg_integer(const json& e, const char* key, const std::string& at, int64_t min) {
  if (!e[key].is_number_integer() || e[key].get<int64_t>() < min) fail("{}.{} must be an integer >= {}, got {}", at, key, min, e[key].dump());
  return e[key].get<int64_t>();
}

}  // namespace

json TransformOp::args_json() const {
  json a = json::object();
  if (mapper == m::kScaleByMinMax) a = {{"output_min", output_min}, {"output_max", output_max}};
  if (mapper == m::kBucketize) a = {{"num_buckets", num_buckets}};
  if (mapper == m::kVocabulary) {
    a = {{"num_oov_buckets", num_oov_buckets}, {"default_value", default_value}};
    if (top_k) a["top_k"] = *top_k;
  }
  if (mapper == m::kFillMissing) {
    a = {{"strategy", strategy == FillStrategy::Mean ? "mean" : strategy == FillStrategy::MostFrequent ? "most_frequent" : "constant"}};
    if (!value.is_null()) a["value"] = value;
  }
  if (mapper == m::kOneHot && depth) a = {{"depth", *depth}};
  return a;
}

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
    TransformOp op;
    op.output = e["output"];
    op.mapper = e["op"];
    op.input = e["input"];
    auto allowed = kMapperArgs.find(op.mapper);
    if (allowed == kMapperArgs.end()) fail("{}.op is '{}', expected one of {}", at, op.mapper, mapper_names());
    for (const auto& [k, v] : e.items()) {
      if (k == "output" || k == "op" || k == "input") continue;
      if (!allowed->second.count(k)) {
        fail("{}: unknown field '{}' for {} (it takes: {})", at, k, op.mapper,
             allowed->second.empty() ? "nothing" : fmt::format("{}", fmt::join(allowed->second, ", ")));
      }
    }
    if (op.mapper == m::kScaleByMinMax) {
      if (e.contains("output_min")) op.output_min = arg_number(e, "output_min", at);
      if (e.contains("output_max")) op.output_max = arg_number(e, "output_max", at);
      if (op.output_min >= op.output_max) fail("{}: output_min must be < output_max", at);
    } else if (op.mapper == m::kBucketize) {
      if (!e.contains("num_buckets")) fail("{}.num_buckets must be a positive integer", at);
      op.num_buckets = arg_integer(e, "num_buckets", at, 1);
    } else if (op.mapper == m::kVocabulary) {
      if (e.contains("top_k")) op.top_k = arg_integer(e, "top_k", at, 1);
      if (e.contains("num_oov_buckets")) op.num_oov_buckets = arg_integer(e, "num_oov_buckets", at, 0);
      if (e.contains("default_value")) op.default_value = arg_integer(e, "default_value", at, std::numeric_limits<int64_t>::min());
    } else if (op.mapper == m::kOneHot) {
      if (e.contains("depth")) op.depth = arg_integer(e, "depth", at, 1);
    } else if (op.mapper == m::kFillMissing) {
      std::string strategy = e.contains("value") ? "constant" : "";
      if (e.contains("strategy")) {
        if (!e["strategy"].is_string()) fail("{}.strategy must be a string (constant, mean or most_frequent), got {}", at, e["strategy"].dump());
        strategy = e["strategy"].get<std::string>();
      }
      if (strategy == "constant") op.strategy = FillStrategy::Constant;
      else if (strategy == "mean") op.strategy = FillStrategy::Mean;
      else if (strategy == "most_frequent") op.strategy = FillStrategy::MostFrequent;
      else fail("{}.strategy is '{}', expected constant (with value), mean or most_frequent", at, strategy);
      if (e.contains("value")) {
        if (op.strategy != FillStrategy::Constant) fail("{}.value applies to strategy constant only", at);
        if (!e["value"].is_number() && !e["value"].is_string()) fail("{}.value must be a number or a string, got {}", at, e["value"].dump());
        op.value = e["value"];
      } else if (op.strategy == FillStrategy::Constant) {
        fail("{}: strategy constant needs a value", at);
      }
    }
    if (!outputs.insert(op.output).second) fail("{}: output '{}' is produced twice", at, op.output);
    fn.push_back(op);
  }
  return fn;
}

TransformGraph TransformGraph::analyze(const PreprocessingFn& fn, const std::vector<std::filesystem::path>& train_files) {
  // Level of each op: 0 reads a raw feature, n+1 reads the output of a level-n op.
  std::map<std::string, size_t> level_of_output;
  std::vector<size_t> levels;
  size_t max_level = 0;
  for (const auto& op : fn) {
    auto producer = level_of_output.find(op.input);
    size_t level = producer == level_of_output.end() ? 0 : producer->second + 1;
    levels.push_back(level);
    level_of_output[op.output] = level;
    max_level = std::max(max_level, level);
  }
  json ops = json::array();  // analyzed ops, in fn order, filled level by level
  std::vector<json> analyzed(fn.size());
  uint64_t examples = 0;
  for (size_t level = 0; level <= max_level; ++level) {
    json earlier = json::array();
    for (size_t i = 0; i < fn.size(); ++i)
      if (levels[i] < level) earlier.push_back(analyzed[i]);
    VocabularyIndex vocabularies = index_vocabularies(earlier);
    std::map<size_t, Analysis> analyses;
    for (size_t i = 0; i < fn.size(); ++i) {
      if (levels[i] != level) continue;
      Analysis& a = analyses[i];
      a.keep_values = fn[i].mapper == m::kBucketize;
      a.want_frequencies = fn[i].mapper == m::kVocabulary || fn[i].mapper == m::kFillMissing;
    }
    std::string record;
    Example example;
    std::map<std::string, Feature> values;
    uint64_t seen = 0;
    for (const auto& file : train_files) {
      TFRecordReader reader(file);
      while (reader.next(record)) {
        if (!example.ParseFromString(record)) fail("{}: record {} is not a tf.Example", file.string(), reader.records_read() - 1);
        ++seen;
        values.clear();
        run_ops(earlier, vocabularies, example, values);
        for (auto& [i, a] : analyses) {
          const std::string& input = fn[i].input;
          if (auto v = values.find(input); v != values.end()) {
            a.add(v->second);
          } else if (auto it = example.features().feature().find(input); it != example.features().feature().end()) {
            a.add(it->second);
          }
        }
      }
    }
    examples = seen;
    if (examples == 0) fail("Transform: the training split has no examples to analyze");
    for (auto& [i, a] : analyses) {
      const TransformOp& op = fn[i];
      std::string what = fmt::format("Transform: {} '{}' (preprocessing_fn[{}])", op.mapper, op.output, i);
      json c = json::object();
      bool numeric = op.mapper != m::kIdentity && op.mapper != m::kVocabulary && op.mapper != m::kFillMissing;
      if (numeric && (a.count == 0 || a.kind == "bytes")) fail("{} needs numeric feature '{}', which the training split does not have", what, op.input);
      if (op.mapper == m::kScaleTo01 || op.mapper == m::kScaleByMinMax) {
        c = {{"min", a.min}, {"max", a.max}};
      } else if (op.mapper == m::kScaleToZScore) {
        double mean = a.sum / static_cast<double>(a.count);
        c = {{"mean", mean}, {"var", std::max(0.0, a.sum_sq / static_cast<double>(a.count) - mean * mean)}};
      } else if (op.mapper == m::kBucketize) {
        std::sort(a.values.begin(), a.values.end());
        json boundaries = json::array();
        for (int64_t b = 1; b < op.num_buckets; ++b) {
          boundaries.push_back(a.values[static_cast<size_t>(static_cast<double>(b) / static_cast<double>(op.num_buckets) * static_cast<double>(a.values.size() - 1))]);
        }
        c = {{"boundaries", boundaries}};
      } else if (op.mapper == m::kVocabulary) {
        if (a.frequencies.empty()) fail("{} needs values of feature '{}' in the training split", what, op.input);
        std::vector<std::pair<std::string, uint64_t>> vocab(a.frequencies.begin(), a.frequencies.end());
        // Most frequent first, ties by value: tf.Transform's order.
        std::sort(vocab.begin(), vocab.end(), [](auto& x, auto& y) { return x.second != y.second ? x.second > y.second : x.first > y.first; });
        if (op.top_k) vocab.resize(std::min(vocab.size(), static_cast<size_t>(*op.top_k)));
        json v = json::array();
        for (auto& [s, n] : vocab) v.push_back(s);
        c = {{"vocabulary", v}};
      } else if (op.mapper == m::kOneHot) {
        int64_t depth = 0;
        if (op.depth) {
          depth = *op.depth;
        } else if (level_of_output.count(op.input)) {
          // After a vocabulary: its size plus the OOV buckets; else the largest id + 1.
          for (size_t k = 0; k < fn.size(); ++k) {
            if (fn[k].output == op.input && fn[k].mapper == m::kVocabulary) {
              depth = static_cast<int64_t>(analyzed[k]["constants"]["vocabulary"].size()) + fn[k].num_oov_buckets;
            }
          }
        }
        if (depth == 0) {
          if (a.count == 0 || a.min < 0) fail("{}: feature '{}' must hold class ids >= 0 (or set depth)", what, op.input);
          depth = static_cast<int64_t>(a.max) + 1;
        }
        c = {{"depth", depth}};
      } else if (op.mapper == m::kFillMissing) {
        std::string kind = a.kind.empty() ? (op.value.is_string() ? "bytes" : "float") : a.kind;
        json fill;
        if (op.strategy == FillStrategy::Constant) {
          if (op.value.is_string() != (kind == "bytes")) fail("{}: value {} does not match feature '{}' ({})", what, op.value.dump(), op.input, kind);
          fill = op.value;
        } else if (op.strategy == FillStrategy::Mean) {
          if (kind == "bytes" || a.count == 0) fail("{}: strategy mean needs numeric values of '{}' in the training split", what, op.input);
          double mean = a.sum / static_cast<double>(a.count);
          fill = kind == "int" ? json(static_cast<int64_t>(std::llround(mean))) : json(mean);
        } else {
          if (a.frequencies.empty()) fail("{}: strategy most_frequent needs values of '{}' in the training split", what, op.input);
          auto best = std::max_element(a.frequencies.begin(), a.frequencies.end(), [](auto& x, auto& y) {
            return x.second != y.second ? x.second < y.second : x.first > y.first;
          });
          if (kind == "bytes") fill = best->first;
          else if (kind == "int") fill = std::stoll(best->first);
          else fill = std::stod(best->first);
        }
        if (kind == "int" && fill.is_number_float()) fill = static_cast<int64_t>(std::llround(fill.get<double>()));
        c = {{"fill", fill}, {"kind", kind}};
      }
      analyzed[i] = {{"output", op.output}, {"op", op.mapper}, {"input", op.input}, {"args", op.args_json()}, {"constants", c}};
    }
  }
  for (auto& op : analyzed) ops.push_back(std::move(op));
  return TransformGraph(json{{"ops", ops}, {"analyzed_examples", examples}});
}

TransformGraph::TransformGraph() : TransformGraph(json{{"ops", json::array()}}) {}

TransformGraph::TransformGraph(json graph)
    : graph_(std::move(graph)), vocabularies_(std::make_shared<VocabularyIndex>(index_vocabularies(graph_["ops"]))) {}

TransformGraph TransformGraph::load(const std::filesystem::path& transform_output) {
  auto path = transform_output / kTransformGraphFile;
  json g = read_json_file(path);
  if (!g.is_object() || !g.contains("ops") || !g["ops"].is_array()) fail("{}: expected a field 'ops' with the transform ops", path.string());
  for (size_t i = 0; i < g["ops"].size(); ++i) {
    const json& op = g["ops"][i];
    for (const char* key : {"output", "op", "input"}) {
      if (!op.is_object() || !op.contains(key) || !op[key].is_string()) fail("{}: ops[{}].{} must be a string", path.string(), i, key);
    }
    if (!kMapperArgs.count(op["op"].get<std::string>())) fail("{}: ops[{}].op '{}' is not a mapper", path.string(), i, op["op"].get<std::string>());
    if (!op.contains("constants") || !op["constants"].is_object() || !op.contains("args") || !op["args"].is_object()) {
      fail("{}: ops[{}] needs 'args' and 'constants' objects", path.string(), i);
    }
  }
  return TransformGraph(std::move(g));
}

void TransformGraph::save(const std::filesystem::path& transform_output) const {
  write_json_file_atomic(transform_output / kTransformGraphFile, graph_);
}

Example TransformGraph::apply(const Example& raw) const {
  std::map<std::string, Feature> values;
  run_ops(graph_["ops"], *vocabularies_, raw, values);
  Example out;
  auto& features = *out.mutable_features()->mutable_feature();
  for (auto& [name, f] : values) features[name] = std::move(f);
  return out;
}

const json& TransformGraph::op_producing(const std::string& transformed_feature) const {
  for (const auto& op : graph_["ops"])
    if (op["output"] == transformed_feature) return op;
  fail("Transform: the transform graph produces no feature '{}'", transformed_feature);
}

bool TransformGraph::produces(const std::string& transformed_feature) const {
  if (!graph_.contains("ops")) return false;
  for (const auto& op : graph_["ops"])
    if (op["output"] == transformed_feature) return true;
  return false;
}

std::string TransformGraph::raw_feature_of(const std::string& transformed_feature) const {
  std::string name = transformed_feature;
  for (size_t hops = 0; produces(name); ++hops) {
    if (hops > graph_["ops"].size()) fail("Transform: feature '{}' is computed from itself", transformed_feature);
    name = op_producing(name)["input"].get<std::string>();
  }
  return name;
}

std::vector<std::string> TransformGraph::vocabulary(const std::string& transformed_feature) const {
  if (!produces(transformed_feature)) return {};
  const json& op = op_producing(transformed_feature);
  if (op["op"] != m::kVocabulary) return {};
  return op["constants"]["vocabulary"].get<std::vector<std::string>>();
}

std::string TransformGraph::to_onnx(onnxio::GraphBuilder& g, const std::string& raw_tensor, const std::string& transformed_feature) const {
  const json& op = op_producing(transformed_feature);
  const std::string mapper = op["op"], input = op["input"];
  std::string x = produces(input) ? to_onnx(g, raw_tensor, input) : raw_tensor;
  if (mapper == m::kIdentity) return x;
  if (mapper == m::kFillMissing) {
    const json& c = op["constants"];
    if (c["kind"] == "bytes") fail("Transform: '{}' fills a string feature; serving signatures take float features", transformed_feature);
    // A missing serving value is NaN: replaced by the learned fill value.
    auto fill = c["fill"].get<float>();
    std::string isnan = g.unique(transformed_feature + "_isnan");
    std::string out = g.unique(transformed_feature);
    g.add_node("IsNaN", {x}, {isnan});
    g.add_node("Where", {isnan, g.add_initializer(transformed_feature + "_fill", &fill, {}), x}, {out});
    return out;
  }
  if (mapper == m::kBucketize || mapper == m::kVocabulary || mapper == m::kOneHot) {
    fail("Transform: '{}' ({}) cannot be part of a float serving signature; feed the model numeric features", transformed_feature, mapper);
  }
  double offset;
  auto scale = static_cast<float>(scale_of(op, &offset));
  auto bias = static_cast<float>(offset);
  std::string scaled = g.unique(transformed_feature + "_scaled");
  std::string out = g.unique(transformed_feature);
  g.add_node("Mul", {x, g.add_initializer(transformed_feature + "_scale", &scale, {})}, {scaled});
  g.add_node("Add", {scaled, g.add_initializer(transformed_feature + "_offset", &bias, {})}, {out});
  return out;
}

std::function<std::string(onnxio::GraphBuilder&, const std::string&)> TransformGraph::serving_preprocessing(
    const std::string& transformed_feature) const {
  TransformGraph copy = *this;
  return [copy, transformed_feature](onnxio::GraphBuilder& g, const std::string& raw) { return copy.to_onnx(g, raw, transformed_feature); };
}

std::map<std::string, onnxio::ServingInput> TransformGraph::serving_inputs(const std::vector<std::string>& transformed_features) const {
  std::map<std::string, onnxio::ServingInput> inputs;
  for (const auto& feature : transformed_features) {
    inputs[feature] = {raw_feature_of(feature), serving_preprocessing(feature)};
  }
  return inputs;
}

}  // namespace litepipe::transform
