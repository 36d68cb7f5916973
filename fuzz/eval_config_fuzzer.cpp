// EvalConfig JSON (TFMA's tfma.EvalConfig as JSON): read_json_file (nlohmann::json's parser, as
// litepipe reads every JSON file) then eval::parse_eval_config with all its field checks, then what the
// Evaluator derives from a config: to_json (written as eval_config.json), the metric list for
// each problem type, problem_type_for over output widths, thresholds and binary-metric queries.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "eval/eval_config.h"
#include "fuzz_util.h"

using namespace litepipe;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // As ModelComparator reads an evaluation's eval_config.json (src/eval/compare.cpp).
  auto path = fuzz::write_scratch_file("eval_config.json", fuzz::as_view(data, size));
  try {
    nlohmann::json j = read_json_file(path);
    eval::EvalConfig config = eval::parse_eval_config(j, path.string());
    (void)eval::to_json(config).dump();
    try {
      (void)config.candidate_spec();
    } catch (const Error&) {
    }
    (void)config.baseline_spec();
    (void)config.has_thresholds();
    (void)config.has_binary_metrics();
    for (auto type : {eval::ProblemType::MultiClass, eval::ProblemType::Binary, eval::ProblemType::Regression}) {
      for (const auto& metric : config.all_metrics(type)) {
        (void)metric.name();
        (void)metric.is_plot();
        (void)metric.kind();
        (void)metric.thresholds();
      }
    }
    for (int64_t width : {1, 2, 3, 10}) {
      try {
        (void)config.problem_type_for(width, "fuzz.onnx: output 'y'");
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
