// tf.Example parsing and litepipe's statistics / schema code (StatisticsGen, SchemaGen,
// ExampleValidator on the examples they get).
//
// The input is a list of serialized tf.Example records separated by kSeparator; records that do
// not parse as a tf.Example are dropped (ExampleGen only writes ones that do). Even records form a
// "train" split, odd ones "eval"; each is written as a TFRecord file and compute_statistics reads
// it (two passes: moments and value counts, then histograms). Then, as the components do: the
// statistics written as FeatureStats.json (write_json_file_atomic), summarize_statistics,
// infer_schema from train (with ranges) written as schema.json, validate_statistics of eval against
// it with train as the drift baseline, distribution_distance per feature, summarize_anomalies and
// the anomalies written as SchemaDiff.json.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "data/schema.h"
#include "data/statistics.h"
#include "data/tfrecord.h"
#include "fuzz_util.h"
#include "tensorflow/core/example/example.pb.h"

using namespace litepipe;

namespace {

constexpr std::string_view kSeparator = "\xfe\xfe" "EX";

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = fuzz::as_view(data, size);
  std::vector<std::string> splits[2];
  tensorflow::Example example;
  size_t index = 0;
  for (size_t start = 0; start <= input.size();) {
    size_t end = input.find(kSeparator, start);
    if (end == std::string_view::npos) end = input.size();
    std::string record(input.substr(start, end - start));
    if (example.ParseFromString(record)) splits[index++ % 2].push_back(std::move(record));
    start = end + kSeparator.size();
  }
  if (index == 0) return 0;
  try {
    nlohmann::json stats[2];
    const char* names[2] = {"train", "eval"};
    for (int s = 0; s < 2; ++s) {
      // One split per call: compute_statistics runs one thread per file.
      auto path = fuzz::scratch_dir() / (std::string(names[s]) + ".tfrecord");
      TFRecordWriter writer(path);
      for (const auto& r : splits[s]) writer.write(r);
      writer.close();
      auto result = compute_statistics({SplitFiles{names[s], {path}}});
      stats[s] = result.at(names[s]);
      write_json_file_atomic(fuzz::scratch_dir() / "FeatureStats.json", stats[s]);  // StatisticsGen
      (void)summarize_statistics(names[s], stats[s]);
    }
    nlohmann::json schema = infer_schema({stats[0]}, {.infer_feature_shape = true, .infer_feature_ranges = true,
                                                      .max_string_domain_size = 100});
    write_json_file_atomic(fuzz::scratch_dir() / "schema.json", schema);  // SchemaGen
    DriftOptions drift;
    drift.default_threshold = 0.01;
    for (const auto& [name, _] : stats[0]["features"].items()) drift.feature_thresholds[name] = 0.5;
    nlohmann::json anomalies = validate_statistics(stats[1], schema, &stats[0], drift);
    write_json_file_atomic(fuzz::scratch_dir() / "SchemaDiff.json", anomalies);  // ExampleValidator
    (void)summarize_anomalies(anomalies);
    for (const auto& [name, feature] : stats[1]["features"].items()) {
      if (stats[0]["features"].contains(name)) (void)distribution_distance(stats[0]["features"][name], feature);
    }
  } catch (const Error&) {
  }
  return 0;
}
