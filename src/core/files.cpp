#include "core/files.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cctype>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace litepipe {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open for reading", path.string());
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) fail("{}: read error", path.string());
  return std::move(out).str();
}

void write_file_atomic(const fs::path& path, std::string_view contents) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  // POSIX calls, so a full disk is reported as such (errno), including at close.
  auto failed = [&](const char* what, int fd) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    std::error_code ec;
    fs::remove(tmp, ec);
    fail("{}: {} failed: {}", tmp.string(), what, std::strerror(err));
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) failed("open for writing", -1);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) failed("write", fd);
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) failed("close", -1);
  fs::rename(tmp, path);
}

nlohmann::json read_json_file(const fs::path& path) {
  std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: malformed JSON at byte {}: {}", path.string(), e.byte, e.what());
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double (1e400)
    fail("{}: unreadable JSON: {}", path.string(), e.what());
  }
}

void write_json_file_atomic(const fs::path& path, const nlohmann::json& value) {
  // Strings from data (feature values, names) may not be UTF-8: invalid bytes become U+FFFD
  // rather than failing the write.
  write_file_atomic(path, value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

std::vector<fs::path> list_files(const fs::path& root) {
  std::vector<fs::path> files;
  if (fs::is_regular_file(root)) return {root};
  if (!fs::is_directory(root)) fail("{}: no such file or directory", root.string());
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<fs::path> glob_files(const fs::path& dir, const std::string& pattern) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() &&
        ::fnmatch(pattern.c_str(), entry.path().filename().c_str(), 0) == 0) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

fs::path resolve_path(const fs::path& base, const fs::path& path) {
  if (path.empty() || path.is_absolute()) return path;
  return (base / path).lexically_normal();
}

void check_path_name(const std::string& name, const std::string& what) {
  // The name as printable text: other bytes as \xNN.
  auto shown = [&] {
    std::string s;
    for (unsigned char c : name) s += std::isprint(c) ? std::string(1, static_cast<char>(c)) : fmt::format("\\x{:02x}", c);
    return s;
  };
  if (name.empty()) fail("{} must not be empty", what);
  if (name.front() == '.') fail("{} '{}' must not start with '.'", what, shown());
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      fail("{} '{}' may hold letters, digits, '_', '-' and '.' only (it names a folder)", what, shown());
    }
  }
}

void copy_tree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    fs::path target = to / entry.path().filename();
    if (entry.is_symlink()) fail("{}: is a symlink; refusing to copy it", entry.path().string());
    if (entry.is_directory()) {
      copy_tree(entry.path(), target);
    } else if (entry.is_regular_file()) {
      int in = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
      if (in < 0) fail("{}: cannot open: {}", entry.path().string(), std::strerror(errno));
      int out = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (out < 0) {
        int err = errno;
        ::close(in);
        fail("{}: cannot create: {}", target.string(), std::strerror(err));
      }
      char buffer[1 << 16];
      while (true) {
        ssize_t n = ::read(in, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          int err = errno;
          ::close(in), ::close(out);
          fail("{}: read failed: {}", entry.path().string(), std::strerror(err));
        }
        if (n == 0) break;
        for (ssize_t done = 0; done < n;) {
          ssize_t w = ::write(out, buffer + done, static_cast<size_t>(n - done));
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) {
            int err = errno;
            ::close(in), ::close(out);
            fail("{}: write failed: {}", target.string(), std::strerror(err));
          }
          done += w;
        }
      }
      ::close(in);
      if (::close(out) != 0) fail("{}: close failed: {}", target.string(), std::strerror(errno));
    }
  }
}

fs::path create_directories_under(const fs::path& root, const fs::path& relative) {
  // Another process may remove a folder just made here while it is still empty (a runner drops
  // an empty <root>/.staging when its job ends): then the next level fails and the walk starts over.
  for (int attempt = 1;; ++attempt) {
    fs::path at = root;
    try {
      for (const auto& part : relative) {
        if (part == ".." || part == "." || part.empty()) fail("{}: path '{}' must stay under the root", root.string(), relative.string());
        at /= part;
        auto status = fs::symlink_status(at);
        if (fs::is_symlink(status)) fail("{}: is a symlink; litepipe does not write through links inside its root", at.string());
        if (!fs::exists(status)) fs::create_directory(at);
        else if (!fs::is_directory(status)) fail("{}: exists and is not a folder", at.string());
      }
      return at;
    } catch (const fs::filesystem_error& e) {
      if (e.code() != std::errc::no_such_file_or_directory || attempt == 10) throw;
    }
  }
}

}  // namespace litepipe
