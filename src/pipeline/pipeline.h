#pragma once
// A pipeline: components wired by channels, a root folder for artifacts, a metadata store.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/component.h"

namespace litepipe {

struct Pipeline {
  std::string name = {};
  std::filesystem::path root = {};
  std::vector<std::shared_ptr<Component>> components = {};
  bool enable_cache = true;
  std::filesystem::path metadata_path = {}; // empty: <root>/metadata.sqlite

  std::filesystem::path metadata_file() const {
    return metadata_path.empty() ? root / "metadata.sqlite" : metadata_path;
  }
};

// Checks the wiring before anything runs: unique ids, every required input connected, channels of
// the expected artifact type whose producers are in the pipeline, no cycle. Returns the components
// in an order where each comes after everything it consumes (stable: declaration order breaks ties).
std::vector<const Component*> build_pipeline(const Pipeline& pipeline);

}  // namespace litepipe
