#include "data/quantile_sketch.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace litepipe {

QuantileSketch::QuantileSketch(uint32_t k) : k_(std::max<uint32_t>(k, 8)) {}

// KLL's capacities: the top level holds k values, each one below 2/3 of the one above (at least 8).
void QuantileSketch::grow() {
  levels_.emplace_back();
  capacities_.resize(levels_.size());
  for (size_t h = 0; h < levels_.size(); ++h) {
    double depth = static_cast<double>(levels_.size() - 1 - h);
    capacities_[h] = std::max<size_t>(8, static_cast<size_t>(static_cast<double>(k_) * std::pow(2.0 / 3.0, depth)));
  }
}

// Compacts each full level, lowest first, until every level is under its capacity. Which half
// of a level moves up alternates with the count and level: a function of the state only.
// `after_add`: only level 0 can be full (every other level was under its capacity), so the scan
// stops at the first level that is not; the state reached is the same as a full scan's.
void QuantileSketch::compress(bool after_add) {
  size_t h = 0;
  while (h < levels_.size()) {
    if (levels_[h].size() < capacities_[h]) {
      if (after_add) break;
      ++h;
      continue;
    }
    bool added = h + 1 == levels_.size();
    if (added) grow();
    std::vector<double>& level = levels_[h];
    std::sort(level.begin(), level.end());
    // An odd value out (the largest) stays; the others pair up and one of each pair moves.
    size_t paired = level.size() & ~size_t{1};
    size_t offset = ((count_ >> h) + h) & 1;
    for (size_t i = offset; i < paired; i += 2) levels_[h + 1].push_back(level[i]);
    level.erase(level.begin(), level.begin() + static_cast<std::ptrdiff_t>(paired));
    if (added) {  // a new level lowered every capacity: scan them all again
      after_add = false;
      h = 0;
    } else {
      ++h;
    }
  }
}

void QuantileSketch::merge(const QuantileSketch& other) {
  if (other.count_ == 0) return;
  while (levels_.size() < other.levels_.size()) grow();
  for (size_t h = 0; h < other.levels_.size(); ++h) levels_[h].insert(levels_[h].end(), other.levels_[h].begin(), other.levels_[h].end());
  count_ += other.count_;
  compress(false);
}

double QuantileSketch::quantile(double q) const {
  if (count_ == 0) fail("QuantileSketch: no values");
  std::vector<std::pair<double, uint64_t>> weighted;
  uint64_t total = 0;
  for (size_t h = 0; h < levels_.size(); ++h) {
    for (double v : levels_[h]) weighted.emplace_back(v, uint64_t{1} << h);
    total += levels_[h].size() << h;
  }
  std::sort(weighted.begin(), weighted.end());
  double target = std::max(1.0, std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(total)));
  uint64_t seen = 0;
  for (const auto& [v, w] : weighted) {
    seen += w;
    if (static_cast<double>(seen) >= target) return v;
  }
  return weighted.back().first;
}

size_t QuantileSketch::retained() const {
  size_t n = 0;
  for (const auto& level : levels_) n += level.size();
  return n;
}

// Levels sorted: a sketch is its multisets, whatever order they were filled in.
std::vector<std::vector<double>> QuantileSketch::sorted_levels() const {
  auto levels = levels_;
  for (auto& level : levels) std::sort(level.begin(), level.end());
  return levels;
}

bool QuantileSketch::operator==(const QuantileSketch& other) const {
  return k_ == other.k_ && count_ == other.count_ && sorted_levels() == other.sorted_levels();
}

nlohmann::json QuantileSketch::to_json() const { return {{"k", k_}, {"count", count_}, {"levels", sorted_levels()}}; }

QuantileSketch QuantileSketch::from_json(const nlohmann::json& j, const std::string& where) {
  try {
    QuantileSketch s(j.at("k").get<uint32_t>());
    s.count_ = j.at("count").get<uint64_t>();
    auto levels = j.at("levels").get<std::vector<std::vector<double>>>();
    while (s.levels_.size() < levels.size()) s.grow();
    s.levels_ = std::move(levels);
    return s;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a quantile sketch ({{k, count, levels}}): {}", where, e.what());
  }
}

}  // namespace litepipe
