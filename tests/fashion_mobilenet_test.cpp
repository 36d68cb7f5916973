// examples/fashion_mobilenet/pipeline.yaml end to end through the CLI, on a slice of Debian's
// Fashion-MNIST (1,200 training and 400 test images) at 120 training steps: the MobileNetV2-style
// model trained once, rewritten into float32 and int8 TFLite through the Trainers' base_model
// input, evaluated three ways with one output structure, and compared.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "core/files.h"
#include "data/example_sources.h"
#include "test_helpers.h"
#include "tflite/interpreter.h"

namespace litepipe {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kFashionMnist = "/usr/share/datasets/fashion-mnist";

class FashionMobileNetTest : public testing::TempDirTest {
 protected:
  // The first `count` images and labels of `<prefix>-*-ubyte.gz` as uncompressed IDX files in `dir`.
  static void write_slice(const fs::path& dir, const std::string& prefix, uint32_t count) {
    IdxImages images = read_idx_images(fs::path(kFashionMnist) / (prefix + "-images-idx3-ubyte.gz"));
    std::vector<uint8_t> labels = read_idx_labels(fs::path(kFashionMnist) / (prefix + "-labels-idx1-ubyte.gz"));
    ASSERT_GE(images.count, count);
    const size_t pixels = size_t{images.rows} * images.cols;
    std::string image_bytes = testing::big_endian(0x00000803) + testing::big_endian(count) + testing::big_endian(images.rows) + testing::big_endian(images.cols);
    image_bytes.append(reinterpret_cast<const char*>(images.pixels.data()), count * pixels);
    testing::write_bytes(dir / (prefix + "-images-idx3-ubyte"), image_bytes);
    std::string label_bytes = testing::big_endian(0x00000801) + testing::big_endian(count);
    label_bytes.append(reinterpret_cast<const char*>(labels.data()), count);
    testing::write_bytes(dir / (prefix + "-labels-idx1-ubyte"), label_bytes);
  }
  int run(const std::string& args) {
    return std::system(fmt::format("{} {} > {} 2>&1", LITEPIPE_BINARY, args, (dir_ / "cli.log").string()).c_str());
  }
  std::string log() { return read_file(dir_ / "cli.log"); }
  json metrics(const std::string& evaluator) {
    return read_json_file(fs::directory_iterator(dir_ / "root" / ("Evaluator." + evaluator) / "evaluation")->path() / "metrics.json");
  }
  fs::path serving(const std::string& trainer) {
    return fs::directory_iterator(dir_ / "root" / ("Trainer." + trainer) / "model")->path() / "Format-Serving";
  }
};

TEST_F(FashionMobileNetTest, PipelineTrainsOnceAndShipsFloatAndInt8TfliteModels) {
  ASSERT_TRUE(fs::exists(kFashionMnist)) << "scripts/install.sh installs dataset-fashion-mnist";
  fs::create_directories(dir_ / "data");
  write_slice(dir_ / "data", "train", 1200);
  write_slice(dir_ / "data", "t10k", 400);
  std::string text = read_file(testing::source_dir() / "examples/fashion_mobilenet/pipeline.yaml");
  auto replace = [&](const std::string& from, const std::string& to) {
    size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    for (; at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
  };
  replace("/usr/share/datasets/fashion-mnist", (dir_ / "data").string());
  replace("../../pipelines/fashion_mobilenet", (dir_ / "root").string());
  replace("../../build/", (fs::path(LITEPIPE_BINARY).parent_path() / "").string());
  replace("num_steps: 2000", "num_steps: 120");
  replace("batch_norm_momentum: 0.99", "batch_norm_momentum: 0.9");  // moving statistics that settle in 120 steps
  replace("lower_bound: 0.8", "lower_bound: 0.5");
  fs::path pipeline = dir_ / "pipeline.yaml";
  std::ofstream(pipeline) << text;
  ASSERT_EQ(run("run " + pipeline.string()), 0) << log();

  // Trained once: the lite Trainers rewrote Trainer.fashion's model (no training of their own).
  EXPECT_TRUE(fs::exists(serving("fashion") / "model.onnx"));
  EXPECT_TRUE(fs::exists(serving("fashion_lite") / "tflite"));
  EXPECT_TRUE(fs::exists(serving("fashion_lite_int8") / "tflite"));
  EXPECT_FALSE(fs::exists(serving("fashion_lite") / "model.onnx"));

  // The three evaluations: same structure, the float TFLite model computing what ONNX computes,
  // int8 close to float; all above the (lowered) bar, so blessed and pushed.
  const json full = metrics("fashion"), lite = metrics("fashion_lite"), int8 = metrics("fashion_lite_int8");
  EXPECT_EQ(full["slices"].size(), 11u);  // Overall + 10 classes
  EXPECT_EQ(lite["slices"].size(), full["slices"].size());
  EXPECT_EQ(int8["slices"].size(), full["slices"].size());
  auto accuracy = [](const json& m) { return m["slices"][0]["metrics"]["sparse_categorical_accuracy"]["value"].get<double>(); };
  EXPECT_GT(accuracy(full), 0.5);
  EXPECT_NEAR(accuracy(lite), accuracy(full), 1e-9);
  EXPECT_NEAR(accuracy(int8), accuracy(lite), 0.03);
  for (const char* id : {"fashion", "fashion_lite", "fashion_lite_int8"}) {
    EXPECT_TRUE(fs::exists(fs::directory_iterator(dir_ / "root" / (std::string("Evaluator.") + id) / "blessing")->path() / "BLESSED")) << id;
    EXPECT_FALSE(fs::is_empty(dir_ / "root" / "serving_model" / id)) << id;
  }

  // The int8 model is int8 inside (float input and output) and much smaller than the float one.
  auto interpreter = tfl::Interpreter::from_file(serving("fashion_lite_int8") / "tflite");
  int int8_convolutions = 0;
  for (const auto& node : interpreter->nodes()) {
    if (node.op_name == "CONV_2D" || node.op_name == "DEPTHWISE_CONV_2D") int8_convolutions += interpreter->tensor(node.inputs[0]).type == tfl::DType::Int8;
  }
  EXPECT_GE(int8_convolutions, 15);
  EXPECT_LT(fs::file_size(serving("fashion_lite_int8") / "tflite"), fs::file_size(serving("fashion_lite") / "tflite") * 6 / 10);

  // The comparisons: full vs float TFLite agree example by example; float vs int8 is reported.
  const json lite_vs_full = read_json_file(fs::directory_iterator(dir_ / "root" / "ModelComparator.fashion_lite" / "comparison")->path() / "comparison.json");
  EXPECT_EQ(lite_vs_full["agreement"]["top1_flips"].get<int64_t>(), 0) << lite_vs_full.dump();
  EXPECT_TRUE(fs::exists(fs::directory_iterator(dir_ / "root" / "ModelComparator.fashion_lite_int8" / "comparison")->path() / "report.html"));
}

}  // namespace
}  // namespace litepipe
