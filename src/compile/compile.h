#pragma once
// Compiling a pipeline for a cluster's workflow engine: one job per component, each running
// `litepipe run PIPELINE --component ID --run <the engine's run name>`, with the DAG's edges as
// the engine's dependencies. The jobs share the pipeline root and the metadata store, so these
// must be reachable from every pod (shared storage; a database server rather than SQLite).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/pipeline.h"

namespace litepipe {

struct CompileOptions {
  std::string image;          // the container image holding `litepipe` (see the Dockerfile)
  std::string pipeline_file;  // the pipeline file as the container sees it
  std::string pipeline_root;  // passed to every job as --pipeline-root (empty: the file's own)
  std::string metadata_url;   // passed to every job as --metadata (empty: the pipeline's SQLite file)
};

// An Argo Workflows `Workflow` (argoproj.io/v1alpha1): a DAG template with one task per
// component, each task's template a container running that component as a job.
nlohmann::ordered_json compile_argo(const Pipeline& pipeline, const CompileOptions& options);

// A Kubeflow Pipelines v2 pipeline spec (the IR that KFP's SDK compiles to, schemaVersion 2.1.0):
// root DAG tasks with dependentTasks, one component and one container executor per component.
nlohmann::ordered_json compile_kfp(const Pipeline& pipeline, const CompileOptions& options);

// The DAG's own name (Argo's entrypoint template).
inline constexpr const char* kDagName = "pipeline";

// A name the engines accept (lowercase letters, digits, '-'; a letter first): "Trainer.mnist_lite"
// -> "trainer-mnist-lite".
std::string engine_name(const std::string& id);

// Each component's engine_name, in `order`. Two ids with one name are an error naming both.
std::vector<std::string> task_names(const std::vector<const Component*>& order);

// The container arguments of one component's job; `run_placeholder` is the engine's run name.
std::vector<std::string> job_args(const CompileOptions& options, const std::string& component_id,
                                  const std::string& run_placeholder);

// YAML for a JSON document (yaml-cpp's emitter; strings are quoted, so nothing changes type).
std::string to_yaml(const nlohmann::ordered_json& document);

}  // namespace litepipe
