#include "runners/slurm_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "compile/compile.h"
#include "core/error.h"
#include "core/files.h"
#include "pipeline/metadata_store.h"
#include "pipeline/runner.h"

extern char** environ;

namespace litepipe {
namespace {

namespace fs = std::filesystem;

struct CommandOutput {
  int status = 0;  // exit status; 128 + signal when killed
  std::string out, err;
};

// Runs a Slurm client program (found on PATH) with `args` as its argv, stdin from /dev/null, and
// collects what it prints. No shell: paths and ids reach the program exactly as given.
CommandOutput run_command(const std::vector<std::string>& args) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) fail("cannot create a pipe for {}: {}", args[0], std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    fail("cannot create a pipe for {}: {}", args[0], std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    if (rc == ENOENT) fail("{}: not found on PATH; the Slurm runner needs Slurm's client commands (Debian: slurm-client)", args[0]);
    fail("cannot start {}: {}", args[0], std::strerror(rc));
  }
  CommandOutput result;
  // Both pipes at once: a program filling one while we block on the other would never finish.
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_count = 2;
  while (open_count > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buffer[4096];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  for (auto& fd : fds)
    if (fd.fd >= 0) ::close(fd.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return result;
}

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

std::string joined(const std::vector<std::string>& parts, const std::string& separator) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : separator) + p;
  return s;
}

// States after which a job never runs again (squeue's long names).
bool is_final(const std::string& state) {
  static const std::set<std::string> kFinal = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
                                               "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT"};
  return kFinal.count(state) > 0;
}

// The last `count` non-empty lines of a job's log (it holds the component's error).
std::string log_tail(const fs::path& file, size_t count) {
  std::ifstream in(file);
  if (!in) return {};
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!trimmed(line).empty()) lines.push_back(line);
  size_t from = lines.size() > count ? lines.size() - count : 0;
  std::string tail;
  for (size_t i = from; i < lines.size(); ++i) tail += "    | " + lines[i] + "\n";
  return tail;
}

// The value of `key=` in `scontrol -o show job` output (space-separated key=value pairs).
std::string scontrol_field(const std::string& record, const std::string& key) {
  std::istringstream words(record);
  for (std::string word; words >> word;)
    if (word.starts_with(key + "=")) return word.substr(key.size() + 1);
  return {};
}

class SlurmRun {
 public:
  SlurmRun(const Pipeline& pipeline, const SlurmOptions& options) : pipeline_(pipeline), options_(options) {}

  SlurmRunResult run() {
    auto order = build_pipeline(pipeline_);
    if (!options_.metadata_url.empty()) parse_metadata_url(options_.metadata_url);  // a bad URL fails here, not in every job
    result_.run_id = options_.run_id.empty() ? new_run_id() : options_.run_id;
    fs::create_directories(pipeline_.root);
    fs::path log_dir = options_.log_dir.empty() ? pipeline_.root / "slurm-logs" / result_.run_id : options_.log_dir;
    // sbatch expands %j, %u, ... in --output; a path holding '%' would be rewritten.
    if (log_dir.string().find('%') != std::string::npos) fail("Slurm job log folder {}: must not contain '%' (sbatch expands it)", log_dir.string());
    fs::create_directories(log_dir);
    // The batch script only runs its arguments: the job's command travels as argv, never as text
    // a shell would have to re-parse.
    fs::path script = log_dir / "job.sh";
    write_file_atomic(script, "#!/bin/sh\n# A litepipe component job: runs its arguments.\nexec \"$@\"\n");
    if (options_.metadata_url.empty()) {
      spdlog::warn("metadata in the SQLite file {}: every job must run on this host; pass --metadata postgresql://... for a cluster",
                   pipeline_.metadata_file().string());
    }
    spdlog::info("pipeline {}: run {} on Slurm ({} jobs{}), logs in {}", pipeline_.name, result_.run_id, order.size(),
                 options_.partition.empty() ? "" : ", partition " + options_.partition, log_dir.string());

    CompileOptions job{.image = {}, .pipeline_file = fs::absolute(options_.pipeline_file).string(),
                       .pipeline_root = fs::absolute(pipeline_.root).string(), .metadata_url = options_.metadata_url};
    std::map<const Component*, size_t> index;
    try {
      for (const Component* c : order) {
        SlurmJob j;
        j.component_id = c->id();
        j.log_file = log_dir / (c->id() + ".log");
        std::set<std::string> after;
        for (const auto& input : c->inputs())
          if (input.second.producer) after.insert(result_.jobs.at(index.at(input.second.producer)).job_id);
        j.after.assign(after.begin(), after.end());
        j.job_id = submit(*c, j, script, job);
        j.state = "SUBMITTED";
        spdlog::info("{}: Slurm job {}{}", j.component_id, j.job_id, j.after.empty() ? "" : " (after " + joined(j.after, ", ") + ")");
        index[c] = result_.jobs.size();
        result_.jobs.push_back(std::move(j));
      }
    } catch (...) {
      cancel_all_unfinished("the run could not submit all its jobs");
      throw;
    }
    wait();
    size_t completed = 0;
    for (const auto& j : result_.jobs) completed += j.state == "COMPLETED";
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    spdlog::info("pipeline {}: run {} on Slurm: {} of {} jobs completed in {:.1f}s", pipeline_.name, result_.run_id, completed,
                 result_.jobs.size(), seconds);
    return result_;
  }

