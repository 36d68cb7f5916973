#include "cli/eval_commands.h"

#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
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
std::vector<Column> newest_artifacts(const std::string& pipeline_file, const std::string& pipeline_root, const std::string& metadata_url,
                                     const char* artifact_type, const char* component_type, const char* command) {
  fs::path root = pipeline_root, metadata;
  std::vector<std::string> producers;  // of the pipeline file, in its order; none: every one found
  if (!pipeline_file.empty()) {
    Pipeline p = load_pipeline_file(pipeline_file, builtin_components());
    if (root.empty()) root = p.root;
    metadata = p.metadata_path;
    for (const auto& c : p.components)
      if (c->spec().type_name == component_type) producers.push_back(c->id());
  }
  if (root.empty() && metadata_url.empty()) fail("{}: pass evaluation folders, --metadata URL, --pipeline FILE or --pipeline-root DIR", command);
  if (metadata.empty()) metadata = root / "metadata.sqlite";
  StoreToRead store = open_store_to_read(metadata_url, metadata);
  std::map<std::string, Artifact> newest;
  for (const auto& a : store.store->artifacts(artifact_type)) {
    std::string component = fs::path(a.uri).parent_path().parent_path().filename().string();
    if (!newest.count(component) || newest[component].id < a.id) newest[component] = a;
  }
  if (newest.empty()) fail("{}: no {} artifacts yet (does the pipeline have a {}?)", store.where, artifact_type, component_type);
  if (producers.empty())
    for (const auto& [component, _] : newest) producers.push_back(component);
  std::vector<Column> columns;
  for (const auto& component : producers)
    if (newest.count(component)) columns.push_back({component, newest[component].uri});
  if (columns.empty()) fail("{}: the pipeline's {} components have not run yet", store.where, component_type);
  return columns;
}

// `j[key]`, or null when `j` is not an object or lacks it (a stored file may be malformed).
const json& member(const json& j, const char* key) {
  static const json null = nullptr;
  if (!j.is_object()) return null;
  auto it = j.find(key);
  return it == j.end() ? null : *it;
}

// A number as text with `spec` ("{:.4f}"), or "-" when it is not a number (null: undefined).
std::string number_text(const json& v, fmt::format_string<double> spec) {
  return v.is_number() ? fmt::format(spec, v.get<double>()) : std::string("-");
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
    columns = newest_artifacts(command.pipeline_file, command.pipeline_root, command.metadata, artifact_types::kModelEvaluation, "Evaluator", "metrics");
  }

  std::vector<std::string> row_names = {"model_type", "model file bytes"};
  std::map<std::string, std::vector<std::string>> rows;
  std::set<std::string> metric_names;
  std::vector<json> overall(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    json metrics = eval::read_metrics_file(columns[c].dir);
    json validations = read_json_file(columns[c].dir / eval::kValidationsFile);
    overall[c] = json::object();
    for (const auto& slice : metrics["slices"])
      if (slice["slice_key"] == eval::kOverallSliceKey) overall[c] = slice["metrics"];
    for (const auto& [name, _] : overall[c].items()) metric_names.insert(name);
    rows["model_type"].push_back(cell(member(member(metrics, "model"), "model_type")));
    rows["model file bytes"].push_back(cell(member(member(metrics, "model"), "file_size_bytes")));
    bool thresholds = member(validations, "thresholds_configured") == true, ok = member(validations, "validation_ok") == true;
    rows["validation"].push_back(!thresholds ? "no thresholds" : ok ? "BLESSED" : "NOT_BLESSED");
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
  const json& d = member(delta, "delta");
  return fmt::format("{} -> {}{}", number_text(member(delta, "a"), "{:.4f}"), number_text(member(delta, "b"), "{:.4f}"),
                     d.is_number() ? fmt::format(" ({:+.4f})", d.get<double>()) : "");
}

// Prints a comparison.json; every field may be missing or null (a ratio with a zero
// denominator is stored as null) and is then printed as "-".
void print_comparison(const json& c, const std::string& report, std::ostream& out) {
  const json &a = member(c, "a"), &b = member(c, "b"), &ag = member(c, "agreement"), &size = member(c, "size");
  out << fmt::format("{} ({}) vs {} ({}), {} examples\n", cell(member(a, "title")), cell(member(member(a, "model"), "model_type")),
                     cell(member(b, "title")), cell(member(member(b, "model"), "model_type")), cell(member(ag, "example_count")));
  const json& deltas = member(c, "metric_deltas");
  for (const auto& slice : deltas.is_array() ? deltas : json::array()) {
    if (member(slice, "slice_key") != eval::kOverallSliceKey) continue;
    for (const char* name : {"sparse_categorical_accuracy", "sparse_categorical_crossentropy", "binary_accuracy", "auc", "expected_calibration_error",
                             "mean_squared_error", "mean_absolute_error", "r2_score"}) {
      const json& delta = member(member(slice, "metrics"), name);
      if (!delta.is_null()) out << fmt::format("  {:<34} {}\n", name, change_text(delta));
    }
  }
  if (member(ag, "problem_type") == eval::problem_type_name(eval::ProblemType::Regression)) {
    // Regression models: no top-1 to agree on; how far the predictions move instead.
    out << fmt::format("  {:<34} max {} (example_index {}), mean {}; MAE {} -> {}\n", "|prediction delta|",
                       number_text(member(ag, "max_abs_prediction_delta"), "{:.6g}"), cell(member(member(ag, "max_abs_prediction_delta_at"), "example_index")),
                       number_text(member(ag, "mean_abs_prediction_delta"), "{:.3g}"), number_text(member(ag, "mae_a"), "{:.6g}"),
                       number_text(member(ag, "mae_b"), "{:.6g}"));
  } else {
    out << fmt::format("  {:<34} {} (top-1 flips {}; max |dp| {}, mean |dp| {})\n", "agreement", cell(member(ag, "agreement_rate")),
                       cell(member(ag, "top1_flips")), number_text(member(ag, "max_abs_probability_delta"), "{:.6f}"),
                       number_text(member(ag, "mean_abs_probability_delta"), "{:.2e}"));
  }
  out << fmt::format("  {:<34} {} -> {} B ({}x)\n", "model file size", cell(member(size, "a_bytes")), cell(member(size, "b_bytes")),
                     number_text(member(size, "ratio_b_to_a"), "{:.3f}"));
  const json& l = member(c, "latency");
  if (l.is_object()) {
    out << fmt::format("  {:<34} {} -> {} us ({}x)\n", "batch-1 latency p50", number_text(member(member(l, "a"), "p50_us"), "{:.1f}"),
                       number_text(member(member(l, "b"), "p50_us"), "{:.1f}"), number_text(member(l, "ratio_b_to_a_p50"), "{:.3f}"));
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
    auto comparisons = newest_artifacts(command.pipeline_file, command.pipeline_root, command.metadata, artifact_types::kModelComparison, "ModelComparator", "compare");
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
