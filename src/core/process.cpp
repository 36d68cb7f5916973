#include "core/process.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

extern char** environ;

namespace litepipe {

int run_program(const std::vector<std::string>& argv) {
  if (argv.empty()) fail("run_program: no program given");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (int rc = posix_spawnp(&pid, argv[0].c_str(), nullptr, nullptr, args.data(), environ); rc != 0) {
    fail("cannot start {}: {}", argv[0], std::strerror(rc));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail("waiting for {}: {}", argv[0], std::strerror(errno));
  }
  if (WIFSIGNALED(status)) fail("{} was killed by signal {}", argv[0], WTERMSIG(status));
  return WEXITSTATUS(status);
}

}  // namespace litepipe
