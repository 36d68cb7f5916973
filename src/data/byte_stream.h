#pragma once
// Byte streams over files, optionally GZIP-compressed (ISA-L igzip: fast deflate/inflate).
// The compression of a file is chosen by its name: "*.gz" is GZIP, anything else is raw.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace litepipe {

class ByteReader {
 public:
  virtual ~ByteReader() = default;
  // Reads up to n bytes; returns how many were read (0 only at end of stream).
  virtual size_t read(void* out, size_t n) = 0;
  const std::string& name() const { return name_; }

 protected:
  explicit ByteReader(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

class ByteWriter {
 public:
  virtual ~ByteWriter() = default;
  virtual void write(const void* data, size_t n) = 0;
  // Flushes and closes; errors surface here rather than in a destructor.
  virtual void close() = 0;
};

bool is_gzip_path(const std::filesystem::path& path);
std::unique_ptr<ByteReader> open_reader(const std::filesystem::path& path);
std::unique_ptr<ByteWriter> open_writer(const std::filesystem::path& path);
// Whole (decompressed) contents of a file.
std::string read_all(const std::filesystem::path& path);

}  // namespace litepipe
