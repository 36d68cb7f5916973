#pragma once
// SchemaGen: infers type, presence, shape (infer_feature_shape) and value range / domain of each
// feature from the statistics of the training split -> `schema.json`.
#include <memory>
#include <string>
#include <vector>

#include "pipeline/registry.h"

namespace litepipe {

struct SchemaGenArgs {
  Channel statistics = {};
  bool infer_feature_shape = true;
  bool infer_feature_ranges = false;  // numeric ranges, only on request (as TFDV)
  // Learned from training data only, so that eval data is checked against it, not folded into it.
  std::vector<std::string> exclude_splits = {"eval"};
};

const ComponentRegistration& schema_gen_registration();
std::shared_ptr<Component> SchemaGen(const SchemaGenArgs& args);

}  // namespace litepipe
