#pragma once
// Transform: learns preprocessing constants over the train split (analyzers) and applies the
// mappers to every split -> transform_graph (readable JSON) + transformed_examples.
//
// preprocessing_fn is either a list of ops in the pipeline file, or the name of a function in
// module_file:  extern "C" void preprocessing_fn(litepipe::transform::PreprocessingFn& fn);
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/registry.h"
#include "transform/transform_graph.h"

namespace litepipe {

using PreprocessingFnEntry = void(transform::PreprocessingFn&);

struct TransformArgs {
  Channel examples = {};
  Channel schema = {};                      // optional: features are checked against it
  nlohmann::json preprocessing_fn = nullptr;  // list of ops, or a function name in module_file
  std::string module_file = {};
};

const ComponentRegistration& transform_registration();
std::shared_ptr<Component> Transform(const TransformArgs& args);

}  // namespace litepipe
