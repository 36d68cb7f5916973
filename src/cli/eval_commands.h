#pragma once
// `litepipe metrics`: the Evaluators' headline numbers side by side; `litepipe compare`: two
// evaluations compared (eval/compare.h).
#include <ostream>
#include <string>
#include <vector>

namespace litepipe {

struct MetricsCommand {
  std::vector<std::string> evaluations = {};  // evaluation artifact folders; empty: from the pipeline
  std::string pipeline_file = {};
  std::string pipeline_root = {};
  std::string metadata = {};  // metadata URL (default: the pipeline's SQLite file)
};
// Prints one column per evaluation (the newest of each Evaluator when read from the pipeline's
// metadata): model type, file size, the Overall slice's metrics and the validation result.
int print_metrics(const MetricsCommand& command, std::ostream& out);

struct CompareCommand {
  std::vector<std::string> evaluations = {};  // EVAL_A EVAL_B; empty: the newest ModelComparator output
  std::string output = {};                    // where comparison.json and report.html go ("" = not written)
  std::vector<std::string> examples = {};     // TFRecord files or folders: the latency example
  int runs = 300, warmup = 30;                // batch-1 latency runs per model (0 = none)
  std::string pipeline_file = {};
  std::string pipeline_root = {};
  std::string metadata = {};  // metadata URL (default: the pipeline's SQLite file)
};
// Compares two evaluation folders (or shows the newest ModelComparator result of a pipeline) and
// prints a summary: headline deltas, agreement, sizes, latency and where the report is.
int compare_command(const CompareCommand& command, std::ostream& out);

}  // namespace litepipe
