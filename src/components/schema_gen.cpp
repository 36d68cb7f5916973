#include "components/schema_gen.h"

#include <spdlog/spdlog.h>

#include "components/artifact_io.h"
#include "core/error.h"
#include "data/schema.h"

namespace litepipe {
namespace {

using nlohmann::json;

class SchemaGenExecutor final : public Executor {
 public:
  void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext&) override {
    const Artifact& statistics = single_input(inputs, "statistics");
    std::vector<json> stats;
    auto splits = selected_splits(statistics, props.value("exclude_splits", json::array()), "SchemaGen");
    if (splits.empty()) fail("SchemaGen: every split is excluded; nothing to infer a schema from");
    for (const auto& split : splits) stats.push_back(read_json_file(split_dir(statistics, split) / "FeatureStats.json"));
    SchemaOptions options;
    options.infer_feature_shape = props.value("infer_feature_shape", true);
    options.infer_feature_ranges = props.value("infer_feature_ranges", false);
    json schema = infer_schema(stats, options);
    Artifact& out = outputs.at("schema").at(0);
    write_json_file_atomic(fs::path(out.uri) / "schema.json", schema);
    for (const auto& f : schema["feature"]) {
      spdlog::info("SchemaGen: {}", f.dump());
    }
  }
};

}  // namespace

const ComponentRegistration& schema_gen_registration() {
  static const ComponentRegistration registration{
      ComponentSpec{"SchemaGen",
                    {{"statistics", {artifact_types::kExampleStatistics}}},
                    {{"schema", artifact_types::kSchema}},
                    {{"infer_feature_shape", optional_param(ParamType::Bool, true)},
                     {"infer_feature_ranges", optional_param(ParamType::Bool, false)},
                     {"exclude_splits", optional_param(ParamType::List, json::array({"eval"}))}}},
      [] { return std::make_unique<SchemaGenExecutor>(); },
      {}};
  return registration;
}

std::shared_ptr<Component> SchemaGen(const SchemaGenArgs& args) {
  return make_component(schema_gen_registration(), {{"statistics", args.statistics}},
                        {{"infer_feature_shape", args.infer_feature_shape},
                         {"infer_feature_ranges", args.infer_feature_ranges},
                         {"exclude_splits", args.exclude_splits}});
}

}  // namespace litepipe
