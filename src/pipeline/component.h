#pragma once
// A component is a small declaration (typed inputs, outputs and parameters) plus an executor that
// does the work, as in TFX. Components are wired by channels: `stats->outputs("statistics")`.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/artifact.h"

namespace litepipe {

namespace fs = std::filesystem;

enum class ParamType { String, Int, Float, Bool, Object, List, Any };
const char* param_type_name(ParamType type);

struct ParamSpec {
  ParamType type = ParamType::Any;
  bool required = false;
  nlohmann::json default_value;  // null = no default
  // A path parameter is resolved against the pipeline file's folder; with hash_content its
  // file's content (not only its name) takes part in the cache key (user modules).
  bool is_path = false;
  bool hash_content = false;
  // Values of a path parameter that are names, not paths (e.g. module_file: builtin).
  std::vector<std::string> keywords = {};
  // Paths inside an object parameter (JSON pointers such as "/filesystem/base_directory"),
  // resolved like path parameters.
  std::vector<std::string> nested_paths = {};
  // Checks a value beyond its type (e.g. an EvalConfig) when the component is built; throws an
  // Error naming the field.
  std::function<void(const nlohmann::json&)> check = {};
};

inline ParamSpec optional_param(ParamType type, nlohmann::json default_value = nullptr) {
  ParamSpec p;
  p.type = type;
  p.default_value = std::move(default_value);
  return p;
}
inline ParamSpec required_param(ParamType type) {
  ParamSpec p;
  p.type = type;
  p.required = true;
  return p;
}
inline ParamSpec path_param(bool required, bool hash_content = false) {
  ParamSpec p;
  p.type = ParamType::String;
  p.required = required;
  p.is_path = true;
  p.hash_content = hash_content;
  return p;
}

struct InputSpec {
  InputSpec(std::string artifact_type = "", bool is_optional = false)
      : type(std::move(artifact_type)), optional(is_optional) {}
  std::string type;  // artifact type name
  bool optional;
};

class MetadataStore;

// A resolver node (TFX's Resolver): instead of an executor, the runner calls it to pick existing
// artifacts from the metadata store (e.g. the latest blessed model); it may pick none.
using ResolveFn = std::function<ArtifactMap(MetadataStore& store, const nlohmann::json& exec_properties)>;

struct ComponentSpec {
  std::string type_name;  // e.g. "StatisticsGen"
  std::map<std::string, InputSpec> inputs;
  std::map<std::string, std::string> outputs;  // key -> artifact type
  std::map<std::string, ParamSpec> parameters;
  // Parses all parameters (defaults filled in) into the executor's typed config and throws an
  // Error naming the field: the same function the executor uses, run when the pipeline is built.
  std::function<void(const nlohmann::json& exec_properties)> check_parameters = {};
  ResolveFn resolve = {};
  // Ids of other components the parameters name (checked to be in the pipeline when it is built).
  std::function<std::vector<std::string>(const nlohmann::json& exec_properties)> referenced_components = {};
};

class Component;

// The stream of artifacts one component output produces.
struct Channel {
  std::string type = {};
  const Component* producer = nullptr;
  std::string output_key = {};
};

// What an executor may know about where it runs. Outputs' URIs point into a staging folder that
// the runner publishes only after Do() returns.
struct ExecutorContext {
  fs::path pipeline_root;
  std::string component_id;
  int64_t execution_id = 0;
  fs::path tmp_dir;  // scratch space, removed afterwards
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const nlohmann::json& exec_properties,
                  const ExecutorContext& context) = 0;
};

using ExecutorFactory = std::function<std::unique_ptr<Executor>()>;
// Extra cache-key material a component derives from its parameters (e.g. input file fingerprints).
using FingerprintFn = std::function<std::string(const nlohmann::json& exec_properties)>;

class Component : public std::enable_shared_from_this<Component> {
 public:
  // Validates parameters against the spec (unknown, missing, wrong type -> Error naming them) and
  // fills defaults. Inputs are checked when the pipeline is built.
  Component(ComponentSpec spec, ExecutorFactory executor, std::map<std::string, Channel> inputs,
            nlohmann::json parameters, FingerprintFn fingerprint = {});

  const std::string& id() const { return id_; }
  const ComponentSpec& spec() const { return spec_; }
  const std::map<std::string, Channel>& inputs() const { return inputs_; }
  const nlohmann::json& exec_properties() const { return exec_properties_; }

  // Instance id: "Trainer" -> "Trainer.mnist_lite", so a pipeline can hold two Trainers.
  std::shared_ptr<Component> with_id(const std::string& instance_name);
  void set_id(const std::string& id);  // a whole id ("Trainer.mnist"), checked as a folder name
  Channel outputs(const std::string& key) const;
  void set_input(const std::string& key, Channel channel);

  std::unique_ptr<Executor> make_executor() const { return executor_(); }
  std::string fingerprint() const { return fingerprint_ ? fingerprint_(exec_properties_) : ""; }

 private:
  ComponentSpec spec_;
  ExecutorFactory executor_;
  FingerprintFn fingerprint_;
  std::string id_;
  std::map<std::string, Channel> inputs_;
  nlohmann::json exec_properties_;
};

// Resolves path parameters against `base` (the pipeline file's folder).
void resolve_path_parameters(const ComponentSpec& spec, nlohmann::json& parameters, const fs::path& base);

}  // namespace litepipe
