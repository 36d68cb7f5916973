#pragma once
// A one-node Slurm cluster of the tests' (and the scale-out benchmark's) own.
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace litepipe::testing {

// A program looked up on PATH and in sbin (where Debian puts the daemons).
std::optional<std::filesystem::path> find_program(const std::string& name);

// What a command printed (stdout and stderr), for the cluster's own status queries.
std::string output_of(const std::string& command);

// The daemons and client commands the cluster needs, by name; `missing` lists those not found
// (comma-separated, empty when all are there).
std::map<std::string, std::filesystem::path> slurm_programs(std::string& missing);

inline constexpr const char* kSlurmInstallHint = "Debian's slurm-wlm and munge packages; scripts/install.sh installs them";

// A one-node Slurm cluster in a temporary folder: munged, slurmctld and slurmd run in the
// foreground as this process's children, so the destructor (also on a failed test) can stop
// them; SLURM_CONF points the client commands (and the litepipe runner) at it meanwhile.
class SlurmCluster {
 public:
  static constexpr const char* kPartition = "litepipe";

  explicit SlurmCluster(const std::map<std::string, std::filesystem::path>& programs);
  ~SlurmCluster();
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  // The daemons' logs, for a failure message.
  std::string logs() const;

 private:
  void start();
  void spawn(const std::string& name, const std::vector<std::string>& args, const std::string& out);
  // Polls `ready` for up to 30 s; a daemon that exits meanwhile, or the time running out, throws
  // with what the daemons wrote.
  template <typename Ready>
  void wait_for(Ready ready, const std::string& what);
  void stop();

  std::map<std::string, std::filesystem::path> programs_;
  std::filesystem::path dir_;
  std::vector<std::pair<std::string, pid_t>> daemons_;
  std::vector<pid_t> exited_;
  std::string previous_conf_;
  bool conf_set_ = false;
};

}  // namespace litepipe::testing
