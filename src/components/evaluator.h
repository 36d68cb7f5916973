#pragma once
// Evaluator: evaluates a trained model on examples as TFX's Evaluator (TFMA) does -- metrics and
// plots per slice, thresholds checked against the values and against a baseline model -- and
// blesses the model when every threshold holds. Outputs: `evaluation` (ModelEvaluation: the files
// of eval/evaluate.h) and `blessing` (ModelBlessing: an empty file BLESSED or NOT_BLESSED, written
// only when thresholds are configured).
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/registry.h"

namespace litepipe {

struct EvaluatorArgs {
  Channel examples = {};        // raw examples (ExampleGen)
  Channel model = {};
  Channel baseline_model = {};  // optional: for change thresholds
  Channel schema = {};          // optional: the config's features are checked against it
  nlohmann::json eval_config = nlohmann::json::object();  // TFMA's EvalConfig as JSON
  std::vector<std::string> example_splits = {"eval"};
  // Processes (mpirun ranks) that share the example files; the results equal one process's.
  int num_workers = 1;
  // Threads of each process (its prediction workers and their kernels); 0: every core.
  int threads = 0;
};

inline constexpr const char* kBlessedFile = "BLESSED";
inline constexpr const char* kNotBlessedFile = "NOT_BLESSED";

const ComponentRegistration& evaluator_registration();
std::shared_ptr<Component> Evaluator(const EvaluatorArgs& args);

}  // namespace litepipe
