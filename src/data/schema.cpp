#include "data/schema.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace litepipe {
namespace {

using nlohmann::json;

struct Merged {
  std::string type;
  uint64_t present = 0, examples = 0, min_values = UINT64_MAX, max_values = 0;
  double min = std::numeric_limits<double>::infinity(), max = -std::numeric_limits<double>::infinity();
  bool numeric = false;
  std::set<std::string> strings;  // every value seen, while all are known
  bool strings_complete = true;
};

json anomaly(const std::string& type, const std::string& short_description, const std::string& description) {
  return {{"type", type}, {"short_description", short_description}, {"description", description}};
}

}  // namespace

json infer_schema(const std::vector<json>& split_stats, const SchemaOptions& options) {
  if (split_stats.empty()) fail("SchemaGen: no statistics to infer a schema from");
  std::map<std::string, Merged> merged;
  uint64_t total_examples = 0;
  for (const auto& stats : split_stats) {
    uint64_t examples = stats.at("num_examples").get<uint64_t>();
    total_examples += examples;
    for (const auto& [name, f] : stats.at("features").items()) {
      Merged& m = merged[name];
      std::string type = f.at("type").get<std::string>();
      if (!m.type.empty() && m.type != type) {
        fail("SchemaGen: feature '{}' is {} in one split and {} in another", name, m.type, type);
      }
      m.type = type;
      const auto& c = f.at("common_stats");
      m.present += c.at("num_non_missing").get<uint64_t>();
      if (c.at("num_non_missing").get<uint64_t>() > 0) {
        m.min_values = std::min(m.min_values, c.at("min_num_values").get<uint64_t>());
        m.max_values = std::max(m.max_values, c.at("max_num_values").get<uint64_t>());
      }
      if (type == "BYTES") {
        const json& ss = f.contains("string_stats") ? f["string_stats"] : json::object();
        if (!ss.contains("rank_histogram")) m.strings_complete = false;
        else for (const auto& v : ss["rank_histogram"]) m.strings.insert(v.at("label").get<std::string>());
      }
      if (f.contains("num_stats") && c.at("num_non_missing").get<uint64_t>() > 0) {
        m.numeric = true;
        m.min = std::min(m.min, f["num_stats"].at("min").get<double>());
        m.max = std::max(m.max, f["num_stats"].at("max").get<double>());
      }
    }
  }
  json features = json::array();
  for (auto& [name, m] : merged) {
    json feature = {{"name", name}, {"type", m.type}};
    bool always_present = m.present == total_examples;
    feature["presence"] = always_present ? json{{"min_fraction", 1.0}, {"min_count", 1}} : json{{"min_count", 1}};
    if (options.infer_feature_shape && always_present && m.min_values == m.max_values) {
      feature["shape"] = {{"dim", json::array({{{"size", m.min_values}}})}};
    } else {
      feature["value_count"] = {{"min", m.min_values == UINT64_MAX ? 0 : m.min_values}, {"max", m.max_values}};
    }
    if (m.type == "BYTES" && m.strings_complete && !m.strings.empty() && m.strings.size() <= options.max_string_domain_size) {
      feature["string_domain"] = {{"name", name}, {"value", json(m.strings)}};
    }
    if (m.numeric && options.infer_feature_ranges) {
      if (m.type == "INT") feature["int_domain"] = {{"min", static_cast<int64_t>(m.min)}, {"max", static_cast<int64_t>(m.max)}};
      else feature["float_domain"] = {{"min", m.min}, {"max", m.max}};
    }
    features.push_back(feature);
  }
  return {{"feature", features}};
}

