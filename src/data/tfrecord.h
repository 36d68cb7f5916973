#pragma once
// TFRecord files: each record is
//   uint64 length | uint32 masked_crc32c(length) | data[length] | uint32 masked_crc32c(data)
// (little-endian), optionally inside GZIP ("*.gz", as TFX's ExampleGen writes them).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "data/byte_stream.h"

namespace litepipe {

uint32_t crc32c(const void* data, size_t n);
uint32_t masked_crc32c(const void* data, size_t n);

class TFRecordWriter {
 public:
  explicit TFRecordWriter(const std::filesystem::path& path);
  void write(std::string_view record);
  void close();
  uint64_t records_written() const { return count_; }

 private:
  std::unique_ptr<ByteWriter> out_;
  uint64_t count_ = 0;
};

class TFRecordReader {
 public:
  explicit TFRecordReader(const std::filesystem::path& path);
  // Next record into `record`; false at a clean end of file. A truncated record or a CRC mismatch
  // throws an Error naming the file, the record index and the byte offset.
  bool next(std::string& record);
  uint64_t records_read() const { return index_; }

 private:
  void read_exact(void* out, size_t n, const char* what);

  std::unique_ptr<ByteReader> in_;
  uint64_t offset_ = 0;  // offset in the (decompressed) record stream
  uint64_t index_ = 0;
};

}  // namespace litepipe
