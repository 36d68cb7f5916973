#pragma once
// Resolver, as TFX's tfx.dsl.Resolver: picks an existing artifact from the metadata store rather
// than computing one, so that an Evaluator can compare a new model with the last one that passed.
//
//   - component: Resolver
//     id: latest_blessed_model
//     parameters:
//       strategy: latest_blessed_model      # LatestBlessedModelStrategy | latest_artifact (LatestArtifactStrategy)
//       model_blessing: Evaluator.penguin   # whose blessings count (latest_blessed_model)
//       model: Trainer.penguin              # whose models count (required for latest_artifact)
//   Evaluator inputs: {baseline_model: Resolver.latest_blessed_model.model}
//
// The components are named, not wired as inputs: the Resolver looks at earlier runs' artifacts,
// so it must run before this run's Evaluator. On a first run it resolves nothing, the Evaluator
// has no baseline, and change thresholds are skipped (as in TFX).
#include <memory>
#include <string>

#include "pipeline/registry.h"

namespace litepipe {

struct ResolverArgs {
  std::string strategy = "latest_blessed_model";
  std::string model_blessing = {};  // component id of an Evaluator
  std::string model = {};           // component id of a Trainer
};

const ComponentRegistration& resolver_registration();
std::shared_ptr<Component> Resolver(const ResolverArgs& args);

}  // namespace litepipe
