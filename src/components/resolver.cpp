#include "components/resolver.h"

#include "core/error.h"
#include "pipeline/metadata_store.h"

namespace litepipe {
namespace {

using nlohmann::json;

constexpr const char* kLatestBlessedModel = "latest_blessed_model";
constexpr const char* kLatestArtifact = "latest_artifact";

struct ResolverConfig {
  std::string strategy;
  std::string model_blessing;
  std::string model;
};

ResolverConfig parse_resolver_config(const json& props) {
  ResolverConfig c{props.value("strategy", kLatestBlessedModel), props.value("model_blessing", ""), props.value("model", "")};
  if (c.strategy != kLatestBlessedModel && c.strategy != kLatestArtifact) {
    fail("strategy is '{}', expected {} (TFX's LatestBlessedModelStrategy) or {} (LatestArtifactStrategy)", c.strategy, kLatestBlessedModel,
         kLatestArtifact);
  }
  if (c.strategy == kLatestBlessedModel && c.model_blessing.empty()) fail("strategy {} needs model_blessing: the Evaluator whose blessings count", c.strategy);
  if (c.strategy == kLatestArtifact && c.model.empty()) fail("strategy {} needs model: the Trainer whose models count", c.strategy);
  return c;
}

// The component that published `artifact` (its OUTPUT event's execution).
std::string producer_of(MetadataStore& store, int64_t artifact_id) {
  for (const auto& e : store.events_by_artifact(artifact_id)) {
    if (e.type != "OUTPUT") continue;
    if (auto exec = store.execution(e.execution_id)) return exec->component_id;
  }
  return "";
}

ArtifactMap resolve(MetadataStore& store, const json& props) {
  ResolverConfig c = parse_resolver_config(props);
  ArtifactMap out = {{"model", {}}};
  if (c.strategy == kLatestArtifact) {
    auto models = store.artifacts(artifact_types::kModel);
    for (auto it = models.rbegin(); it != models.rend(); ++it) {
      if (producer_of(store, it->id) == c.model) {
        out["model"].push_back(*it);
        break;
      }
    }
    return out;
  }
  // Newest first: the latest blessing with blessed = 1 from that Evaluator, and the model it blessed.
  auto blessings = store.artifacts(artifact_types::kModelBlessing);
  for (auto it = blessings.rbegin(); it != blessings.rend(); ++it) {
    const json& p = it->properties;
    if (p.value("blessed", 0) != 1 || !p.contains("current_model_id")) continue;
    if (producer_of(store, it->id) != c.model_blessing) continue;
    auto model = store.artifact(p["current_model_id"].get<int64_t>());
    if (!model) continue;
    if (!c.model.empty() && producer_of(store, model->id) != c.model) continue;
    out["model"].push_back(*model);
    break;
  }
  return out;
}

class NoExecutor final : public Executor {
 public:
  void Do(const ArtifactMap&, ArtifactMap&, const json&, const ExecutorContext& context) override {
    fail("{}: a Resolver is resolved by the runner from the metadata store; it has no executor", context.component_id);
  }
};

}  // namespace

const ComponentRegistration& resolver_registration() {
  static const ComponentRegistration registration{
      ComponentSpec{"Resolver",
                    {},
                    {{"model", artifact_types::kModel}},
                    {{"strategy", optional_param(ParamType::String, kLatestBlessedModel)},
                     {"model_blessing", optional_param(ParamType::String)},
                     {"model", optional_param(ParamType::String)}},
                    [](const json& props) { parse_resolver_config(props); },
                    resolve,
                    [](const json& props) {
                      ResolverConfig c = parse_resolver_config(props);
                      std::vector<std::string> ids;
                      for (const auto& id : {c.model_blessing, c.model})
                        if (!id.empty()) ids.push_back(id);
                      return ids;
                    }},
      [] { return std::make_unique<NoExecutor>(); },
      {}};
  return registration;
}

std::shared_ptr<Component> Resolver(const ResolverArgs& args) {
  json params = {{"strategy", args.strategy}};
  if (!args.model_blessing.empty()) params["model_blessing"] = args.model_blessing;
  if (!args.model.empty()) params["model"] = args.model;
  return make_component(resolver_registration(), {}, params);
}

}  // namespace litepipe
