#pragma once
// Dataset statistics in the spirit of TFDV's DatasetFeatureStatistics, as readable JSON.
// Two passes over the TFRecord shards (both parallel across files): moments, ranges and value
// counts first, then equal-width histograms whose bucket edges are shared by all splits, so
// distributions of train and eval can be compared bucket by bucket.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace litepipe {

struct SplitFiles {
  std::string name;
  std::vector<std::filesystem::path> files;
};

constexpr int kHistogramBuckets = 10;
constexpr size_t kMaxTrackedValues = 1000;  // distinct int/bytes values counted per feature

// Statistics of every split, keyed by split name. Each value is the JSON written to
// Split-<name>/FeatureStats.json.
std::map<std::string, nlohmann::json> compute_statistics(const std::vector<SplitFiles>& splits);

// One line per feature: the log summary.
std::string summarize_statistics(const std::string& split, const nlohmann::json& stats);

}  // namespace litepipe
