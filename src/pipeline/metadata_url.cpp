// Metadata URLs: the one place they are read, so another store is one more scheme here behind the
// MetadataStore interface.
#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <vector>

#include "core/error.h"
#include "pipeline/metadata_store.h"

namespace litepipe {
namespace {

constexpr const char* kExpected = "expected sqlite:///ABSOLUTE/PATH or postgresql://USER@HOST:PORT/DATABASE";
constexpr const char* kPostgresForm = "postgresql://USER@HOST:PORT/DATABASE";

// `url` without what may hold a password (the password after "user:", the query), for messages
// about a URL libpq could not parse.
std::string without_secrets(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  std::string rest = url.substr(start);
  if (size_t query = rest.find('?'); query != std::string::npos) rest.resize(query);
  size_t slash = rest.find('/'), at = rest.rfind('@', slash);
  if (at != std::string::npos) {
    size_t colon = rest.find(':');
    if (colon < at) rest.erase(colon, at - colon);
  }
  return url.substr(0, start) + rest;
}

// A PostgreSQL URL checked by libpq's own parser (the one the connection uses), so every form
// libpq accepts works: query parameters such as sslmode, several hosts, percent-encoding.
MetadataUrl parse_postgres_url(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (!options) {
    std::string why = error ? error : "out of memory";
    PQfreemem(error);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    fail("metadata URL '{}': {}; expected {}", without_secrets(url), why, kPostgresForm);
  }
  std::map<std::string, std::string> given;  // only what the URL sets: libpq fills in no defaults here
  for (PQconninfoOption* o = options; o->keyword; ++o)
    if (o->val && *o->val) given[o->keyword] = o->val;
  PQconninfoFree(options);

  // host and port may be lists (libpq tries each host in turn); one port applies to every host.
  auto split = [](const std::string& list) {
    std::vector<std::string> items;
    for (size_t begin = 0; !list.empty() && begin <= list.size();) {
      size_t end = std::min(list.find(',', begin), list.size());
      items.push_back(list.substr(begin, end - begin));
      begin = end + 1;
    }
    return items;
  };
  std::vector<std::string> hosts = split(given["host"].empty() ? given["hostaddr"] : given["host"]), ports = split(given["port"]);
  std::string authority;
  for (size_t i = 0; i < hosts.size(); ++i) {
    std::string port = ports.size() == 1 ? ports[0] : i < ports.size() ? ports[i] : "";
    bool ipv6 = hosts[i].find(':') != std::string::npos;
    authority += fmt::format("{}{}{}{}{}{}", i ? "," : "", ipv6 ? "[" : "", hosts[i], ipv6 ? "]" : "", port.empty() ? "" : ":", port);
  }
  std::string user = given["user"];
  std::string display = fmt::format("postgresql://{}{}{}/{}", user, user.empty() ? "" : "@", authority, given["dbname"]);
  if (hosts.empty()) fail("metadata URL '{}': no host; expected {}", display, kPostgresForm);
  if (given["dbname"].empty()) fail("metadata URL '{}': no database name; expected {}", display, kPostgresForm);
  // libpq checks ports only when connecting; a typo is reported here, before any job runs.
  for (const auto& port : ports) {
    int number = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535) {
      fail("metadata URL '{}': port '{}' is not a number from 1 to 65535; expected {}", display, port, kPostgresForm);
    }
  }
  // A server that does not answer fails the job after 10 s instead of hanging it (unless set).
  std::string connection = url;
  auto add = [&connection](const char* parameter) {
    connection += connection.find('?') == std::string::npos ? '?' : '&';
    connection += parameter;
  };
  if (!given.count("connect_timeout")) add("connect_timeout=10");
  if (!given.count("application_name")) add("application_name=litepipe");  // names the jobs in pg_stat_activity
  return {"postgresql", connection, display};
}

}  // namespace

MetadataUrl parse_metadata_url(const std::string& url) {
  constexpr std::string_view kSqlite = "sqlite://";
  if (url.starts_with(kSqlite)) {
    // As in file:// URLs the authority is empty, so the path after "sqlite://" is absolute.
    std::string path = url.substr(kSqlite.size());
    if (path.empty() || path[0] != '/' || path == "/") {
      fail("metadata URL '{}': expected sqlite:///ABSOLUTE/PATH (three slashes, then the database file)", url);
    }
    return {"sqlite", path, url};
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) return parse_postgres_url(url);
  auto colon = url.find("://");
  fail("metadata URL '{}': unsupported {}; {}", without_secrets(url),
       colon == std::string::npos ? std::string("form") : "scheme '" + url.substr(0, colon) + "'", kExpected);
}

std::unique_ptr<MetadataStore> open_metadata_store(const std::string& url) {
  MetadataUrl parsed = parse_metadata_url(url);
  if (parsed.scheme == "postgresql") return open_postgres_metadata_store(parsed.location, parsed.display);
  return open_sqlite_metadata_store(parsed.location);
}

std::string sqlite_metadata_url(const std::filesystem::path& file) {
  return "sqlite://" + std::filesystem::absolute(file).lexically_normal().string();
}

}  // namespace litepipe
