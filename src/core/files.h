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

// A name that becomes one path component (a component id, a split, an output key): letters,
// digits, '_', '-' and '.', not starting with '.', so it can never be "..", hidden, or hold a
// separator. `what` names it in the error.
void check_path_name(const std::string& name, const std::string& what);

// Copies a folder tree file by file (errors carry errno's text, e.g. "No space left on device");
// symlinks inside `from` are refused rather than followed.
void copy_tree(const fs::path& from, const fs::path& to);

// Creates `root / relative` folder by folder, refusing to go through a symlink below `root`, so
// that nothing written under a pipeline root can land outside it.
fs::path create_directories_under(const fs::path& root, const fs::path& relative);

}  // namespace litepipe
