#pragma once
// `litepipe compile`: a pipeline file as an Argo Workflow or a Kubeflow Pipelines spec.
#include <ostream>
#include <string>

namespace litepipe {

struct CompileCommand {
  std::string pipeline_file;
  std::string target;             // argo | kfp
  std::string image;
  std::string output;             // FILE (.json: JSON, otherwise YAML); empty: standard output
  std::string pipeline_in_image;  // the pipeline file's path in the image (default: as given)
  std::string pipeline_root;
  std::string metadata;
};
int compile_pipeline(const CompileCommand& command, std::ostream& out);

}  // namespace litepipe
