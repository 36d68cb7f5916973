#include <fstream>

#include "data/byte_stream.h"
#include "data/tfrecord.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using testing::expect_error;
using testing::write_bytes;

class TFRecordTest : public testing::TempDirTest {};

TEST(Crc32c, MatchesTheStandardCheckValue) {
  // CRC-32C (Castagnoli) of "123456789" is 0xE3069283 (RFC 3720 / iSCSI).
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  uint32_t crc = 0xE3069283u;
  EXPECT_EQ(masked_crc32c("123456789", 9), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

TEST_F(TFRecordTest, RoundTripsPlainAndGzip) {
  for (const char* name : {"data.tfrecord", "data.tfrecord.gz"}) {
    fs::path path = dir_ / name;
    TFRecordWriter writer(path);
    std::vector<std::string> records = {"", "a", std::string(100000, 'x'), "last"};
    for (const auto& r : records) writer.write(r);
    writer.close();
    TFRecordReader reader(path);
    std::string record;
    for (const auto& r : records) {
      ASSERT_TRUE(reader.next(record));
      EXPECT_EQ(record, r);
    }
    EXPECT_FALSE(reader.next(record));
  }
}

TEST_F(TFRecordTest, PlainFileLayoutIsTensorFlowsFraming) {
  fs::path path = dir_ / "one.tfrecord";
  TFRecordWriter writer(path);
  writer.write("abc");
  writer.close();
  std::string bytes = read_all(path);
  ASSERT_EQ(bytes.size(), 8u + 4u + 3u + 4u);
  uint64_t length;
  std::memcpy(&length, bytes.data(), 8);
  EXPECT_EQ(length, 3u);
  uint32_t length_crc, data_crc;
  std::memcpy(&length_crc, bytes.data() + 8, 4);
  std::memcpy(&data_crc, bytes.data() + 15, 4);
  EXPECT_EQ(length_crc, masked_crc32c(bytes.data(), 8));
  EXPECT_EQ(data_crc, masked_crc32c("abc", 3));
}

TEST_F(TFRecordTest, CorruptDataIsReportedWithFileRecordAndOffset) {
  fs::path path = dir_ / "bad.tfrecord";
  TFRecordWriter writer(path);
  writer.write("first");
  writer.write("second");
  writer.close();
  std::string bytes = read_all(path);
  bytes[8 + 4 + 5 + 4 + 12 + 2] ^= 0x01;  // flip a bit inside "second"
  write_bytes(path, bytes);
  TFRecordReader reader(path);
  std::string record;
  ASSERT_TRUE(reader.next(record));
  expect_error([&] { reader.next(record); }, {path.string(), "record 1", "offset 21", "data CRC mismatch"});
}

TEST_F(TFRecordTest, CorruptLengthIsReported) {
  fs::path path = dir_ / "badlen.tfrecord";
  TFRecordWriter writer(path);
  writer.write("payload");
  writer.close();
  std::string bytes = read_all(path);
  bytes[0] ^= 0x40;
  write_bytes(path, bytes);
  TFRecordReader reader(path);
  std::string record;
  expect_error([&] { reader.next(record); }, {path.string(), "record 0", "length CRC mismatch"});
}

TEST_F(TFRecordTest, TruncatedFileIsReported) {
  fs::path path = dir_ / "short.tfrecord";
  TFRecordWriter writer(path);
  writer.write("complete");
  writer.write("cut short");
  writer.close();
  std::string bytes = read_all(path);
  write_bytes(path, bytes.substr(0, bytes.size() - 6));
  TFRecordReader reader(path);
  std::string record;
  ASSERT_TRUE(reader.next(record));
  expect_error([&] { reader.next(record); }, {path.string(), "truncated", "record 1"});
}

TEST_F(TFRecordTest, TruncatedGzipIsReported) {
  fs::path path = dir_ / "short.tfrecord.gz";
  TFRecordWriter writer(path);
  for (int i = 0; i < 1000; ++i) writer.write(std::string(100, static_cast<char>('a' + i % 26)));
  writer.close();
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  expect_error([&] {
    TFRecordReader reader(path);
    std::string record;
    while (reader.next(record)) {
    }
  }, {path.string()});
}

}  // namespace
}  // namespace litepipe
