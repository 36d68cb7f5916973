#include "cli/eval_commands.h"

#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "components/builtin.h"
#include "core/error.h"
#include "core/files.h"
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

// The newest evaluation of each Evaluator: artifacts live at <root>/<component id>/evaluation/<execution>.
std::vector<Column> newest_evaluations(const MetricsCommand& command) {
  fs::path root = command.pipeline_root, metadata;
  std::vector<std::string> evaluators;  // of the pipeline file, in its order; none: every one found
  if (!command.pipeline_file.empty()) {
    Pipeline p = load_pipeline_file(command.pipeline_file, builtin_components());
    if (root.empty()) root = p.root;
    metadata = p.metadata_path;
    for (const auto& c : p.components)
      if (c->spec().type_name == "Evaluator") evaluators.push_back(c->id());
  }
  if (root.empty()) fail("metrics: pass evaluation folders, --pipeline FILE or --pipeline-root DIR");
  if (metadata.empty()) metadata = root / "metadata.sqlite";
  if (!fs::exists(metadata)) fail("{}: no metadata store (has the pipeline run?)", metadata.string());
  std::map<std::string, Artifact> newest;
  for (const auto& a : open_sqlite_metadata_store(metadata)->artifacts(artifact_types::kModelEvaluation)) {
    std::string component = fs::path(a.uri).parent_path().parent_path().filename().string();
    if (!newest.count(component) || newest[component].id < a.id) newest[component] = a;
  }
  if (newest.empty()) fail("{}: no evaluations yet (does the pipeline have an Evaluator?)", metadata.string());
  if (evaluators.empty())
    for (const auto& [component, _] : newest) evaluators.push_back(component);
  std::vector<Column> columns;
  for (const auto& component : evaluators)
    if (newest.count(component)) columns.push_back({component, newest[component].uri});
  if (columns.empty()) fail("{}: the pipeline's Evaluators have not run yet", metadata.string());
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
  for (const auto& dir : command.evaluations) {
    // An artifact folder <component id>/evaluation/<execution> is titled by its component.
    fs::path path = fs::path(dir).lexically_normal();
    if (path.filename().empty()) path = path.parent_path();
    bool artifact = path.parent_path().filename() == "evaluation";
    columns.push_back({artifact ? path.parent_path().parent_path().filename().string() : path.filename().string(), path});
  }
  if (columns.empty()) columns = newest_evaluations(command);

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

}  // namespace litepipe
