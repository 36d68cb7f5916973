#include "components/statistics_gen.h"

#include <spdlog/spdlog.h>

#include "components/artifact_io.h"
#include "data/statistics.h"

namespace litepipe {
namespace {

using nlohmann::json;

class StatisticsGenExecutor final : public Executor {
 public:
  void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext&) override {
    const Artifact& examples = single_input(inputs, "examples");
    std::vector<SplitFiles> splits;
    for (const auto& split : selected_splits(examples, props.value("exclude_splits", json::array()), "StatisticsGen")) {
      splits.push_back({split, example_files(examples, split)});
    }
    auto stats = compute_statistics(splits);
    Artifact& out = outputs.at("statistics").at(0);
    std::vector<std::string> names;
    for (const auto& s : splits) {
      write_json_file_atomic(split_dir(out, s.name) / "FeatureStats.json", stats.at(s.name));
      names.push_back(s.name);
      spdlog::info("StatisticsGen: {}", summarize_statistics(s.name, stats.at(s.name)));
    }
    out.set_split_names(names);
  }
};

}  // namespace

const ComponentRegistration& statistics_gen_registration() {
  static const ComponentRegistration registration{
      ComponentSpec{"StatisticsGen",
                    {{"examples", {artifact_types::kExamples}}},
                    {{"statistics", artifact_types::kExampleStatistics}},
                    {{"exclude_splits", optional_param(ParamType::List, json::array())}}},
      [] { return std::make_unique<StatisticsGenExecutor>(); },
      {}};
  return registration;
}

std::shared_ptr<Component> StatisticsGen(const StatisticsGenArgs& args) {
  return make_component(statistics_gen_registration(), {{"examples", args.examples}},
                        {{"exclude_splits", args.exclude_splits}});
}

}  // namespace litepipe
