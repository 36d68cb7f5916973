#include "data/statistics.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>

#include "core/error.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "data/quantile_sketch.h"
#include "data/tfrecord.h"
#include "distributed/world.h"
#include "tensorflow/core/example/example.pb.h"

namespace litepipe {
namespace {

using tensorflow::Feature;

const char* type_name(int kind) {
  switch (kind) {
    case Feature::kBytesList: return "BYTES";
    case Feature::kFloatList: return "FLOAT";
    case Feature::kInt64List: return "INT";
    default: return "UNKNOWN";
  }
}

struct FeatureAccumulator {
  int kind = Feature::KIND_NOT_SET;
  uint64_t type_conflicts = 0;
  uint64_t present = 0;
  uint64_t min_values = std::numeric_limits<uint64_t>::max();
  uint64_t max_values = 0;
  uint64_t total_values = 0;
  double sum = 0, sum_sq = 0;
  uint64_t nans = 0, infinities = 0;  // not part of the moments or ranges (TFDV counts them apart)
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  uint64_t zeros = 0;
  std::unordered_map<int64_t, uint64_t> int_counts;
  std::unordered_map<std::string, uint64_t> bytes_counts;
  bool counts_overflow = false;
  uint64_t bytes_total_length = 0;
  std::vector<uint64_t> histogram;
  QuantileSketch sketch;  // of the finite values

  template <typename T>
  void add_numbers(const T* values, int n) {
    double s = 0, sq = 0, lo = min, hi = max;
    uint64_t z = 0;
    for (int i = 0; i < n; ++i) {
      double v = static_cast<double>(values[i]);
      if (!std::isfinite(v)) {
        ++(std::isnan(v) ? nans : infinities);
        continue;
      }
      s += v;
      sq += v * v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      z += v == 0;
      sketch.add(v);
    }
    sum += s;
    sum_sq += sq;
    min = lo;
    max = hi;
    zeros += z;
  }

  void merge(const FeatureAccumulator& o) {
    if (kind == Feature::KIND_NOT_SET) kind = o.kind;
    else if (o.kind != Feature::KIND_NOT_SET && o.kind != kind) type_conflicts += o.present;
    type_conflicts += o.type_conflicts;
    present += o.present;
    min_values = std::min(min_values, o.min_values);
    max_values = std::max(max_values, o.max_values);
    total_values += o.total_values;
    sum += o.sum;
    sum_sq += o.sum_sq;
    min = std::min(min, o.min);
    max = std::max(max, o.max);
    zeros += o.zeros;
    nans += o.nans;
    infinities += o.infinities;
    counts_overflow = counts_overflow || o.counts_overflow;
    for (const auto& [k, v] : o.int_counts) int_counts[k] += v;
    for (const auto& [k, v] : o.bytes_counts) bytes_counts[k] += v;
    if (int_counts.size() > kMaxTrackedValues || bytes_counts.size() > kMaxTrackedValues) {
      counts_overflow = true;
      int_counts.clear();
      bytes_counts.clear();
    }
    bytes_total_length += o.bytes_total_length;
    if (histogram.size() < o.histogram.size()) histogram.resize(o.histogram.size());
    for (size_t i = 0; i < o.histogram.size(); ++i) histogram[i] += o.histogram[i];
    sketch.merge(o.sketch);
  }

  // A partial result as another rank receives it (CBOR: doubles and byte strings exactly).
  nlohmann::json to_json() const {
    nlohmann::json ints = nlohmann::json::array(), bytes = nlohmann::json::array();
    for (const auto& [v, c] : int_counts) ints.push_back({v, c});
    for (const auto& [v, c] : bytes_counts) bytes.push_back({nlohmann::json::binary(std::vector<uint8_t>(v.begin(), v.end())), c});
    return {{"kind", kind}, {"type_conflicts", type_conflicts}, {"present", present}, {"min_values", min_values},
            {"max_values", max_values}, {"total_values", total_values}, {"sum", sum}, {"sum_sq", sum_sq}, {"nans", nans},
            {"infinities", infinities}, {"min", min}, {"max", max}, {"zeros", zeros}, {"int_counts", ints}, {"bytes_counts", bytes},
            {"counts_overflow", counts_overflow}, {"bytes_total_length", bytes_total_length}, {"histogram", histogram},
            {"sketch", sketch.to_json()}};
  }

