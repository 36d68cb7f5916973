#pragma once
// Comparison of two evaluations (eval/evaluate.h folders), e.g. the full model and its TFLite
// rewrite: metric deltas per slice (B - A), per-example agreement from the two predictions files,
// model file sizes and the batch-1 latency of each model measured on this machine. Writes
//
//   comparison.json  {"a", "b", "metric_deltas", "slices_only_in_a", "slices_only_in_b",
//                     "agreement", "size", "latency", "plots"}
//   report.html      the same as a self-contained page (inline CSS and SVG; eval/report.h)
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace litepipe::eval {

inline constexpr const char* kComparisonFile = "comparison.json";
inline constexpr const char* kReportFile = "report.html";
inline constexpr int kDefaultLatencyRuns = 300;
inline constexpr int kDefaultLatencyWarmup = 30;

struct ComparisonRequest {
  std::filesystem::path evaluation_a, evaluation_b;  // folders holding metrics.json, plots.json, predictions
  std::string title_a = {}, title_b = {};            // "" = evaluation_title() of the folder
  // The latency is measured on the first example of these TFRecord files (the eval split); none:
  // an all-zero input.
  std::vector<std::filesystem::path> example_files = {};
  int latency_runs = kDefaultLatencyRuns;  // timed batch-1 runs per model; 0 = latency not measured
  int latency_warmup = kDefaultLatencyWarmup;
  std::optional<std::filesystem::path> output_dir = {};  // where comparison.json and report.html go
};

// Compares B with A; returns comparison.json's content (and writes both files when output_dir is
// set). Two regression evaluations are compared by their predictions instead of top-1 classes. Errors name the file, the field and what was expected; example sets that differ between
// the two predictions files are an error naming both files.
nlohmann::json compare_evaluations(const ComparisonRequest& request);

// metrics.json / plots.json of an evaluation folder, checked: every slice an object with a text
// slice_key, every metric value and per-class value a number or null, every confusion matrix
// square with counts, every calibration bucket with a count and numbers (or null), every scatter
// point a label and a prediction, every residual bucket its bounds and a count. Errors name
// the file, the field (`slices[2].metrics.auc.value`) and what was expected. No plots.json:
// {"slices": []}.
nlohmann::json read_metrics_file(const std::filesystem::path& dir);
nlohmann::json read_plots_file(const std::filesystem::path& dir);

// A title for an evaluation folder: `<component id>/evaluation/<execution>` (an artifact) gives the
// component id, any other folder its name.
std::string evaluation_title(const std::filesystem::path& dir);

}  // namespace litepipe::eval
