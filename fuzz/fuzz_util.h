#pragma once
// Helpers shared by litepipe's libFuzzer targets (fuzz/*_fuzzer.cpp).
//
// Every target calls litepipe's public API on the fuzz input and catches litepipe::Error only: that
// is how litepipe reports bad input. Anything else that escapes (a std::out_of_range, a
// nlohmann::json exception, std::bad_alloc from a hostile size, ...) reaches libFuzzer as an
// uncaught exception and is a finding, as are sanitizer reports, timeouts and out-of-memory.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace litepipe::fuzz {

// Once per process (call from LLVMFuzzerInitialize): one OpenMP thread (libFuzzer targets are
// single-threaded; an existing OMP_NUM_THREADS is kept), litepipe's and protobuf's logging off.
void init();

// A scratch folder of this process: $LITEPIPE_FUZZ_TMPDIR, else /dev/shm, else the system temp
// folder, plus litepipe-fuzz-XXXXXX; removed when the process exits normally.
const std::filesystem::path& scratch_dir();

// Writes `bytes` to scratch_dir()/name (replacing it) and returns the path. The APIs that take a
// path (TFRecord, IDX, CSV, pipeline files) read the fuzz input from there.
std::filesystem::path write_scratch_file(const std::string& name, std::string_view bytes);

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// GZIP's magic (1f 8b): the targets reading files name the scratch file "*.gz" then, which is how
// litepipe picks the gzip reader.
inline bool looks_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x1f && static_cast<uint8_t>(bytes[1]) == 0x8b;
}

}  // namespace litepipe::fuzz
