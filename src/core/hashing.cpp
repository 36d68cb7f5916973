#include "core/hashing.h"

#include <xxhash.h>

#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"
#include "core/files.h"

namespace litepipe {

uint64_t hash64(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

static std::string hex128(XXH128_hash_t h) { return fmt::format("{:016x}{:016x}", h.high64, h.low64); }

std::string hash128_hex(std::string_view bytes) {
  return hex128(XXH3_128bits(bytes.data(), bytes.size()));
}

std::string file_content_hash(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open to fingerprint", path.string());
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    XXH3_128bits_update(state, buffer.data(), static_cast<size_t>(in.gcount()));
  }
  std::string result = hex128(XXH3_128bits_digest(state));
  XXH3_freeState(state);
  return result;
}

std::string tree_fingerprint(const std::filesystem::path& root) {
  std::string summary;
  for (const auto& file : list_files(root)) {
    auto mtime = std::filesystem::last_write_time(file).time_since_epoch().count();
    summary += fmt::format("{}\t{}\t{}\n", file.string(), std::filesystem::file_size(file), mtime);
  }
  return hash128_hex(summary);
}

}  // namespace litepipe
