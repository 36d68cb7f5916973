#pragma once
// File helpers that keep artifacts whole: everything is written to a temp path and renamed.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace litepipe {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path);
// Writes `path.tmp-<pid>` then renames over `path`: readers see the old or the new file, never half.
void write_file_atomic(const fs::path& path, std::string_view contents);
nlohmann::json read_json_file(const fs::path& path);
void write_json_file_atomic(const fs::path& path, const nlohmann::json& value);

// Regular files under `root` (or `root` itself if it is a file), sorted by path.
std::vector<fs::path> list_files(const fs::path& root);
// Files under `dir` whose name matches a shell glob such as "*.gz" (non-recursive), sorted.
std::vector<fs::path> glob_files(const fs::path& dir, const std::string& pattern);

// Resolves `path` against `base` unless it is absolute.
fs::path resolve_path(const fs::path& base, const fs::path& path);

}  // namespace litepipe
