#pragma once
// One exception type for every user-facing failure: the message names the file, the field or
// offset, and what was expected, so the CLI can print it as is.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace litepipe {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace litepipe
