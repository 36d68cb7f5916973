// Times ExampleGen, StatisticsGen, SchemaGen and ExampleValidator on Fashion-MNIST (70,000 IDX
// images from Debian's dataset-fashion-mnist), cache off. Goal: <= 10 s together on 2 cores.
//
//   build/bench/bench_data_components [FASHION_MNIST_DIR] [--repeat N]
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "components/builtin.h"
#include "core/log.h"
#include "pipeline/runner.h"

int main(int argc, char** argv) {
  using namespace litepipe;
  std::string data = "/usr/share/datasets/fashion-mnist";
  int repeat = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = std::atoi(argv[++i]);
    else data = argv[i];
  }
  if (!fs::exists(data)) {
    std::fprintf(stderr, "%s not found: install dataset-fashion-mnist (scripts/install.sh)\n", data.c_str());
    return 1;
  }
  init_logging(false);
  spdlog::set_level(spdlog::level::warn);
  fs::path root = fs::temp_directory_path() / fmt::format("litepipe-bench-data-{}", ::getpid());
  std::map<std::string, std::vector<double>> seconds;
  std::vector<double> totals;
  for (int r = 0; r < repeat; ++r) {
    fs::remove_all(root);
    auto gen = ExampleGen({.input_base = data, .input_format = "idx"});
    auto stats = StatisticsGen({.examples = gen->outputs("examples")});
    auto schema = SchemaGen({.statistics = stats->outputs("statistics")});
    auto validator = ExampleValidator({.statistics = stats->outputs("statistics"), .schema = schema->outputs("schema"),
                                       .drift_threshold = 0.05});
    RunResult result = LocalDagRunner().run(Pipeline{"bench", root, {gen, stats, schema, validator}}, {.enable_cache = false});
    double total = 0;
    for (const auto& c : result.components) {
      seconds[c.component_id].push_back(c.seconds);
      total += c.seconds;
    }
    totals.push_back(total);
  }
  fs::remove_all(root);
  auto best = [](std::vector<double> v) { return *std::min_element(v.begin(), v.end()); };
  std::printf("Fashion-MNIST (70,000 images), %d runs, best of each, %u hardware threads:\n", repeat,
              std::thread::hardware_concurrency());
  for (const char* id : {"ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator"}) {
    std::printf("  %-18s %7.3f s\n", id, best(seconds[id]));
  }
  std::printf("  %-18s %7.3f s  (goal <= 10 s)\n", "total", best(totals));
  return 0;
}
