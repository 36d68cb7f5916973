#include "fuzz_util.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

namespace litepipe::fuzz {
namespace fs = std::filesystem;

void init() {
  setenv("OMP_NUM_THREADS", "1", /*overwrite=*/0);
  spdlog::set_level(spdlog::level::off);
  // protobuf logs every string field with invalid UTF-8 it parses or writes (tf.Example's feature
  // names): noise that slows fuzzing down. Parse results are what the targets check.
  google::protobuf::SetLogHandler(nullptr);
}

namespace {

fs::path make_scratch_dir() {
  fs::path base;
  if (const char* env = std::getenv("LITEPIPE_FUZZ_TMPDIR"); env && *env) {
    base = env;
  } else {
    std::error_code ec;
    base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
  }
  std::string pattern = (base / "litepipe-fuzz-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("fuzz: cannot create a scratch folder under " + base.string());
  fs::path dir = pattern;
  static fs::path to_remove;
  to_remove = dir;
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(to_remove, ec);
  });
  return dir;
}

}  // namespace

const fs::path& scratch_dir() {
  static const fs::path dir = make_scratch_dir();
  return dir;
}

fs::path write_scratch_file(const std::string& name, std::string_view bytes) {
  fs::path path = scratch_dir() / name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("fuzz: cannot write " + path.string());
  size_t written = bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), f);
  if (std::fclose(f) != 0 || written != bytes.size()) throw std::runtime_error("fuzz: cannot write " + path.string());
  return path;
}

}  // namespace litepipe::fuzz
