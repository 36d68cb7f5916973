#include "pipeline/pipeline.h"

#include <functional>
#include <map>
#include <set>

#include "core/error.h"

namespace litepipe {

std::vector<const Component*> build_pipeline(const Pipeline& pipeline) {
  if (pipeline.name.empty()) fail("pipeline: 'pipeline_name' must not be empty");
  if (pipeline.root.empty()) fail("pipeline {}: 'pipeline_root' must not be empty", pipeline.name);
  std::map<std::string, const Component*> by_id;
  std::set<const Component*> members;
  for (const auto& c : pipeline.components) {
    if (!c) fail("pipeline {}: null component", pipeline.name);
    if (!by_id.emplace(c->id(), c.get()).second) {
      fail("pipeline {}: duplicate component id '{}' (give one of them .with_id(\"...\"))", pipeline.name, c->id());
    }
    members.insert(c.get());
  }
  for (const auto& c : pipeline.components) {
    if (!c->spec().referenced_components) continue;
    for (const auto& id : c->spec().referenced_components(c->exec_properties())) {
      if (!by_id.count(id)) fail("{}: names component '{}', which is not in pipeline {}", c->id(), id, pipeline.name);
    }
  }
  std::map<const Component*, std::vector<const Component*>> upstream;
  for (const auto& c : pipeline.components) {
    for (const auto& [key, input] : c->spec().inputs) {
      auto it = c->inputs().find(key);
      if (it == c->inputs().end() || it->second.producer == nullptr) {
        if (!input.optional) fail("{}: missing required input '{}' (a channel of {})", c->id(), key, input.type);
        continue;
      }
      const Channel& ch = it->second;
      if (ch.type != input.type) {
        fail("{}: input '{}' expects a channel of {}, got {} from {}.{}", c->id(), key, input.type, ch.type,
             ch.producer->id(), ch.output_key);
      }
      if (!members.count(ch.producer)) {
        fail("{}: input '{}' comes from {}, which is not in pipeline {}", c->id(), key, ch.producer->id(), pipeline.name);
      }
      upstream[c.get()].push_back(ch.producer);
    }
  }
  // Depth-first topological order; a node met again while on the stack closes a cycle.
  std::vector<const Component*> order;
  std::map<const Component*, int> mark;  // 1 = on stack, 2 = done
  std::vector<std::string> stack;
  std::function<void(const Component*)> visit = [&](const Component* c) {
    if (mark[c] == 2) return;
    if (mark[c] == 1) {
      std::string path;
      for (const auto& s : stack) path += s + " -> ";
      fail("pipeline {}: cycle: {}{}", pipeline.name, path, c->id());
    }
    mark[c] = 1;
    stack.push_back(c->id());
    for (const Component* u : upstream[c]) visit(u);
    stack.pop_back();
    mark[c] = 2;
    order.push_back(c);
  };
  for (const auto& c : pipeline.components) visit(c.get());
  return order;
}

}  // namespace litepipe
