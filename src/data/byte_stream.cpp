#include "data/byte_stream.h"

#include <isa-l/igzip_lib.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace litepipe {
namespace {

constexpr size_t kBufferSize = 1 << 18;

class FileReader final : public ByteReader {
 public:
  explicit FileReader(const std::filesystem::path& path) : ByteReader(path.string()) {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_) fail("{}: cannot open for reading", name_);
  }
  ~FileReader() override { std::fclose(file_); }
  size_t read(void* out, size_t n) override {
    size_t got = std::fread(out, 1, n, file_);
    if (got < n && std::ferror(file_)) fail("{}: read error", name_);
    return got;
  }

 private:
  std::FILE* file_;
};

const char* inflate_error(int code) {
  switch (code) {
    case ISAL_END_INPUT: return "unexpected end of compressed data (truncated file)";
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid deflate back-reference";
    case ISAL_INVALID_WRAPPER: return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD: return "unsupported gzip compression method";
    case ISAL_INCORRECT_CHECKSUM: return "gzip checksum mismatch";
    default: return "corrupt gzip data";
  }
}

class GzipReader final : public ByteReader {
 public:
  explicit GzipReader(const std::filesystem::path& path)
      : ByteReader(path.string()), file_(path), input_(kBufferSize) {
    isal_inflate_init(&state_);
    state_.crc_flag = ISAL_GZIP;
  }
  size_t read(void* out, size_t n) override {
    auto* dst = static_cast<uint8_t*>(out);
    size_t produced = 0;
    while (produced < n && !finished_) {
      if (state_.block_state == ISAL_BLOCK_FINISH) {
        // A gzip file may hold several members back to back.
        refill();
        if (state_.avail_in == 0) {
          finished_ = true;
          break;
        }
        isal_inflate_reset(&state_);
        state_.crc_flag = ISAL_GZIP;
        state_.next_in = input_.data() + input_offset_;
        state_.avail_in = input_avail_;
      }
      if (state_.avail_in == 0) {
        refill();
        if (input_avail_ == 0 && state_.block_state != ISAL_BLOCK_FINISH) {
          fail("{}: {} after {} decompressed bytes", name_, inflate_error(ISAL_END_INPUT),
               total_out_ + produced);
        }
      }
      state_.next_out = dst + produced;
      state_.avail_out = static_cast<uint32_t>(std::min<size_t>(n - produced, 1u << 30));
      uint32_t before = state_.avail_out;
      int rc = isal_inflate(&state_);
      if (rc != ISAL_DECOMP_OK) {
        fail("{}: {} after {} decompressed bytes", name_, inflate_error(rc), total_out_ + produced);
      }
      produced += before - state_.avail_out;
      input_offset_ = static_cast<size_t>(state_.next_in - input_.data());
      input_avail_ = state_.avail_in;
    }
    total_out_ += produced;
    return produced;
  }

 private:
  void refill() {
    if (state_.avail_in > 0) return;
    input_avail_ = file_.read(input_.data(), input_.size());
    input_offset_ = 0;
    state_.next_in = input_.data();
    state_.avail_in = static_cast<uint32_t>(input_avail_);
  }

  FileReader file_;
  std::vector<uint8_t> input_;
  size_t input_offset_ = 0;
  size_t input_avail_ = 0;
  inflate_state state_{};
  bool finished_ = false;
  size_t total_out_ = 0;
};

class FileWriter final : public ByteWriter {
 public:
  explicit FileWriter(const std::filesystem::path& path) : name_(path.string()) {
    file_ = std::fopen(path.c_str(), "wb");
    if (!file_) fail("{}: cannot open for writing: {}", name_, std::strerror(errno));
  }
  ~FileWriter() override {
    if (file_) std::fclose(file_);
  }
  void write(const void* data, size_t n) override {
    if (std::fwrite(data, 1, n, file_) != n) fail("{}: write failed: {}", name_, std::strerror(errno));
  }
  void close() override {
    if (!file_) return;
    // errno of the first failure (a full disk shows when buffered bytes are flushed).
    int err = std::fflush(file_) == 0 ? 0 : errno;
    if (std::fclose(file_) != 0 && err == 0) err = errno;
    file_ = nullptr;
    if (err != 0) fail("{}: write failed: {}", name_, std::strerror(err));
  }

 private:
  std::string name_;
  std::FILE* file_;
};

// igzip level 1: several hundred MB/s on one core, which keeps ExampleGen I/O-bound.
class GzipWriter final : public ByteWriter {
 public:
  explicit GzipWriter(const std::filesystem::path& path)
      : file_(path), level_buffer_(ISAL_DEF_LVL1_DEFAULT), output_(kBufferSize) {
    isal_deflate_init(&stream_);
    stream_.level = 1;
    stream_.level_buf = level_buffer_.data();
    stream_.level_buf_size = static_cast<uint32_t>(level_buffer_.size());
    stream_.gzip_flag = IGZIP_GZIP;
  }
  void write(const void* data, size_t n) override {
    stream_.next_in = static_cast<uint8_t*>(const_cast<void*>(data));
    stream_.avail_in = static_cast<uint32_t>(n);
    while (stream_.avail_in > 0) deflate_step();
  }
  void close() override {
    if (closed_) return;
    closed_ = true;
    stream_.end_of_stream = 1;
    stream_.avail_in = 0;
    do {
      deflate_step();
    } while (stream_.internal_state.state != ZSTATE_END);
    file_.close();
  }

 private:
  void deflate_step() {
    stream_.next_out = output_.data();
    stream_.avail_out = static_cast<uint32_t>(output_.size());
    if (isal_deflate(&stream_) != COMP_OK) fail("gzip compression failed");
    file_.write(output_.data(), output_.size() - stream_.avail_out);
  }

  FileWriter file_;
  std::vector<uint8_t> level_buffer_;
  std::vector<uint8_t> output_;
  isal_zstream stream_{};
  bool closed_ = false;
};

}  // namespace

bool is_gzip_path(const std::filesystem::path& path) { return path.extension() == ".gz"; }

std::unique_ptr<ByteReader> open_reader(const std::filesystem::path& path) {
  if (is_gzip_path(path)) return std::make_unique<GzipReader>(path);
  return std::make_unique<FileReader>(path);
}

std::unique_ptr<ByteWriter> open_writer(const std::filesystem::path& path) {
  if (is_gzip_path(path)) return std::make_unique<GzipWriter>(path);
  return std::make_unique<FileWriter>(path);
}

std::string read_all(const std::filesystem::path& path) {
  auto reader = open_reader(path);
  std::string out;
  std::vector<char> buffer(kBufferSize);
  while (size_t n = reader->read(buffer.data(), buffer.size())) out.append(buffer.data(), n);
  return out;
}

}  // namespace litepipe
