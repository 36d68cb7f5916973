#pragma once
// StatisticsGen: per split and feature, counts, missing, min/max/mean/std, zeros, histograms and
// value distributions -> `Split-<name>/FeatureStats.json`.
#include <memory>
#include <string>
#include <vector>

#include "pipeline/registry.h"

namespace litepipe {

struct StatisticsGenArgs {
  Channel examples = {};
  std::vector<std::string> exclude_splits = {};
  // Processes (mpirun ranks) that share the input files; the result equals one process's.
  int num_workers = 1;
};

const ComponentRegistration& statistics_gen_registration();
std::shared_ptr<Component> StatisticsGen(const StatisticsGenArgs& args);

}  // namespace litepipe
