#pragma once
// ModelComparator: compares two ModelEvaluation artifacts (e.g. the full model's and its TFLite
// rewrite's): metric deltas per slice, per-example agreement, model sizes and batch-1 latency
// measured on this machine (eval/compare.h). Output `comparison` (ModelComparison) holds
// comparison.json and the self-contained report.html. The optional `examples` input gives the
// example the latency is measured on (the first of `example_splits`); without it, zeros.
#include <memory>
#include <string>
#include <vector>

#include "pipeline/registry.h"

namespace litepipe {

struct ModelComparatorArgs {
  Channel evaluation_a = {};  // A, the reference (deltas are B - A)
  Channel evaluation_b = {};
  Channel examples = {};      // optional: raw examples (ExampleGen)
  std::vector<std::string> example_splits = {"eval"};
  int64_t latency_runs = 300;  // timed batch-1 runs per model; 0 = no latency
  int64_t latency_warmup = 30;
};

const ComponentRegistration& model_comparator_registration();
std::shared_ptr<Component> ModelComparator(const ModelComparatorArgs& args);

}  // namespace litepipe
