#pragma once
// Component types by name: what the YAML loader builds, and what an executor process runs when it
// is handed only an invocation file.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/component.h"

namespace litepipe {

struct ComponentRegistration {
  ComponentSpec spec;
  ExecutorFactory executor;
  FingerprintFn fingerprint;
};

class ComponentRegistry {
 public:
  void add(ComponentRegistration registration);
  bool contains(const std::string& type_name) const { return entries_.count(type_name) > 0; }
  const ComponentRegistration& get(const std::string& type_name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ComponentRegistration> entries_;
};

std::shared_ptr<Component> make_component(const ComponentRegistration& registration,
                                          std::map<std::string, Channel> inputs, nlohmann::json parameters);

}  // namespace litepipe
