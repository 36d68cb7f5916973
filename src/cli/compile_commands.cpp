#include "cli/compile_commands.h"

#include <spdlog/spdlog.h>

#include "compile/compile.h"
#include "components/builtin.h"
#include "core/error.h"
#include "core/files.h"
#include "pipeline/metadata_store.h"
#include "pipeline/yaml_pipeline.h"

namespace litepipe {

int compile_pipeline(const CompileCommand& command, std::ostream& out) {
  Pipeline pipeline = load_pipeline_file(command.pipeline_file, builtin_components());
  if (command.image.empty()) fail("compile: --image must name the container image that holds litepipe");
  if (!command.metadata.empty()) parse_metadata_url(command.metadata);  // a bad URL fails here, not in every pod
  CompileOptions options{command.image, command.pipeline_in_image.empty() ? command.pipeline_file : command.pipeline_in_image,
                         command.pipeline_root, command.metadata};
  nlohmann::ordered_json document;
  try {
    document = command.target == "argo" ? compile_argo(pipeline, options) : compile_kfp(pipeline, options);
  } catch (const Error& e) {
    fail("{}: {}", command.pipeline_file, e.what());
  }
  bool as_json = command.output.ends_with(".json");
  std::string text = as_json ? document.dump(2) + "\n" : to_yaml(document);
  if (command.output.empty()) {
    out << text;
  } else {
    write_file_atomic(command.output, text);
    spdlog::info("{}: {} for {} ({} components)", command.output, command.target == "argo" ? "Argo Workflow" : "Kubeflow Pipelines spec",
                 pipeline.name, pipeline.components.size());
  }
  return 0;
}

}  // namespace litepipe
