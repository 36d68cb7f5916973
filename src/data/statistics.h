#pragma once
// Dataset statistics in the spirit of TFDV's DatasetFeatureStatistics, as readable JSON.
// Two passes over the TFRecord shards (both parallel across files): moments, ranges, value counts
// and quantile sketches first, then equal-width histograms whose bucket edges are shared by all
// splits, so distributions of train and eval can be compared bucket by bucket. Each pass makes one
// partial result per file and merges them in file order, which is what lets several processes
// share the files and still get one process's result exactly.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace litepipe {
namespace distributed {
class World;
}

struct SplitFiles {
  std::string name;
  std::vector<std::filesystem::path> files;
};

constexpr int kHistogramBuckets = 10;
constexpr size_t kMaxTrackedValues = 1000;  // distinct int/bytes values counted per feature
constexpr int kQuantiles = 10;              // num_stats.quantiles: deciles

// Statistics of every split, keyed by split name. Each value is the JSON written to
// Split-<name>/FeatureStats.json. With a `world` of K ranks, every rank calls this with the same
// splits, reads files r, r + K, ... (numbered over all splits) and gets the whole result.
std::map<std::string, nlohmann::json> compute_statistics(const std::vector<SplitFiles>& splits,
                                                         const distributed::World* world = nullptr);

// One line per feature: the log summary.
std::string summarize_statistics(const std::string& split, const nlohmann::json& stats);

}  // namespace litepipe
