#include "pipeline/artifact.h"

namespace litepipe {

std::vector<std::string> Artifact::split_names() const {
  if (!properties.contains("split_names")) return {};
  return properties.at("split_names").get<std::vector<std::string>>();
}

void Artifact::set_split_names(const std::vector<std::string>& names) { properties["split_names"] = names; }

nlohmann::json to_json(const Artifact& a) {
  return {{"id", a.id}, {"type", a.type}, {"uri", a.uri}, {"properties", a.properties}};
}

Artifact artifact_from_json(const nlohmann::json& j) {
  Artifact a;
  a.id = j.value("id", int64_t{0});
  a.type = j.at("type").get<std::string>();
  a.uri = j.at("uri").get<std::string>();
  a.properties = j.value("properties", nlohmann::json::object());
  return a;
}

nlohmann::json to_json(const ArtifactMap& map) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, list] : map) {
    j[key] = nlohmann::json::array();
    for (const auto& a : list) j[key].push_back(to_json(a));
  }
  return j;
}

ArtifactMap artifact_map_from_json(const nlohmann::json& j) {
  ArtifactMap map;
  for (const auto& [key, list] : j.items()) {
    for (const auto& a : list) map[key].push_back(artifact_from_json(a));
  }
  return map;
}

}  // namespace litepipe
