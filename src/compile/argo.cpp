// Argo Workflows: https://argo-workflows.readthedocs.io/en/latest/fields/ (Workflow, DAGTemplate).
#include <algorithm>
#include <map>

#include "compile/compile.h"

namespace litepipe {

nlohmann::ordered_json compile_argo(const Pipeline& pipeline, const CompileOptions& options) {
  auto order = build_pipeline(pipeline);
  auto names = task_names(order);
  std::map<const Component*, std::string> name_of;
  for (size_t i = 0; i < order.size(); ++i) name_of[order[i]] = names[i];

  nlohmann::ordered_json tasks = nlohmann::ordered_json::array();
  nlohmann::ordered_json templates = nlohmann::ordered_json::array();
  for (size_t i = 0; i < order.size(); ++i) {
    const Component* c = order[i];
    nlohmann::ordered_json dependencies = nlohmann::ordered_json::array();
    for (const auto& [key, ch] : c->inputs()) {
      if (ch.producer == nullptr) continue;
      const std::string& upstream = name_of.at(ch.producer);
      if (std::find(dependencies.begin(), dependencies.end(), upstream) == dependencies.end()) dependencies.push_back(upstream);
    }
    nlohmann::ordered_json task = {{"name", names[i]}, {"template", names[i]}};
    if (!dependencies.empty()) task["dependencies"] = dependencies;
    tasks.push_back(task);
    templates.push_back({{"name", names[i]},
                         {"metadata", {{"annotations", {{"litepipe/component", c->id()}}}}},
                         {"container",
                          {{"name", "main"},  // Argo's name for a template's main container
                           {"image", options.image},
                           {"command", {"litepipe"}},
                           {"args", job_args(options, c->id(), "{{workflow.name}}")}}}});
  }
  templates.insert(templates.begin(), nlohmann::ordered_json{{"name", kDagName}, {"dag", {{"tasks", tasks}}}});
  return {{"apiVersion", "argoproj.io/v1alpha1"},
          {"kind", "Workflow"},
          {"metadata", {{"generateName", engine_name(pipeline.name) + "-"}, {"annotations", {{"litepipe/pipeline", pipeline.name}}}}},
          {"spec", {{"entrypoint", kDagName}, {"templates", templates}}}};
}

}  // namespace litepipe
