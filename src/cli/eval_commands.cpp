#include "cli/eval_commands.h"

#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "components/builtin.h"
#include "core/error.h"
#include "core/files.h"
#include "eval/compare.h"
#include "eval/evaluate.h"
#include "pipeline/metadata_store.h"
#include "pipeline/yaml_pipeline.h"

namespace litepipe {
namespace {

using nlohmann::json;

struct Column {
  std::string title;
  fs::path dir;
};

// The newest artifact of `artifact_type` from each component of `component_type`: artifacts live at
// <root>/<component id>/<output key>/<execution>.
std::vector<Column> newest_artifacts(const std::string& pipeline_file, const std::string& pipeline_root, const char* artifact_type,
                                     const char* component_type, const char* command) {
  fs::path root = pipeline_root, metadata;
  std::vector<std::string> producers;  // of the pipeline file, in its order; none: every one found
  if (!pipeline_file.empty()) {
    Pipeline p = load_pipeline_file(pipeline_file, builtin_components());
    if (root.empty()) root = p.root;
    metadata = p.metadata_path;
    for (const auto& c : p.components)
      if (c->spec().type_name == component_type) producers.push_back(c->id());
  }
  if (root.empty()) fail("{}: pass evaluation folders, --pipeline FILE or --pipeline-root DIR", command);
  if (metadata.empty()) metadata = root / "metadata.sqlite";
  if (!fs::exists(metadata)) fail("{}: no metadata store (has the pipeline run?)", metadata.string());
  std::map<std::string, Artifact> newest;
  for (const auto& a : open_sqlite_metadata_store(metadata)->artifacts(artifact_type)) {
    std::string component = fs::path(a.uri).parent_path().parent_path().filename().string();
    if (!newest.count(component) || newest[component].id < a.id) newest[component] = a;
  }
  if (newest.empty()) fail("{}: no {} artifacts yet (does the pipeline have a {}?)", metadata.string(), artifact_type, component_type);
  if (producers.empty())
    for (const auto& [component, _] : newest) producers.push_back(component);
  std::vector<Column> columns;
  for (const auto& component : producers)
    if (newest.count(component)) columns.push_back({component, newest[component].uri});
  if (columns.empty()) fail("{}: the pipeline's {} components have not run yet", metadata.string(), component_type);
  return columns;
}

std::string cell(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_number_integer() || v.is_number_unsigned()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    double d = v.get<double>();
    return d == static_cast<double>(static_cast<int64_t>(d)) && std::abs(d) < 1e15 ? std::to_string(static_cast<int64_t>(d)) : fmt::format("{:.4f}", d);
  }
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

int print_metrics(const MetricsCommand& command, std::ostream& out) {
  std::vector<Column> columns;
  for (const auto& dir : command.evaluations) columns.push_back({eval::evaluation_title(dir), dir});
  if (columns.empty()) {
    columns = newest_artifacts(command.pipeline_file, command.pipeline_root, artifact_types::kModelEvaluation, "Evaluator", "metrics");
  }

  std::vector<std::string> row_names = {"model_type", "model file bytes"};
  std::map<std::string, std::vector<std::string>> rows;
  std::set<std::string> metric_names;
  std::vector<json> overall(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    json metrics = read_json_file(columns[c].dir / eval::kMetricsFile);
    json validations = read_json_file(columns[c].dir / eval::kValidationsFile);
    for (const auto& slice : metrics.at("slices"))
      if (slice.at("slice_key") == eval::kOverallSliceKey) overall[c] = slice.at("metrics");
    for (const auto& [name, _] : overall[c].items()) metric_names.insert(name);
    rows["model_type"].push_back(cell(metrics.at("model").at("model_type")));
    rows["model file bytes"].push_back(cell(metrics.at("model").at("file_size_bytes")));
    rows["validation"].push_back(!validations.value("thresholds_configured", false) ? "no thresholds"
                                 : validations.value("validation_ok", false)        ? "BLESSED"
                                                                                    : "NOT_BLESSED");
  }
  for (const auto& name : metric_names) {
    row_names.push_back(name);
    for (const auto& o : overall) rows[name].push_back(o.contains(name) ? cell(o[name].value("value", json(nullptr))) : "-");
  }
  row_names.push_back("validation");

  size_t first = std::string("metric (Overall)").size(), width = 12;
  for (const auto& r : row_names) first = std::max(first, r.size());
  for (const auto& c : columns) width = std::max(width, c.title.size());
  for (const auto& [_, values] : rows)
    for (const auto& v : values) width = std::max(width, v.size());
  out << fmt::format("{:<{}}", "metric (Overall)", first);
  for (const auto& c : columns) out << fmt::format("  {:>{}}", c.title, width);
  out << "\n";
  for (const auto& r : row_names) {
    out << fmt::format("{:<{}}", r, first);
    for (const auto& v : rows[r]) out << fmt::format("  {:>{}}", v, width);
    out << "\n";
  }
  return 0;
}

namespace {

// "0.9640 -> 0.9652 (+0.0012)" for one Overall metric of a comparison.
std::string change_text(const json& delta) {
  auto value = [](const json& v) { return v.is_number() ? fmt::format("{:.4f}", v.get<double>()) : std::string("-"); };
  std::string d = delta["delta"].is_number() ? fmt::format(" ({:+.4f})", delta["delta"].get<double>()) : "";
  return fmt::format("{} -> {}{}", value(delta["a"]), value(delta["b"]), d);
}

void print_comparison(const json& c, const std::string& report, std::ostream& out) {
  out << fmt::format("{} ({}) vs {} ({}), {} examples\n", c["a"]["title"].get<std::string>(), c["a"]["model"].value("model_type", ""),
                     c["b"]["title"].get<std::string>(), c["b"]["model"].value("model_type", ""), cell(c["agreement"]["example_count"]));
  for (const auto& slice : c["metric_deltas"]) {
    if (slice["slice_key"] != eval::kOverallSliceKey) continue;
    for (const char* name : {"sparse_categorical_accuracy", "sparse_categorical_crossentropy", "auc", "expected_calibration_error"})
      if (slice["metrics"].contains(name)) out << fmt::format("  {:<34} {}\n", name, change_text(slice["metrics"][name]));
  }
  const json& ag = c["agreement"];
  out << fmt::format("  {:<34} {} (top-1 flips {}; max |dp| {:.6f}, mean |dp| {:.2e})\n", "agreement", cell(ag["agreement_rate"]),
                     cell(ag["top1_flips"]), ag["max_abs_probability_delta"].get<double>(), ag["mean_abs_probability_delta"].get<double>());
  out << fmt::format("  {:<34} {} -> {} B ({:.3f}x)\n", "model file size", cell(c["size"]["a_bytes"]), cell(c["size"]["b_bytes"]),
                     c["size"].value("ratio_b_to_a", 0.0));
  if (c["latency"].is_object()) {
    const json& l = c["latency"];
    out << fmt::format("  {:<34} {:.1f} -> {:.1f} us ({:.3f}x)\n", "batch-1 latency p50", l["a"]["p50_us"].get<double>(), l["b"]["p50_us"].get<double>(),
                       l.value("ratio_b_to_a_p50", 0.0));
  }
  if (!report.empty()) out << "report: " << report << "\n";
}

std::vector<fs::path> tfrecord_files(const std::vector<std::string>& paths) {
  std::vector<fs::path> files;
  for (const auto& p : paths) {
    if (!fs::exists(p)) fail("compare: --examples {}: no such file or folder", p);
    auto found = list_files(p);
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

}  // namespace

int compare_command(const CompareCommand& command, std::ostream& out) {
  if (command.evaluations.empty()) {
    // The newest result of each ModelComparator of the pipeline.
    auto comparisons = newest_artifacts(command.pipeline_file, command.pipeline_root, artifact_types::kModelComparison, "ModelComparator", "compare");
    for (const auto& c : comparisons) {
      fs::path report = c.dir / eval::kReportFile;
      out << c.title << ": ";
      print_comparison(read_json_file(c.dir / eval::kComparisonFile), fs::absolute(report).lexically_normal().string(), out);
    }
    return 0;
  }
  if (command.evaluations.size() != 2) fail("compare: expected two evaluation folders (EVAL_A EVAL_B), got {}", command.evaluations.size());
  eval::ComparisonRequest request;
  request.evaluation_a = command.evaluations[0];
  request.evaluation_b = command.evaluations[1];
  request.example_files = tfrecord_files(command.examples);
  request.latency_runs = command.runs;
  request.latency_warmup = command.warmup;
  if (!command.output.empty()) request.output_dir = command.output;
  json c = eval::compare_evaluations(request);
  std::string report = command.output.empty() ? "" : fs::absolute(fs::path(command.output) / eval::kReportFile).lexically_normal().string();
  print_comparison(c, report, out);
  return 0;
}

}  // namespace litepipe
