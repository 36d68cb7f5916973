#pragma once
// Artifacts are the typed files that flow between components (ML Metadata's model): a type name,
// a URI under the pipeline root, free-form properties, and an id once published.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace litepipe {

namespace artifact_types {
inline constexpr const char* kExamples = "Examples";
inline constexpr const char* kExampleStatistics = "ExampleStatistics";
inline constexpr const char* kSchema = "Schema";
inline constexpr const char* kExampleAnomalies = "ExampleAnomalies";
inline constexpr const char* kTransformGraph = "TransformGraph";
inline constexpr const char* kModel = "Model";
inline constexpr const char* kModelRun = "ModelRun";
inline constexpr const char* kModelEvaluation = "ModelEvaluation";
inline constexpr const char* kModelBlessing = "ModelBlessing";
inline constexpr const char* kPushedModel = "PushedModel";
inline constexpr const char* kModelComparison = "ModelComparison";
}  // namespace artifact_types

struct Artifact {
  int64_t id = 0;  // 0 until the metadata store publishes it
  std::string type;
  std::string uri;
  nlohmann::json properties = nlohmann::json::object();

  // Splits of an Examples / ExampleStatistics artifact (property "split_names").
  std::vector<std::string> split_names() const;
  void set_split_names(const std::vector<std::string>& names);
};

// Artifacts by input or output key; TFX allows several per key.
using ArtifactMap = std::map<std::string, std::vector<Artifact>>;

nlohmann::json to_json(const Artifact& artifact);
Artifact artifact_from_json(const nlohmann::json& j);
nlohmann::json to_json(const ArtifactMap& map);
ArtifactMap artifact_map_from_json(const nlohmann::json& j);

}  // namespace litepipe
