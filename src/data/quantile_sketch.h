#pragma once
// A mergeable quantile sketch (KLL's compactor levels, with deterministic compaction): level h
// holds values that each stand for 2^h inputs; a full level is sorted and every other value moves
// up. Exact while no compaction has happened (up to `k` values); beyond that the rank error is
// about a percent for k = 1024, in about 3k retained values.
//
// Deterministic, so that sharded statistics equal one process's: the same values added and the
// same sketches merged in the same order give the same sketch. merge() is also commutative (a
// level's values are a multiset and compaction depends only on the state), but
// not associative; StatisticsGen therefore always merges per-file sketches in file order.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace litepipe {

class QuantileSketch {
 public:
  static constexpr uint32_t kDefaultK = 1024;
  explicit QuantileSketch(uint32_t k = kDefaultK);

  // A finite value. Inline: StatisticsGen adds every value of every numeric feature.
  void add(double value) {
    if (levels_.empty()) grow();
    levels_[0].push_back(value);
    ++count_;
    if (levels_[0].size() >= capacities_[0]) compress(true);
  }
  void merge(const QuantileSketch& other);

  uint64_t count() const { return count_; }
  bool exact() const { return levels_.size() <= 1; }
  // The value of rank ceil(q * count) (q in [0, 1]; 0 and 1 give the smallest and largest kept
  // value); the sketch must not be empty.
  double quantile(double q) const;
  // How many values it keeps.
  size_t retained() const;

  nlohmann::json to_json() const;
  // Errors name `where` when the JSON is not a sketch.
  static QuantileSketch from_json(const nlohmann::json& j, const std::string& where);
  // Equal counts and levels (as multisets).
  bool operator==(const QuantileSketch& other) const;

 private:
  void grow();  // adds a level on top; every capacity shrinks
  void compress(bool after_add);
  std::vector<std::vector<double>> sorted_levels() const;
  uint32_t k_;
  uint64_t count_ = 0;
  std::vector<std::vector<double>> levels_;  // level h: values of weight 2^h
  std::vector<size_t> capacities_;           // of each level, for the current number of levels
};

}  // namespace litepipe
