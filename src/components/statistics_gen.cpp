#include "components/statistics_gen.h"

#include <spdlog/spdlog.h>

#include "components/artifact_io.h"
#include "components/workers.h"
#include "data/statistics.h"
#include "distributed/world.h"

namespace litepipe {
namespace {

using nlohmann::json;

class StatisticsGenExecutor final : public Executor {
 public:
  void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext& context) override {
    int workers = checked_num_workers(props.value("num_workers", json()), "StatisticsGen: num_workers");
    bool is_rank = distributed::launch_info_from_environment().size > 1;  // our own mpirun's, or an external one
    if (workers > 1 && !is_rank) {
      launch_workers("StatisticsGen", "num_workers", workers, inputs, outputs, props, context);
      return;
    }
    const distributed::World& world = distributed::world();
    const Artifact& examples = single_input(inputs, "examples");
    std::vector<SplitFiles> splits;
    for (const auto& split : selected_splits(examples, props.value("exclude_splits", json::array()), "StatisticsGen")) {
      splits.push_back({split, example_files(examples, split)});
    }
    auto stats = compute_statistics(splits, &world);
    if (!world.is_chief()) return;  // rank 0 writes
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
                    {{"exclude_splits", optional_param(ParamType::List, json::array())},
                     {"num_workers", num_workers_param("StatisticsGen")}}},
      [] { return std::make_unique<StatisticsGenExecutor>(); },
      {}};
  return registration;
}

std::shared_ptr<Component> StatisticsGen(const StatisticsGenArgs& args) {
  json params = {{"exclude_splits", args.exclude_splits}};
  if (args.num_workers != 1) params["num_workers"] = args.num_workers;  // when set: one process keeps its cache key
  return make_component(statistics_gen_registration(), {{"examples", args.examples}}, params);
}

}  // namespace litepipe
