// Metadata URLs: the one place they are read, so another store (a database server) is one more
// scheme here behind the MetadataStore interface.
#include <filesystem>

#include "core/error.h"
#include "pipeline/metadata_store.h"

namespace litepipe {

MetadataUrl parse_metadata_url(const std::string& url) {
  constexpr std::string_view kSqlite = "sqlite://";
  if (url.starts_with(kSqlite)) {
    // As in file:// URLs the authority is empty, so the path after "sqlite://" is absolute.
    std::string path = url.substr(kSqlite.size());
    if (path.empty() || path[0] != '/' || path == "/") {
      fail("metadata URL '{}': expected sqlite:///ABSOLUTE/PATH (three slashes, then the database file)", url);
    }
    return {"sqlite", path};
  }
  auto colon = url.find("://");
  fail("metadata URL '{}': unsupported {}; expected sqlite:///ABSOLUTE/PATH", url,
       colon == std::string::npos ? std::string("form") : "scheme '" + url.substr(0, colon) + "'");
}

std::unique_ptr<MetadataStore> open_metadata_store(const std::string& url) {
  MetadataUrl parsed = parse_metadata_url(url);
  return open_sqlite_metadata_store(parsed.location);
}

std::string sqlite_metadata_url(const std::filesystem::path& file) {
  return "sqlite://" + std::filesystem::absolute(file).lexically_normal().string();
}

}  // namespace litepipe
