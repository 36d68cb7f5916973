#pragma once
// A PostgreSQL server of the tests' own (the metadata-store and Slurm tests share it, and the
// scale-out benchmark starts one), and the small process helpers it needs.
#include <filesystem>
#include <optional>
#include <string>

namespace litepipe::testing {

inline constexpr const char* kPostgresInstallHint =
    "PostgreSQL's server programs (initdb, pg_ctl) are not on PATH nor in /usr/lib/postgresql/<version>/bin; "
    "install Debian's postgresql package (scripts/install.sh does)";

// Where initdb and pg_ctl are: on PATH, else the newest of Debian's /usr/lib/postgresql/<version>/bin.
std::optional<std::filesystem::path> postgres_bindir();

// `s` in single quotes for /bin/sh.
std::string shell_quoted(const std::string& s);

// A loopback port nothing listens on now (the kernel's pick).
int free_port();

// A file's text ("" when it cannot be read).
std::string file_text(const std::filesystem::path& path);

// A cluster in a temporary folder, listening on a free loopback port with its sockets in that
// folder; stopped and removed by the destructor (also when the test fails). PostgreSQL refuses to
// run as root, so as root its programs run as the `postgres` user (Debian's package creates it),
// which then owns the folder.
class PostgresServer {
 public:
  explicit PostgresServer(const std::filesystem::path& bindir);
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Starts the server on its port (fsync off: the data is thrown away); true when it runs.
  bool start();
  void stop();

  std::string url(const std::string& database) const;
  void create_database(const std::string& name);

 private:
  // Runs a server program (from the folder it owns: the user it runs as may not enter ours).
  int run_program(const std::string& program, const std::string& args, const std::string& log);

  std::filesystem::path bindir_, dir_;
  std::string as_user_;
  int port_ = 0;
  bool running_ = false;
};

}  // namespace litepipe::testing
