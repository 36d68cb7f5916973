#include "postgres_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <pqxx/pqxx>

namespace litepipe::testing {

namespace fs = std::filesystem;

std::optional<fs::path> postgres_bindir() {
  auto has_programs = [](const fs::path& dir) { return fs::exists(dir / "initdb") && fs::exists(dir / "pg_ctl"); };
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');)
      if (!dir.empty() && has_programs(dir)) return fs::path(dir);
  }
  std::optional<fs::path> best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int version = std::atoi(entry.path().filename().c_str());
    if (version > best_version && has_programs(entry.path() / "bin")) {
      best = entry.path() / "bin";
      best_version = version;
    }
  }
  return best;
}

std::string shell_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string file_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

PostgresServer::PostgresServer(const fs::path& bindir) : bindir_(bindir) {
  std::string pattern = (fs::temp_directory_path() / "litepipe-pg-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  dir_ = pattern;
  try {
    if (::geteuid() == 0) {
      passwd* user = ::getpwnam("postgres");
      if (!user) throw std::runtime_error("running as root, the PostgreSQL server needs the user 'postgres' to run as (Debian's postgresql package creates it)");
      if (::chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0) throw std::runtime_error("cannot chown " + dir_.string());
      as_user_ = "runuser -u postgres -- ";
    }
    run_program("initdb", "-D " + shell_quoted((dir_ / "data").string()) + " -U litepipe -A trust -E UTF8 --locale=C --no-sync", "initdb.log");
    for (int attempt = 0; attempt < 5 && !running_; ++attempt) {
      port_ = free_port();  // another process may take it first: then try another
      start();
    }
    if (!running_) throw std::runtime_error("pg_ctl start failed:\n" + file_text(dir_ / "pg_ctl.log") + file_text(dir_ / "server.log"));
  } catch (...) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    throw;
  }
}

PostgresServer::~PostgresServer() {
  stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

bool PostgresServer::start() {
  std::string options = fmt::format(
      "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
      "-c shared_buffers=16MB -c max_connections=60",
      port_, shell_quoted(dir_.string()));
  running_ = run_program("pg_ctl", "-D " + shell_quoted((dir_ / "data").string()) + " -l " + shell_quoted((dir_ / "server.log").string()) +
                                       " -w -t 60 -o " + shell_quoted(options) + " start",
                         "pg_ctl.log") == 0;
  return running_;
}

void PostgresServer::stop() {
  if (running_) run_program("pg_ctl", "-D " + shell_quoted((dir_ / "data").string()) + " -m fast -w stop", "pg_ctl-stop.log");
  running_ = false;
}

std::string PostgresServer::url(const std::string& database) const {
  return fmt::format("postgresql://litepipe@127.0.0.1:{}/{}", port_, database);
}

void PostgresServer::create_database(const std::string& name) {
  pqxx::connection connection(url("postgres"));
  pqxx::nontransaction tx(connection);
  tx.exec("CREATE DATABASE " + tx.quote_name(name));
}

int PostgresServer::run_program(const std::string& program, const std::string& args, const std::string& log) {
  std::string command = fmt::format("cd {} && {}{} {} > {} 2>&1", shell_quoted(dir_.string()), as_user_,
                                    shell_quoted((bindir_ / program).string()), args, shell_quoted((dir_ / log).string()));
  int status = std::system(command.c_str());
  if (program == "initdb" && status != 0) throw std::runtime_error("initdb failed:\n" + file_text(dir_ / log));
  return status;
}

}  // namespace litepipe::testing
