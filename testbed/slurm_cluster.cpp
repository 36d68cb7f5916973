#include "slurm_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "postgres_server.h"

extern char** environ;

namespace litepipe::testing {

namespace fs = std::filesystem;

std::optional<fs::path> find_program(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  std::stringstream dirs(path + ":/usr/sbin:/sbin:/usr/local/sbin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((fs::path(dir) / name).c_str(), X_OK) == 0) return fs::path(dir) / name;
  return std::nullopt;
}

std::string output_of(const std::string& command) {
  std::string text;
  if (FILE* pipe = ::popen((command + " 2>&1").c_str(), "r")) {
    char buffer[512];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) text.append(buffer, n);
    ::pclose(pipe);
  }
  return text;
}

std::map<std::string, fs::path> slurm_programs(std::string& missing) {
  std::map<std::string, fs::path> programs;
  missing.clear();
  for (const char* name : {"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo"}) {
    if (auto path = find_program(name)) programs[name] = *path;
    else missing += std::string(missing.empty() ? "" : ", ") + name;
  }
  return programs;
}

SlurmCluster::SlurmCluster(const std::map<std::string, fs::path>& programs) : programs_(programs) {
  std::string pattern = (fs::temp_directory_path() / "litepipe-slurm-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  dir_ = pattern;
  try {
    start();
  } catch (...) {
    stop();
    throw;
  }
}

SlurmCluster::~SlurmCluster() { stop(); }

std::string SlurmCluster::logs() const {
  std::string text;
  for (const char* log : {"munged.log", "slurmctld.log", "slurmd.log"}) text += fmt::format("--- {}:\n{}\n", log, file_text(dir_ / log));
  return text;
}

template <typename Ready>
void SlurmCluster::wait_for(Ready ready, const std::string& what) {
  for (int i = 0; i < 300; ++i) {
    if (ready()) return;
    for (const auto& d : daemons_) {
      int status = 0;
      if (::waitpid(d.second, &status, WNOHANG) == d.second) {
        exited_.push_back(d.second);
        throw std::runtime_error(fmt::format("{} exited (status {}) while waiting for {}:\n{}{}", d.first, status, what,
                                             file_text(dir_ / (d.first + ".out")), logs()));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("timed out after 30 s waiting for " + what + ":\n" + logs());
}

void SlurmCluster::start() {
  // munged insists that everyone may enter its socket's folder, and that its key is private.
  ::chmod(dir_.c_str(), 0755);
  fs::create_directories(dir_ / "state");
  fs::create_directories(dir_ / "spool");
  std::string key(1024, '\0');
  std::random_device random;
  for (auto& byte : key) byte = static_cast<char>(random());
  fs::path key_file = dir_ / "munge.key";
  { std::ofstream(key_file, std::ios::binary) << key; }
  ::chmod(key_file.c_str(), 0600);
  fs::path socket = dir_ / "munge.socket";
  spawn("munged", {"--foreground", "--socket=" + socket.string(), "--key-file=" + key_file.string(), "--log-file=" + (dir_ / "munged.log").string(),
                   "--pid-file=" + (dir_ / "munged.pid").string(), "--seed-file=" + (dir_ / "munged.seed").string()},
        "munged.out");
  wait_for([&] { return fs::exists(socket); }, "munged to create its socket " + socket.string());

  // As root the daemons and the jobs run as root; otherwise as this user, who runs everything.
  std::string user = ::geteuid() == 0 ? "root" : output_of("id -un");
  while (!user.empty() && std::isspace(static_cast<unsigned char>(user.back()))) user.pop_back();
  unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  fs::path conf = dir_ / "slurm.conf";
  std::ofstream(conf) << fmt::format(
      "ClusterName=litepipe-test\n"
      "SlurmctldHost=localhost\n"
      "SlurmctldPort={}\n"
      "SlurmdPort={}\n"
      "SlurmUser={}\n"
      "SlurmdUser={}\n"
      "AuthType=auth/munge\n"
      "CredType=cred/munge\n"
      "AuthInfo=socket={}\n"
      "StateSaveLocation={}\n"
      "SlurmdSpoolDir={}\n"
      "SlurmctldPidFile={}\n"
      "SlurmdPidFile={}\n"
      "SlurmctldLogFile={}\n"
      "SlurmdLogFile={}\n"
      // No cgroups in a container: processes are tracked by parent pid, tasks are not bound.
      "ProctrackType=proctrack/linuxproc\n"
      "TaskPlugin=task/none\n"
      "SelectType=select/cons_tres\n"
      "SelectTypeParameters=CR_Core\n"
      "MpiDefault=none\n"
      "SwitchType=switch/none\n"
      "JobAcctGatherType=jobacct_gather/none\n"
      "AccountingStorageType=accounting_storage/none\n"
      "ReturnToService=2\n"
      // Start a job as soon as its dependencies complete (Slurm batches starts by 3 s by default).
      "SchedulerParameters=batch_sched_delay=0\n"
      "MailProg=/bin/true\n"
      "NodeName=localhost NodeAddr=127.0.0.1 CPUs={} State=UNKNOWN\n"
      "PartitionName={} Nodes=localhost Default=YES MaxTime=INFINITE State=UP\n",
      testing::free_port(), testing::free_port(), user, user, socket.string(), (dir_ / "state").string(), (dir_ / "spool").string(),
      (dir_ / "slurmctld.pid").string(), (dir_ / "slurmd.pid").string(), (dir_ / "slurmctld.log").string(),
      (dir_ / "slurmd.log").string(), cpus, kPartition);
  const char* previous = std::getenv("SLURM_CONF");
  if (previous) previous_conf_ = previous;
  ::setenv("SLURM_CONF", conf.c_str(), 1);
  conf_set_ = true;

  spawn("slurmctld", {"-D", "-i", "-f", conf.string()}, "slurmctld.out");
  spawn("slurmd", {"-D", "-N", "localhost", "-f", conf.string()}, "slurmd.out");
  // The node is usable once it has registered with the controller.
  std::string state;
  wait_for([&] {
        state = output_of("sinfo --noheader --nodes=localhost --format=%t");
        return state.starts_with("idle");
      }, "the node to register idle");
}

void SlurmCluster::spawn(const std::string& name, const std::vector<std::string>& args, const std::string& out) {
  std::string program = programs_.at(name).string();
  std::vector<std::string> all = {program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  std::string out_file = (dir_ / out).string();
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error(fmt::format("cannot start {}: {}", program, std::strerror(rc)));
  daemons_.push_back({name, pid});
}

void SlurmCluster::stop() {
  // Jobs first (their processes belong to slurmd's step daemons), then the daemons, newest first.
  if (conf_set_ && !daemons_.empty()) {
    std::string jobs = output_of("squeue --noheader --format=%i");
    if (jobs.find_first_of("0123456789") != std::string::npos) {
      output_of("scancel --full " + std::regex_replace(jobs, std::regex("\\s+"), " "));
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  for (auto it = daemons_.rbegin(); it != daemons_.rend(); ++it) {
    pid_t pid = it->second;
    if (std::find(exited_.begin(), exited_.end(), pid) != exited_.end()) continue;
    ::kill(pid, SIGTERM);
    int status = 0;
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
      gone = ::waitpid(pid, &status, WNOHANG) == pid;
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!gone) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
  daemons_.clear();
  if (conf_set_) {
    if (previous_conf_.empty()) ::unsetenv("SLURM_CONF");
    else ::setenv("SLURM_CONF", previous_conf_.c_str(), 1);
    conf_set_ = false;
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace litepipe::testing