  static FeatureAccumulator from_json(const nlohmann::json& j) {
    FeatureAccumulator f;
    f.kind = j.at("kind").get<int>();
    f.type_conflicts = j.at("type_conflicts").get<uint64_t>();
    f.present = j.at("present").get<uint64_t>();
    f.min_values = j.at("min_values").get<uint64_t>();
    f.max_values = j.at("max_values").get<uint64_t>();
    f.total_values = j.at("total_values").get<uint64_t>();
    f.sum = j.at("sum").get<double>();
    f.sum_sq = j.at("sum_sq").get<double>();
    f.nans = j.at("nans").get<uint64_t>();
    f.infinities = j.at("infinities").get<uint64_t>();
    f.min = j.at("min").get<double>();
    f.max = j.at("max").get<double>();
    f.zeros = j.at("zeros").get<uint64_t>();
    for (const auto& e : j.at("int_counts")) f.int_counts[e.at(0).get<int64_t>()] = e.at(1).get<uint64_t>();
    for (const auto& e : j.at("bytes_counts")) {
      const auto& b = e.at(0).get_binary();
      f.bytes_counts[std::string(b.begin(), b.end())] = e.at(1).get<uint64_t>();
    }
    f.counts_overflow = j.at("counts_overflow").get<bool>();
    f.bytes_total_length = j.at("bytes_total_length").get<uint64_t>();
    f.histogram = j.at("histogram").get<std::vector<uint64_t>>();
    f.sketch = QuantileSketch::from_json(j.at("sketch"), "statistics partial result");
    return f;
  }
};

struct SplitAccumulator {
  uint64_t examples = 0;
  std::map<std::string, FeatureAccumulator> features;

  void merge(const SplitAccumulator& o) {
    examples += o.examples;
    for (const auto& [name, acc] : o.features) features[name].merge(acc);
  }

  nlohmann::json to_json() const {
    nlohmann::json f = nlohmann::json::object();
    for (const auto& [name, acc] : features) f[name] = acc.to_json();
    return {{"examples", examples}, {"features", f}};
  }

