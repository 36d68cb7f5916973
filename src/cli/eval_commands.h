#pragma once
// `litepipe metrics`: the Evaluators' headline numbers side by side.
#include <ostream>
#include <string>
#include <vector>

namespace litepipe {

struct MetricsCommand {
  std::vector<std::string> evaluations = {};  // evaluation artifact folders; empty: from the pipeline
  std::string pipeline_file = {};
  std::string pipeline_root = {};
};
// Prints one column per evaluation (the newest of each Evaluator when read from the pipeline's
// metadata): model type, file size, the Overall slice's metrics and the validation result.
int print_metrics(const MetricsCommand& command, std::ostream& out);

}  // namespace litepipe