 private:
  // The processes a component runs on: its `num_workers` (the sharded data components) or
  // `train_args.num_workers` (the Trainer), validated when the pipeline was built; else 1.
  static int processes_of(const Component& c) {
    const nlohmann::json& props = c.exec_properties();
    const nlohmann::json* value = nullptr;
    if (auto it = props.find("num_workers"); it != props.end()) value = &*it;
    if (auto args = props.find("train_args"); args != props.end() && args->is_object()) {
      if (auto it = args->find("num_workers"); it != args->end()) value = &*it;
    }
    return value && value->is_number_integer() ? value->get<int>() : 1;
  }

  std::string submit(const Component& c, const SlurmJob& j, const fs::path& script, const CompileOptions& job) {
    std::vector<std::string> args = {"sbatch", "--parsable", "--job-name=" + pipeline_.name + ":" + c.id(),
                                     "--output=" + j.log_file.string(), "--chdir=" + job.pipeline_root,
                                     // Slurm itself drops a job whose upstream failed, should this runner be gone.
                                     "--kill-on-invalid-dep=yes"};
    if (!options_.partition.empty()) args.push_back("--partition=" + options_.partition);
    // A component on several processes starts `mpirun -np K` inside its job: the job asks for K
    // tasks, so that Slurm gives each process its own core (and Open MPI finds K slots).
    if (int workers = processes_of(c); workers > 1) args.push_back(fmt::format("--ntasks={}", workers));
    if (!j.after.empty()) args.push_back("--dependency=afterok:" + joined(j.after, ":"));
    args.push_back(script.string());
    args.push_back(fs::absolute(options_.program).string());
    for (auto& a : job_args(job, c.id(), result_.run_id)) args.push_back(std::move(a));
    if (!options_.enable_cache) args.push_back("--no-cache");
    CommandOutput out = run_command(args);
    // --parsable prints "<job id>" or "<job id>;<cluster>".
    std::string id = trimmed(out.out.substr(0, out.out.find(';')));
    bool numeric = !id.empty() && id.find_first_not_of("0123456789") == std::string::npos;
    if (out.status != 0 || !numeric) {
      fail("sbatch for component {} failed (exit status {}): {}", c.id(), out.status,
           trimmed(out.err).empty() ? "expected a job id, got '" + trimmed(out.out) + "'" : trimmed(out.err));
    }
    return id;
  }

  void wait() {
    int failed_polls = 0;
    while (true) {
      std::vector<std::string> active;
      for (const auto& j : result_.jobs)
        if (!is_final(j.state)) active.push_back(j.job_id);
      if (active.empty()) return;
      std::this_thread::sleep_for(std::chrono::duration<double>(options_.poll_seconds));
      CommandOutput out = run_command({"squeue", "--noheader", "--states=all", "--jobs=" + joined(active, ","), "--format=%i|%T|%r"});
      if (out.status != 0) {
        // The controller may be briefly busy or restarting: give up only when it stays away.
        if (++failed_polls * options_.poll_seconds >= 60) {
          cancel_all_unfinished("the runner lost contact with Slurm");
          fail("squeue failed for a minute (exit status {}): {}", out.status, trimmed(out.err));
        }
        spdlog::warn("squeue failed (exit status {}): {}; trying again", out.status, trimmed(out.err));
        continue;
      }
      failed_polls = 0;
      std::map<std::string, std::pair<std::string, std::string>> seen;  // job id -> state, reason
      std::istringstream lines(out.out);
      for (std::string line; std::getline(lines, line);) {
        auto bar1 = line.find('|'), bar2 = line.find('|', bar1 + 1);
        if (bar1 == std::string::npos || bar2 == std::string::npos) continue;
        seen[trimmed(line.substr(0, bar1))] = {line.substr(bar1 + 1, bar2 - bar1 - 1), trimmed(line.substr(bar2 + 1))};
      }
      for (size_t i = 0; i < result_.jobs.size(); ++i) {
        SlurmJob& j = result_.jobs[i];
        if (is_final(j.state)) continue;
        auto it = seen.find(j.job_id);
        std::string state, reason;
        if (it != seen.end()) {
          state = it->second.first;
          reason = it->second.second;
        } else {
          // Gone from the controller (MinJobAge passed unseen): accounting may still know.
          std::tie(state, reason) = from_accounting(j.job_id);
        }
        update(i, state, reason == "None" ? "" : reason);
      }
    }
  }