  static SplitAccumulator from_json(const nlohmann::json& j) {
    SplitAccumulator a;
    a.examples = j.at("examples").get<uint64_t>();
    for (const auto& [name, f] : j.at("features").items()) a.features[name] = FeatureAccumulator::from_json(f);
    return a;
  }
};

void first_pass(const tensorflow::Example& example, SplitAccumulator& acc) {
  ++acc.examples;
  for (const auto& [name, feature] : example.features().feature()) {
    int n = 0;
    switch (feature.kind_case()) {
      case Feature::kFloatList: n = feature.float_list().value_size(); break;
      case Feature::kInt64List: n = feature.int64_list().value_size(); break;
      case Feature::kBytesList: n = feature.bytes_list().value_size(); break;
      default: break;
    }
    if (n == 0) continue;  // an empty list is a missing value (as a blank CSV cell)
    FeatureAccumulator& f = acc.features[name];
    if (f.kind == Feature::KIND_NOT_SET) f.kind = feature.kind_case();
    if (f.kind != feature.kind_case()) {
      ++f.type_conflicts;
      continue;
    }
    ++f.present;
    f.min_values = std::min<uint64_t>(f.min_values, n);
    f.max_values = std::max<uint64_t>(f.max_values, n);
    f.total_values += n;
    if (feature.has_float_list()) {
      f.add_numbers(feature.float_list().value().data(), n);
    } else if (feature.has_int64_list()) {
      f.add_numbers(feature.int64_list().value().data(), n);
      if (!f.counts_overflow) {
        for (int64_t v : feature.int64_list().value()) ++f.int_counts[v];
        if (f.int_counts.size() > kMaxTrackedValues) {
          f.counts_overflow = true;
          f.int_counts.clear();
        }
      }
    } else {
      for (const auto& v : feature.bytes_list().value()) {
        f.bytes_total_length += v.size();
        if (!f.counts_overflow) ++f.bytes_counts[v];
      }
      if (f.bytes_counts.size() > kMaxTrackedValues) {
        f.counts_overflow = true;
        f.bytes_counts.clear();
      }
    }
  }
}

struct Range {
  double lo, hi;
};

template <typename T>
void add_to_histogram(const T* values, int n, const Range& r, std::vector<uint64_t>& hist) {
  double width = (r.hi - r.lo) / kHistogramBuckets;
  for (int i = 0; i < n; ++i) {
    double v = static_cast<double>(values[i]);
    if (!std::isfinite(v)) continue;
    int b = width > 0 ? static_cast<int>((v - r.lo) / width) : 0;
    hist[static_cast<size_t>(std::clamp(b, 0, kHistogramBuckets - 1))] += 1;
  }
}

void second_pass(const tensorflow::Example& example, const std::map<std::string, Range>& ranges,
                 SplitAccumulator& acc) {
  for (const auto& [name, range] : ranges) {
    auto it = example.features().feature().find(name);
    if (it == example.features().feature().end()) continue;
    auto& hist = acc.features[name].histogram;
    hist.resize(kHistogramBuckets);
    if (it->second.has_float_list()) {
      add_to_histogram(it->second.float_list().value().data(), it->second.float_list().value_size(), range, hist);
    } else if (it->second.has_int64_list()) {
      add_to_histogram(it->second.int64_list().value().data(), it->second.int64_list().value_size(), range, hist);
    }
  }
}

using ExampleVisitor = std::function<void(const tensorflow::Example&, SplitAccumulator&)>;

// Runs `visit` over every file of every split in parallel, one partial result per file; returns
// one accumulator per split, the files' merged in file order. Sharded over ranks, this rank reads
// files r, r + K, ... and the partial results are exchanged before the same merge, so the result
// equals one process's, floating-point sums included.
std::vector<SplitAccumulator> scan(const std::vector<SplitFiles>& splits, const ExampleVisitor& visit,
                                   const std::string& label, const distributed::World* world) {
  struct Task { size_t split; std::filesystem::path file; };
  std::vector<Task> tasks;
  for (size_t s = 0; s < splits.size(); ++s)
    for (const auto& f : splits[s].files) tasks.push_back({s, f});
  std::vector<SplitAccumulator> per_task(tasks.size());
  const size_t ranks = world ? static_cast<size_t>(world->size()) : 1, rank = world ? static_cast<size_t>(world->rank()) : 0;
  std::vector<size_t> mine;
  for (size_t t = rank; t < tasks.size(); t += ranks) mine.push_back(t);
  Progress progress(label, 0);
  parallel_for(mine.size(), [&](size_t i) {
    size_t t = mine[i];
    TFRecordReader reader(tasks[t].file);
    std::string record;
    tensorflow::Example example;
    while (reader.next(record)) {
      if (!example.ParseFromString(record)) {
        fail("{}: record {} is not a valid tf.Example", tasks[t].file.string(), reader.records_read() - 1);
      }
      visit(example, per_task[t]);
      progress.advance();
    }
  });
  progress.finish();
  if (ranks > 1) {
    nlohmann::json partial = nlohmann::json::array();
    for (size_t t : mine) partial.push_back({t, per_task[t].to_json()});
    std::vector<uint8_t> cbor = nlohmann::json::to_cbor(partial);
    std::vector<std::string> all = world->allgather_bytes(std::string(cbor.begin(), cbor.end()));
    for (size_t r = 0; r < all.size(); ++r) {
      if (r == rank) continue;
      for (const auto& entry : nlohmann::json::from_cbor(all[r])) per_task[entry.at(0).get<size_t>()] = SplitAccumulator::from_json(entry.at(1));
    }
  }
  std::vector<SplitAccumulator> result(splits.size());
  for (size_t t = 0; t < tasks.size(); ++t) result[tasks[t].split].merge(per_task[t]);
  return result;
}

nlohmann::json histogram_json(const Range& r, const std::vector<uint64_t>& counts) {
  nlohmann::json buckets = nlohmann::json::array();
  double width = (r.hi - r.lo) / static_cast<double>(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    double low = r.lo + width * static_cast<double>(i);
    double high = i + 1 == counts.size() ? r.hi : low + width;
    buckets.push_back({{"low_value", low}, {"high_value", high}, {"sample_count", counts[i]}});
  }
  return {{"type", "STANDARD"}, {"buckets", buckets}};
}

nlohmann::json feature_json(const FeatureAccumulator& f, uint64_t examples, const Range* range) {
  nlohmann::json j;
  j["type"] = type_name(f.kind);
  j["common_stats"] = {
      {"num_non_missing", f.present},
      {"num_missing", examples - f.present},
      {"missing_fraction", examples ? static_cast<double>(examples - f.present) / static_cast<double>(examples) : 0.0},
      {"min_num_values", f.present ? f.min_values : 0},
      {"max_num_values", f.max_values},
      {"avg_num_values", f.present ? static_cast<double>(f.total_values) / static_cast<double>(f.present) : 0.0},
      {"tot_num_values", f.total_values},
  };
  if (f.type_conflicts) j["type_conflicts"] = f.type_conflicts;
  if (f.kind == Feature::kFloatList || f.kind == Feature::kInt64List) {
    // NaN and infinities are counted, not averaged (JSON has no number for them).
    double n = static_cast<double>(f.total_values - f.nans - f.infinities);
    double mean = n > 0 ? f.sum / n : 0.0;
    double var = n > 0 ? std::max(0.0, f.sum_sq / n - mean * mean) : 0.0;
    nlohmann::json num = {{"mean", mean}, {"std_dev", std::sqrt(var)}, {"num_zeros", f.zeros},
                          {"min", n > 0 ? f.min : 0.0}, {"max", n > 0 ? f.max : 0.0},
                          {"num_nan", f.nans}, {"num_inf", f.infinities}};
    if (range && !f.histogram.empty()) num["histogram"] = histogram_json(*range, f.histogram);
    if (f.sketch.count() > 0) {
      // Deciles from the sketch (exact up to QuantileSketch::kDefaultK values); the ends are
      // the exact min and max.
      nlohmann::json q = nlohmann::json::array();
      for (int i = 0; i <= kQuantiles; ++i) {
        double at = static_cast<double>(i) / kQuantiles;
        double v = i == 0 ? f.min : i == kQuantiles ? f.max : f.sketch.quantile(at);
        q.push_back({{"quantile", at}, {"value", v}});
      }
      num["median"] = f.sketch.quantile(0.5);
      num["quantiles"] = q;
      num["quantiles_exact"] = f.sketch.exact();
    }
    j["num_stats"] = num;
  }
  if (f.kind == Feature::kInt64List && !f.counts_overflow) {
    // Sorted by value: the label distribution of an int label such as image_class.
    std::map<int64_t, uint64_t> sorted(f.int_counts.begin(), f.int_counts.end());
    nlohmann::json counts = nlohmann::json::array();
    for (const auto& [v, c] : sorted) counts.push_back({{"value", v}, {"count", c}});
    j["value_counts"] = counts;
  }
  if (f.kind == Feature::kBytesList) {
    nlohmann::json s = {{"avg_length", f.total_values ? static_cast<double>(f.bytes_total_length) / static_cast<double>(f.total_values) : 0.0}};
    if (!f.counts_overflow) {
      s["unique"] = f.bytes_counts.size();
      std::vector<std::pair<std::string, uint64_t>> top(f.bytes_counts.begin(), f.bytes_counts.end());
      std::sort(top.begin(), top.end(), [](auto& a, auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
      if (top.size() > 20) top.resize(20);
      nlohmann::json tv = nlohmann::json::array();
      for (auto& [v, c] : top) tv.push_back({{"value", v}, {"count", c}});
      s["top_values"] = tv;
      // Every value with its count (TFDV's rank_histogram): what a string domain is learned from.
      std::vector<std::pair<std::string, uint64_t>> all(f.bytes_counts.begin(), f.bytes_counts.end());
      std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
      nlohmann::json rank = nlohmann::json::array();
      for (auto& [v, c] : all) rank.push_back({{"label", v}, {"sample_count", c}});
      s["rank_histogram"] = rank;
    } else {
      s["unique_over"] = kMaxTrackedValues;
    }
    j["string_stats"] = s;
  }
  return j;
}

}  // namespace

std::map<std::string, nlohmann::json> compute_statistics(const std::vector<SplitFiles>& splits, const distributed::World* world) {
  auto first = scan(splits, first_pass, "StatisticsGen pass 1/2", world);

  // Shared bucket edges: the range of each numeric feature over all splits.
  std::map<std::string, Range> ranges;
  for (const auto& split : first) {
    for (const auto& [name, f] : split.features) {
      if ((f.kind != Feature::kFloatList && f.kind != Feature::kInt64List) || f.present == 0 || !(f.min <= f.max)) continue;
      auto [it, inserted] = ranges.try_emplace(name, Range{f.min, f.max});
      if (!inserted) it->second = {std::min(it->second.lo, f.min), std::max(it->second.hi, f.max)};
    }
  }
  auto second = scan(splits, [&](const tensorflow::Example& e, SplitAccumulator& acc) { second_pass(e, ranges, acc); },
                     "StatisticsGen pass 2/2", world);

  std::map<std::string, nlohmann::json> result;
  for (size_t s = 0; s < splits.size(); ++s) {
    SplitAccumulator& acc = first[s];
    nlohmann::json features = nlohmann::json::object();
    for (auto& [name, f] : acc.features) {
      auto h = second[s].features.find(name);
      if (h != second[s].features.end()) f.histogram = h->second.histogram;
      auto r = ranges.find(name);
      features[name] = feature_json(f, acc.examples, r == ranges.end() ? nullptr : &r->second);
    }
    result[splits[s].name] = {{"name", splits[s].name}, {"num_examples", acc.examples}, {"features", features}};
  }
  return result;
}

std::string summarize_statistics(const std::string& split, const nlohmann::json& stats) {
  std::string out = fmt::format("split {}: {} examples", split, stats.at("num_examples").get<uint64_t>());
  for (const auto& [name, f] : stats.at("features").items()) {
    const auto& c = f.at("common_stats");
    out += fmt::format("\n  {:<16} {:<5} values/example {}..{} missing {}", name, f.at("type").get<std::string>(),
                       c.at("min_num_values").get<uint64_t>(), c.at("max_num_values").get<uint64_t>(),
                       c.at("num_missing").get<uint64_t>());
    if (f.contains("num_stats")) {
      const auto& n = f.at("num_stats");
      out += fmt::format(" min {:g} max {:g} mean {:.4g} std {:.4g} zeros {}", n.at("min").get<double>(),
                         n.at("max").get<double>(), n.at("mean").get<double>(), n.at("std_dev").get<double>(),
                         n.at("num_zeros").get<uint64_t>());
    }
  }
  return out;
}

}  // namespace litepipe
