#include "pipeline/yaml_pipeline.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <set>

#include "core/error.h"
#include "core/files.h"
#include "core/utf8.h"

namespace litepipe {
namespace {

using nlohmann::json;

std::string where(const std::filesystem::path& file, const YAML::Node& node) {
  auto mark = node.Mark();
  if (mark.is_null()) return file.string();
  return fmt::format("{}:{}:{}", file.string(), mark.line + 1, mark.column + 1);
}

// Every key a scalar and every scalar UTF-8 (what the JSON the parameters become can hold), or an
// error at the offending node's line and column.
void check_text(const std::filesystem::path& file, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      if (!is_valid_utf8(node.Scalar())) fail("{}: not UTF-8 text (save the file as UTF-8)", where(file, node));
      break;
    case YAML::NodeType::Sequence:
      for (const auto& item : node) check_text(file, item);
      break;
    case YAML::NodeType::Map:
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) fail("{}: a mapping key must be a plain value, not a list or mapping", where(file, kv.first));
        check_text(file, kv.first);
        check_text(file, kv.second);
      }
      break;
    default:
      break;
  }
}

json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted: always a string
      if (s == "true" || s == "True") return true;
      if (s == "false" || s == "False") return false;
      if (s == "null" || s == "~") return nullptr;
      int64_t i;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
      if (ec == std::errc() && p == s.data() + s.size()) return i;
      double d;
      auto [p2, ec2] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (ec2 == std::errc() && p2 == s.data() + s.size()) return d;
      return s;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& item : node) a.push_back(to_json(item));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : node) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
  }
  return nullptr;
}

void check_keys(const std::filesystem::path& file, const YAML::Node& node, const std::set<std::string>& allowed,
                const std::string& what) {
  if (!node.IsMap()) fail("{}: {} must be a mapping", where(file, node), what);
  for (const auto& kv : node) {
    std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) {
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      fail("{}: unknown field '{}' in {} (expected one of: {})", where(file, kv.first), key, what, known);
    }
  }
}

std::string scalar(const std::filesystem::path& file, const YAML::Node& node, const std::string& field) {
  if (!node.IsScalar()) fail("{}: field '{}' must be a string", where(file, node), field);
  return node.Scalar();
}

}  // namespace

Pipeline load_pipeline_file(const std::filesystem::path& path, const ComponentRegistry& registry) {
  if (!std::filesystem::exists(path)) fail("{}: no such pipeline file", path.string());
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    fail("{}:{}:{}: malformed YAML: {}", path.string(), e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  check_text(path, doc);
  std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  check_keys(path, doc, {"pipeline_name", "pipeline_root", "enable_cache", "metadata_path", "components"}, "the pipeline");
  Pipeline pipeline;
  if (!doc["pipeline_name"]) fail("{}: missing field 'pipeline_name'", path.string());
  pipeline.name = scalar(path, doc["pipeline_name"], "pipeline_name");
  if (doc["pipeline_root"]) pipeline.root = resolve_path(base, scalar(path, doc["pipeline_root"], "pipeline_root"));
  if (doc["metadata_path"]) pipeline.metadata_path = resolve_path(base, scalar(path, doc["metadata_path"], "metadata_path"));
  if (doc["enable_cache"]) {
    json v = to_json(doc["enable_cache"]);
    if (!v.is_boolean()) fail("{}: field 'enable_cache' must be true or false", where(path, doc["enable_cache"]));
    pipeline.enable_cache = v.get<bool>();
  }
  const YAML::Node& list = doc["components"];
  if (!list || !list.IsSequence()) fail("{}: field 'components' must be a list of components", path.string());

  // Create every component first, then wire inputs: references may point forward (and a cycle is
  // then reported by build_pipeline).
  std::map<std::string, std::shared_ptr<Component>> by_id;
  std::vector<std::pair<std::shared_ptr<Component>, YAML::Node>> pending_inputs;
  for (const auto& node : list) {
    check_keys(path, node, {"component", "id", "parameters", "inputs"}, "a component");
    if (!node["component"]) fail("{}: a component needs field 'component' (its type)", where(path, node));
    std::string type = scalar(path, node["component"], "component");
    if (!registry.contains(type)) {
      try {
        registry.get(type);
      } catch (const Error& e) {
        fail("{}: {}", where(path, node["component"]), e.what());
      }
    }
    const auto& registration = registry.get(type);
    json parameters = node["parameters"] ? to_json(node["parameters"]) : json::object();
    resolve_path_parameters(registration.spec, parameters, base);
    std::shared_ptr<Component> component;
    try {
      component = make_component(registration, {}, parameters);
      if (node["id"]) component->with_id(scalar(path, node["id"], "id"));
    } catch (const Error& e) {
      fail("{}: {}", where(path, node), e.what());
    }
    if (by_id.count(component->id())) {
      fail("{}: duplicate component id '{}' (give one of them an 'id')", where(path, node), component->id());
    }
    by_id[component->id()] = component;
    pipeline.components.push_back(component);
    if (node["inputs"]) pending_inputs.emplace_back(component, node["inputs"]);
  }
  for (auto& [component, inputs] : pending_inputs) {
    if (!inputs.IsMap()) fail("{}: field 'inputs' must be a mapping", where(path, inputs));
    for (const auto& kv : inputs) {
      std::string key = kv.first.as<std::string>();
      std::string ref = scalar(path, kv.second, "inputs." + key);
      auto dot = ref.rfind('.');
      if (dot == std::string::npos) {
        fail("{}: input '{}' of {} must be '<component id>.<output key>', got '{}'", where(path, kv.second), key,
             component->id(), ref);
      }
      auto producer = by_id.find(ref.substr(0, dot));
      if (producer == by_id.end()) {
        fail("{}: input '{}' of {} refers to unknown component '{}'", where(path, kv.second), key, component->id(),
             ref.substr(0, dot));
      }
      try {
        component->set_input(key, producer->second->outputs(ref.substr(dot + 1)));
      } catch (const Error& e) {
        fail("{}: {}", where(path, kv.second), e.what());
      }
    }
  }
  return pipeline;
}

}  // namespace litepipe
