#pragma once
// What two runs wrote, in a form that compares equal when the content is the same.
#include <filesystem>
#include <map>
#include <string>

namespace litepipe::testing {

// Every file under `dir` by relative path, with its bytes; TFRecord files by their examples in
// text form (the gzip header names the writer's temporary file, and protobuf writes map entries
// in an order that differs between processes; text form sorts them).
std::map<std::string, std::string> files_under(const std::filesystem::path& dir);

}  // namespace litepipe::testing
