#include "components/artifact_io.h"

#include <algorithm>

#include <fmt/ranges.h>

#include "core/error.h"

namespace litepipe {

fs::path split_dir(const Artifact& artifact, const std::string& split) {
  // Split names come from artifact properties (read from the store): checked before they name a folder.
  check_path_name(split, fmt::format("{}: split name", artifact.uri));
  return fs::path(artifact.uri) / ("Split-" + split);
}

std::vector<fs::path> example_files(const Artifact& examples, const std::string& split) {
  auto files = glob_files(split_dir(examples, split), "*");
  if (files.empty()) fail("{}: split '{}' has no data files", split_dir(examples, split).string(), split);
  return files;
}

std::vector<fs::path> example_files_of_splits(const Artifact& examples, const nlohmann::json& splits, const char* component) {
  auto have = examples.split_names();
  std::vector<fs::path> files;
  for (const auto& split : splits) {
    std::string name = split.get<std::string>();
    if (std::find(have.begin(), have.end(), name) == have.end()) {
      fail("{}: parameter 'example_splits' names split '{}', which {} does not have (splits: {})", component, name, examples.uri,
           fmt::join(have, ", "));
    }
    auto split_files = example_files(examples, name);
    files.insert(files.end(), split_files.begin(), split_files.end());
  }
  return files;
}

void check_split_names(const nlohmann::json& splits) {
  if (splits.empty()) fail("example_splits: expected at least one split name");
  for (size_t i = 0; i < splits.size(); ++i) {
    if (!splits[i].is_string() || splits[i].get<std::string>().empty()) fail("example_splits[{}]: expected a split name, got {}", i, splits[i].dump());
  }
}

std::vector<std::string> selected_splits(const Artifact& artifact, const nlohmann::json& exclude, const char* component) {
  auto all = artifact.split_names();
  std::vector<std::string> excluded = exclude.is_array() ? exclude.get<std::vector<std::string>>() : std::vector<std::string>{};
  for (const auto& e : excluded) {
    if (std::find(all.begin(), all.end(), e) == all.end()) {
      fail("{}: parameter 'exclude_splits' names split '{}', which {} does not have", component, e, artifact.uri);
    }
  }
  std::vector<std::string> result;
  for (const auto& s : all)
    if (std::find(excluded.begin(), excluded.end(), s) == excluded.end()) result.push_back(s);
  return result;
}

const Artifact& single_input(const ArtifactMap& inputs, const std::string& key) {
  auto it = inputs.find(key);
  if (it == inputs.end() || it->second.empty()) fail("input '{}' has no artifact", key);
  return it->second.front();
}

}  // namespace litepipe
