#include "pipeline/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace litepipe {

void ComponentRegistry::add(ComponentRegistration registration) {
  std::string name = registration.spec.type_name;
  entries_[name] = std::move(registration);
}

const ComponentRegistration& ComponentRegistry::get(const std::string& type_name) const {
  auto it = entries_.find(type_name);
  if (it == entries_.end()) fail("unknown component '{}' (known: {})", type_name, fmt::join(names(), ", "));
  return it->second;
}

std::vector<std::string> ComponentRegistry::names() const {
  std::vector<std::string> result;
  for (const auto& [name, _] : entries_) result.push_back(name);
  return result;
}

std::shared_ptr<Component> make_component(const ComponentRegistration& r, std::map<std::string, Channel> inputs,
                                          nlohmann::json parameters) {
  return std::make_shared<Component>(r.spec, r.executor, std::move(inputs), std::move(parameters), r.fingerprint);
}

}  // namespace litepipe
