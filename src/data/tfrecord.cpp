#include "data/tfrecord.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace litepipe {

uint32_t crc32c(const void* data, size_t n) {
  // ISA-L's iSCSI CRC is CRC-32C without the final inversion.
  uint32_t crc = 0xFFFFFFFFu;
  auto* bytes = static_cast<unsigned char*>(const_cast<void*>(data));
  while (n > 0) {
    int chunk = static_cast<int>(std::min<size_t>(n, 1u << 30));
    crc = crc32_iscsi(bytes, chunk, crc);
    bytes += chunk;
    n -= static_cast<size_t>(chunk);
  }
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  uint32_t crc = crc32c(data, n);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TFRecordWriter::TFRecordWriter(const std::filesystem::path& path) : out_(open_writer(path)) {}

void TFRecordWriter::write(std::string_view record) {
  char header[12];
  uint64_t length = record.size();
  std::memcpy(header, &length, 8);
  uint32_t length_crc = masked_crc32c(header, 8);
  std::memcpy(header + 8, &length_crc, 4);
  uint32_t data_crc = masked_crc32c(record.data(), record.size());
  out_->write(header, sizeof header);
  out_->write(record.data(), record.size());
  out_->write(&data_crc, 4);
  ++count_;
}

void TFRecordWriter::close() { out_->close(); }

TFRecordReader::TFRecordReader(const std::filesystem::path& path) : in_(open_reader(path)) {}

void TFRecordReader::read_exact(void* out, size_t n, const char* what) {
  size_t got = 0;
  auto* dst = static_cast<char*>(out);
  while (got < n) {
    size_t r = in_->read(dst + got, n - got);
    if (r == 0) {
      fail("{}: truncated TFRecord: record {} at offset {} ends inside its {} ({} of {} bytes)",
           in_->name(), index_, offset_, what, got, n);
    }
    got += r;
  }
  offset_ += n;
}

bool TFRecordReader::next(std::string& record) {
  char header[12];
  size_t got = in_->read(header, 1);
  if (got == 0) return false;
  uint64_t record_offset = offset_;
  offset_ += 1;
  read_exact(header + 1, sizeof header - 1, "header");
  uint64_t length;
  uint32_t length_crc;
  std::memcpy(&length, header, 8);
  std::memcpy(&length_crc, header + 8, 4);
  if (masked_crc32c(header, 8) != length_crc) {
    fail("{}: corrupt TFRecord: record {} at offset {}: length CRC mismatch", in_->name(), index_,
         record_offset);
  }
  if (length > (uint64_t{1} << 32)) {
    fail("{}: corrupt TFRecord: record {} at offset {} claims {} bytes", in_->name(), index_,
         record_offset, length);
  }
  // Grown as the data arrives (doubling from 1 MiB): a header claiming gigabytes in a short file
  // costs no more memory than the bytes that are really there.
  record.clear();
  while (record.size() < length) {
    const size_t have = record.size();
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(length - have, std::max<size_t>(size_t{1} << 20, have)));
    record.resize(have + chunk);
    read_exact(record.data() + have, chunk, "data");
  }
  uint32_t data_crc;
  read_exact(&data_crc, 4, "data CRC");
  if (masked_crc32c(record.data(), record.size()) != data_crc) {
    fail("{}: corrupt TFRecord: record {} at offset {}: data CRC mismatch", in_->name(), index_,
         record_offset);
  }
  ++index_;
  return true;
}

}  // namespace litepipe