std::optional<double> distribution_distance(const json& a, const json& b) {
  auto normalized = [](const json& f) -> std::optional<std::map<std::string, double>> {
    std::map<std::string, double> d;
    double total = 0;
    if (f.contains("value_counts")) {
      for (const auto& e : f["value_counts"]) {
        d[e.at("value").dump()] += e.at("count").get<double>();
        total += e.at("count").get<double>();
      }
    } else if (f.contains("string_stats") && f["string_stats"].contains("unique") &&
               f["string_stats"]["unique"].get<size_t>() <= f["string_stats"]["top_values"].size()) {
      for (const auto& e : f["string_stats"]["top_values"]) {
        d[e.at("value").get<std::string>()] += e.at("count").get<double>();
        total += e.at("count").get<double>();
      }
    } else if (f.contains("num_stats") && f["num_stats"].contains("histogram")) {
      for (const auto& bkt : f["num_stats"]["histogram"]["buckets"]) {
        d[fmt::format("{:.17g}", bkt.at("low_value").get<double>())] += bkt.at("sample_count").get<double>();
        total += bkt.at("sample_count").get<double>();
      }
    } else {
      return std::nullopt;
    }
    if (total <= 0) return std::nullopt;
    for (auto& [k, v] : d) v /= total;
    return d;
  };
  auto da = normalized(a), db = normalized(b);
  if (!da || !db) return std::nullopt;
  double dist = 0;
  for (const auto& [k, v] : *da) dist = std::max(dist, std::abs(v - (db->count(k) ? db->at(k) : 0.0)));
  for (const auto& [k, v] : *db) dist = std::max(dist, std::abs(v - (da->count(k) ? da->at(k) : 0.0)));
  return dist;
}

