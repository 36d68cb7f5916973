#include "pipeline/component.h"

#include <algorithm>

#include "core/error.h"
#include "core/files.h"

namespace litepipe {

const char* param_type_name(ParamType type) {
  switch (type) {
    case ParamType::String: return "a string";
    case ParamType::Int: return "an integer";
    case ParamType::Float: return "a number";
    case ParamType::Bool: return "true or false";
    case ParamType::Object: return "a mapping";
    case ParamType::List: return "a list";
    case ParamType::Any: return "any value";
  }
  return "?";
}

static bool matches(ParamType type, const nlohmann::json& v) {
  switch (type) {
    case ParamType::String: return v.is_string();
    case ParamType::Int: return v.is_number_integer();
    case ParamType::Float: return v.is_number();
    case ParamType::Bool: return v.is_boolean();
    case ParamType::Object: return v.is_object();
    case ParamType::List: return v.is_array();
    case ParamType::Any: return true;
  }
  return false;
}

Component::Component(ComponentSpec spec, ExecutorFactory executor, std::map<std::string, Channel> inputs,
                     nlohmann::json parameters, FingerprintFn fingerprint)
    : spec_(std::move(spec)), executor_(std::move(executor)), fingerprint_(std::move(fingerprint)),
      id_(spec_.type_name), inputs_(std::move(inputs)), exec_properties_(nlohmann::json::object()) {
  if (parameters.is_null()) parameters = nlohmann::json::object();
  if (!parameters.is_object()) fail("{}: parameters must be a mapping, got {}", id_, parameters.dump());
  for (const auto& [name, value] : parameters.items()) {
    auto it = spec_.parameters.find(name);
    if (it == spec_.parameters.end()) {
      std::string known;
      for (const auto& [k, _] : spec_.parameters) known += (known.empty() ? "" : ", ") + k;
      fail("{}: unknown parameter '{}' (expected one of: {})", id_, name, known);
    }
    if (!value.is_null() && !matches(it->second.type, value)) {
      fail("{}: parameter '{}' must be {}, got {}", id_, name, param_type_name(it->second.type), value.dump());
    }
    if (!value.is_null() && it->second.check) {
      try {
        it->second.check(value);
      } catch (const Error& e) {
        fail("{}: parameter '{}': {}", id_, name, e.what());
      }
    }
    if (!value.is_null()) exec_properties_[name] = value;
  }
  for (const auto& [name, p] : spec_.parameters) {
    if (exec_properties_.contains(name)) continue;
    if (p.required) fail("{}: missing required parameter '{}' ({})", id_, name, param_type_name(p.type));
    if (!p.default_value.is_null()) exec_properties_[name] = p.default_value;
  }
  for (const auto& [key, _] : inputs_) {
    if (!spec_.inputs.count(key)) fail("{}: unknown input '{}'", id_, key);
  }
  if (spec_.check_parameters) {
    try {
      spec_.check_parameters(exec_properties_);
    } catch (const Error& e) {
      fail("{}: {}", id_, e.what());
    }
  }
}

std::shared_ptr<Component> Component::with_id(const std::string& instance_name) {
  if (instance_name.empty()) fail("{}: with_id needs a non-empty name", id_);
  check_path_name(instance_name, fmt::format("{}: id", id_));
  id_ = spec_.type_name + "." + instance_name;
  return shared_from_this();
}

void Component::set_id(const std::string& id) {
  check_path_name(id, fmt::format("{}: id", spec_.type_name));
  id_ = id;
}

Channel Component::outputs(const std::string& key) const {
  auto it = spec_.outputs.find(key);
  if (it == spec_.outputs.end()) fail("{}: has no output '{}'", id_, key);
  return Channel{it->second, this, key};
}

void Component::set_input(const std::string& key, Channel channel) {
  if (!spec_.inputs.count(key)) fail("{}: unknown input '{}'", id_, key);
  inputs_[key] = std::move(channel);
}

void resolve_path_parameters(const ComponentSpec& spec, nlohmann::json& parameters, const fs::path& base) {
  if (!parameters.is_object()) return;
  for (const auto& [name, p] : spec.parameters) {
    if (p.is_path && parameters.contains(name) && parameters[name].is_string() &&
        std::find(p.keywords.begin(), p.keywords.end(), parameters[name].get<std::string>()) == p.keywords.end()) {
      parameters[name] = resolve_path(base, parameters[name].get<std::string>()).string();
    }
    for (const auto& pointer : p.nested_paths) {
      if (!parameters.contains(name) || !parameters[name].is_object()) continue;
      nlohmann::json::json_pointer at(pointer);
      if (parameters[name].contains(at) && parameters[name][at].is_string()) {
        parameters[name][at] = resolve_path(base, parameters[name][at].get<std::string>()).string();
      }
    }
  }
}

}  // namespace litepipe