  // State and reason of a job the controller no longer holds, from sacct; FAILED with a reason
  // saying so when accounting is off.
  std::pair<std::string, std::string> from_accounting(const std::string& job_id) {
    CommandOutput out = run_command({"sacct", "--noheader", "--parsable2", "--allocations", "--jobs=" + job_id, "--format=State,ExitCode"});
    std::string line = trimmed(out.out.substr(0, out.out.find('\n')));
    if (out.status == 0 && !line.empty()) {
      std::string state = line.substr(0, line.find('|'));
      state = state.substr(0, state.find(' '));  // "CANCELLED by 0"
      return {state, ""};
    }
    return {"FAILED", "the job left the controller before its end was seen, and accounting (sacct) does not know it: " + trimmed(out.err)};
  }

  void update(size_t i, const std::string& state, const std::string& reason) {
    SlurmJob& j = result_.jobs[i];
    if (state == j.state && reason == j.reason) return;
    j.state = state;
    j.reason = reason;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (state == "COMPLETED") {
      spdlog::info("{}: job {} COMPLETED (at {:.1f}s)", j.component_id, j.job_id, seconds);
    } else if (is_final(state)) {
      std::string record = run_command({"scontrol", "--oneliner", "show", "job", j.job_id}).out;
      j.exit_code = scontrol_field(record, "ExitCode");
      spdlog::error("{}: job {} {}{}{}; log {}", j.component_id, j.job_id, state, reason.empty() ? "" : " (" + reason + ")",
                    j.exit_code.empty() ? "" : ", exit code " + j.exit_code, j.log_file.string());
      cancel_descendants(i);
    } else if (state == "PENDING" && reason == "DependencyNeverSatisfied") {
      // An upstream job failed without this runner seeing it end (it is cancelled with the others
      // when seen); a job that can never start is cancelled now.
      cancel({i}, "an upstream job did not complete");
    } else {
      spdlog::info("{}: job {} {}{}", j.component_id, j.job_id, state, reason.empty() ? "" : " (" + reason + ")");
    }
  }

  // Every job downstream of job `failed` that has not ended: cancelled, naming it.
  void cancel_descendants(size_t failed) {
    std::set<std::string> doomed = {result_.jobs[failed].job_id};
    std::vector<size_t> to_cancel;
    for (size_t i = failed + 1; i < result_.jobs.size(); ++i) {  // DAG order: upstream jobs come first
      bool downstream = false;
      for (const auto& a : result_.jobs[i].after) downstream = downstream || doomed.count(a) > 0;
      if (!downstream) continue;
      doomed.insert(result_.jobs[i].job_id);
      if (!is_final(result_.jobs[i].state)) to_cancel.push_back(i);
    }
    cancel(to_cancel, "upstream " + result_.jobs[failed].component_id + " (job " + result_.jobs[failed].job_id + ") " +
                          result_.jobs[failed].state);
  }

  void cancel(const std::vector<size_t>& jobs, const std::string& why) {
    if (jobs.empty()) return;
    std::vector<std::string> args = {"scancel"};
    for (size_t i : jobs) args.push_back(result_.jobs[i].job_id);
    CommandOutput out = run_command(args);
    if (out.status != 0) spdlog::warn("scancel {} failed: {}", joined({args.begin() + 1, args.end()}, " "), trimmed(out.err));
    for (size_t i : jobs) {
      SlurmJob& j = result_.jobs[i];
      j.state = "CANCELLED";
      j.reason = "cancelled: " + why;
      spdlog::warn("{}: job {} {}", j.component_id, j.job_id, j.reason);
    }
  }

  void cancel_all_unfinished(const std::string& why) {
    std::vector<size_t> jobs;
    for (size_t i = 0; i < result_.jobs.size(); ++i)
      if (!is_final(result_.jobs[i].state)) jobs.push_back(i);
    cancel(jobs, why);
  }

  const Pipeline& pipeline_;
  const SlurmOptions& options_;
  SlurmRunResult result_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

bool SlurmRunResult::ok() const {
  for (const auto& j : jobs)
    if (j.state != "COMPLETED") return false;
  return true;
}

std::string SlurmRunResult::failure_report() const {
  std::string report;
  for (const auto& j : jobs) {
    if (j.state == "COMPLETED") continue;
    if (j.reason.starts_with("cancelled: ")) {
      report += fmt::format("  {}: not run, job {} {}\n", j.component_id, j.job_id, j.reason);
      continue;
    }
    report += fmt::format("  {}: job {} {}{}{}, log {}\n", j.component_id, j.job_id, j.state, j.reason.empty() ? "" : " (" + j.reason + ")",
                          j.exit_code.empty() ? "" : ", exit code " + j.exit_code, j.log_file.string());
    report += log_tail(j.log_file, 5);
  }
  return report;
}

SlurmRunResult run_on_slurm(const Pipeline& pipeline, const SlurmOptions& options) { return SlurmRun(pipeline, options).run(); }

}  // namespace litepipe
