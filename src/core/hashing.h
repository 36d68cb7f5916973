#pragma once
// Content fingerprints (xxHash XXH3): cache keys, file fingerprints and split buckets.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace litepipe {

uint64_t hash64(std::string_view bytes);
// 128-bit digest as 32 hex characters.
std::string hash128_hex(std::string_view bytes);
// Digest of a file's contents (streamed).
std::string file_content_hash(const std::filesystem::path& path);
// Digest of a file or a directory tree's names, sizes and modification times: cheap, and changes
// whenever the data is rewritten (as TFX's ExampleGen input fingerprint).
std::string tree_fingerprint(const std::filesystem::path& root);

}  // namespace litepipe