json validate_statistics(const json& stats, const json& schema, const json* baseline, const DriftOptions& drift) {
  json info = json::object();
  auto add = [&](const std::string& feature, json a) { info[feature].push_back(std::move(a)); };
  const json& features = stats.at("features");
  uint64_t examples = stats.at("num_examples").get<uint64_t>();
  std::set<std::string> in_schema;
  for (const auto& sf : schema.at("feature")) {
    std::string name = sf.at("name").get<std::string>();
    in_schema.insert(name);
    std::string type = sf.at("type").get<std::string>();
    if (!features.contains(name)) {
      if (sf.contains("presence") && sf["presence"].value("min_count", 0) > 0 && examples > 0) {
        add(name, anomaly("SCHEMA_MISSING_COLUMN", "Column dropped",
                          fmt::format("The feature was present in the schema but absent from all {} examples.", examples)));
      }
      continue;
    }
    const json& f = features.at(name);
    const json& c = f.at("common_stats");
    uint64_t present = c.at("num_non_missing").get<uint64_t>();
    if (f.at("type").get<std::string>() != type) {
      add(name, anomaly("UNEXPECTED_DATA_TYPE", "Unexpected data type",
                        fmt::format("Expected data of type: {} but got {}", type, f.at("type").get<std::string>())));
      continue;
    }
    if (f.contains("type_conflicts")) {
      add(name, anomaly("UNEXPECTED_DATA_TYPE", "Mixed data types",
                        fmt::format("{} examples hold a value list of another type than {}", f["type_conflicts"].get<uint64_t>(), type)));
    }
    if (sf.contains("presence") && sf["presence"].contains("min_fraction") && examples > 0) {
      double fraction = static_cast<double>(present) / static_cast<double>(examples);
      double min_fraction = sf["presence"]["min_fraction"].get<double>();
      if (fraction < min_fraction) {
        add(name, anomaly("FEATURE_TYPE_LOW_FRACTION_PRESENT", "Column dropped",
                          fmt::format("The feature was present in fewer examples than expected: {:.4f} < {:.4f} ({} of {} missing).",
                                      fraction, min_fraction, examples - present, examples)));
      }
    }
    if (present > 0) {
      uint64_t lo = c.at("min_num_values").get<uint64_t>(), hi = c.at("max_num_values").get<uint64_t>();
      if (sf.contains("shape")) {
        uint64_t size = 1;
        for (const auto& d : sf["shape"]["dim"]) size *= d.at("size").get<uint64_t>();
        if (lo != size || hi != size) {
          add(name, anomaly("INVALID_FEATURE_SHAPE", "Invalid feature shape",
                            fmt::format("Expected {} values per example (shape), got {}..{}", size, lo, hi)));
        }
      } else if (sf.contains("value_count")) {
        uint64_t vmin = sf["value_count"].at("min").get<uint64_t>(), vmax = sf["value_count"].at("max").get<uint64_t>();
        if (lo < vmin) add(name, anomaly("FEATURE_TYPE_LOW_NUMBER_VALUES", "Missing values",
                                         fmt::format("Some examples have fewer values than expected: {} < {}", lo, vmin)));
        if (hi > vmax) add(name, anomaly("FEATURE_TYPE_HIGH_NUMBER_VALUES", "Superfluous values",
                                         fmt::format("Some examples have more values than expected: {} > {}", hi, vmax)));
      }
      if (sf.contains("string_domain") && f.contains("string_stats") && f["string_stats"].contains("rank_histogram")) {
        std::set<std::string> domain;
        for (const auto& v : sf["string_domain"].at("value")) domain.insert(v.get<std::string>());
        std::vector<std::string> unexpected;
        for (const auto& v : f["string_stats"]["rank_histogram"]) {
          if (!domain.count(v.at("label").get<std::string>())) unexpected.push_back(v.at("label").get<std::string>());
        }
        if (!unexpected.empty()) {
          add(name, anomaly("ENUM_TYPE_UNEXPECTED_STRING_VALUES", "Unexpected string values",
                            fmt::format("Examples contain values missing from the schema: {}.", fmt::join(unexpected, ", "))));
        }
      }
      for (const char* domain_key : {"int_domain", "float_domain"}) {
        if (!sf.contains(domain_key) || !f.contains("num_stats")) continue;
        double dmin = sf[domain_key].at("min").get<double>(), dmax = sf[domain_key].at("max").get<double>();
        double vmin = f["num_stats"].at("min").get<double>(), vmax = f["num_stats"].at("max").get<double>();
        if (vmin < dmin || vmax > dmax) {
          add(name, anomaly(std::string(domain_key) == "int_domain" ? "INT_TYPE_OUT_OF_RANGE" : "FLOAT_TYPE_OUT_OF_RANGE",
                            "Out-of-range values",
                            fmt::format("Values {:g}..{:g} fall outside the domain [{:g}, {:g}]", vmin, vmax, dmin, dmax)));
        }
      }
    }
    if (baseline && baseline->at("features").contains(name)) {
      std::optional<double> threshold = drift.default_threshold;
      if (auto it = drift.feature_thresholds.find(name); it != drift.feature_thresholds.end()) threshold = it->second;
      if (threshold) {
        if (auto distance = distribution_distance(f, baseline->at("features").at(name)); distance && *distance > *threshold) {
          add(name, anomaly("COMPARATOR_L_INFTY_HIGH", "High L-infinity distance between current and previous",
                            fmt::format("The L-infinity distance between {} and {} is {:.6f} (up to six significant digits), above the threshold {:g}.",
                                        stats.at("name").get<std::string>(), baseline->at("name").get<std::string>(), *distance, *threshold)));
        }
      }
    }
  }
  for (const auto& [name, f] : features.items()) {
    if (!in_schema.count(name)) {
      add(name, anomaly("SCHEMA_NEW_COLUMN", "New column", "New column (column in data but not in schema)"));
    }
  }
  size_t count = 0;
  for (const auto& [name, list] : info.items()) count += list.size();
  return {{"split", stats.at("name")}, {"anomaly_info", info}, {"num_anomalies", count}};
}

std::string summarize_anomalies(const json& anomalies) {
  if (anomalies.at("num_anomalies").get<size_t>() == 0) {
    return fmt::format("split {}: no anomalies", anomalies.at("split").get<std::string>());
  }
  std::string out = fmt::format("split {}: {} anomal{}", anomalies.at("split").get<std::string>(),
                                anomalies.at("num_anomalies").get<size_t>(),
                                anomalies.at("num_anomalies").get<size_t>() == 1 ? "y" : "ies");
  for (const auto& [name, list] : anomalies.at("anomaly_info").items()) {
    for (const auto& a : list) {
      out += fmt::format("\n  {}: {} ({})", name, a.at("short_description").get<std::string>(),
                         a.at("description").get<std::string>());
    }
  }
  return out;
}

}  // namespace litepipe
