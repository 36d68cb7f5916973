// Pipeline files: load_pipeline_file (yaml-cpp, the YAML -> JSON parameter conversion, path
// resolution, every builtin component's parameter checks, input wiring) with
// builtin_components(), then build_pipeline (ids, required inputs, channel types, cycles) and the
// JSON text the runner makes of each component's exec_properties for its cache key. Nothing is run
// (no executor, no file fingerprint, no module is loaded).
#include <cstdint>
#include <string>

#include "components/builtin.h"
#include "core/error.h"
#include "fuzz_util.h"
#include "pipeline/pipeline.h"
#include "pipeline/yaml_pipeline.h"

using namespace litepipe;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  (void)builtin_components();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = fuzz::write_scratch_file("pipeline.yaml", fuzz::as_view(data, size));
  try {
    Pipeline pipeline = load_pipeline_file(path, builtin_components());
    auto order = build_pipeline(pipeline);
    for (const Component* c : order) {
      // runner.cpp's cache_key(): {"type", "id", "exec_properties", ...}.dump()
      nlohmann::json key = {{"type", c->spec().type_name}, {"id", c->id()}, {"exec_properties", c->exec_properties()}};
      (void)key.dump();
    }
  } catch (const Error&) {
  }
  return 0;
}
