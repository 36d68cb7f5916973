// Kubeflow Pipelines v2: the pipeline spec (ml_pipelines.PipelineSpec in kubeflow/pipelines'
// api/v2alpha1/pipeline_spec.proto), in the JSON form of that message that KFP's SDK writes.
#include <algorithm>
#include <map>

#include "compile/compile.h"

#ifndef LITEPIPE_VERSION
#define LITEPIPE_VERSION "unknown"
#endif

namespace litepipe {

nlohmann::ordered_json compile_kfp(const Pipeline& pipeline, const CompileOptions& options) {
  auto order = build_pipeline(pipeline);
  auto names = task_names(order);
  std::map<const Component*, std::string> name_of;
  for (size_t i = 0; i < order.size(); ++i) name_of[order[i]] = names[i];

  nlohmann::ordered_json tasks = nlohmann::ordered_json::object(), components = nlohmann::ordered_json::object(),
                 executors = nlohmann::ordered_json::object();
  for (size_t i = 0; i < order.size(); ++i) {
    const Component* c = order[i];
    const std::string& name = names[i];
    nlohmann::ordered_json dependent = nlohmann::ordered_json::array();
    for (const auto& [key, ch] : c->inputs()) {
      if (ch.producer == nullptr) continue;
      const std::string& upstream = name_of.at(ch.producer);
      if (std::find(dependent.begin(), dependent.end(), upstream) == dependent.end()) dependent.push_back(upstream);
    }
    // KFP's own cache is off: litepipe's cache (keyed on inputs and parameters) decides.
    nlohmann::ordered_json task = {{"taskInfo", {{"name", name}}},
                           {"componentRef", {{"name", "comp-" + name}}},
                           {"cachingOptions", {{"enableCache", false}}}};
    if (!dependent.empty()) task["dependentTasks"] = dependent;
    tasks[name] = task;
    components["comp-" + name] = {{"executorLabel", "exec-" + name}};
    executors["exec-" + name] = {{"container",
                                  {{"image", options.image},
                                   {"command", {"litepipe"}},
                                   {"args", job_args(options, c->id(), "{{$.pipeline_job_name}}")}}}};
  }
  return {{"pipelineInfo", {{"name", engine_name(pipeline.name)}, {"description", "litepipe pipeline " + pipeline.name}}},
          {"root", {{"dag", {{"tasks", tasks}}}}},
          {"components", components},
          {"deploymentSpec", {{"executors", executors}}},
          {"schemaVersion", "2.1.0"},
          {"sdkVersion", std::string("litepipe-") + LITEPIPE_VERSION}};
}

}  // namespace litepipe
