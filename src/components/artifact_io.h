#pragma once
// Reading and writing the on-disk layout of split artifacts (`<uri>/Split-<name>/...`).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "pipeline/artifact.h"

namespace litepipe {

fs::path split_dir(const Artifact& artifact, const std::string& split);
// TFRecord shards of one split of an Examples artifact; error if there are none.
std::vector<fs::path> example_files(const Artifact& examples, const std::string& split);
// The TFRecord shards of the splits named by `splits` (a JSON list, parameter 'example_splits' of
// `component`), in that order; error naming a split the artifact lacks.
std::vector<fs::path> example_files_of_splits(const Artifact& examples, const nlohmann::json& splits, const char* component);
// Checks an 'example_splits' parameter: a non-empty list of split names.
void check_split_names(const nlohmann::json& splits);
// Splits of `artifact` minus `exclude` (error naming the parameter if one is unknown).
std::vector<std::string> selected_splits(const Artifact& artifact, const nlohmann::json& exclude, const char* component);
// The single artifact of an input key.
const Artifact& single_input(const ArtifactMap& inputs, const std::string& key);

}  // namespace litepipe
