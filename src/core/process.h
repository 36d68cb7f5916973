#pragma once
// Starting another program and waiting for it, its output going where this process's goes.
#include <string>
#include <vector>

namespace litepipe {

// Runs `argv` (argv[0] looked up on PATH when it has no '/') with this process's environment
// and returns its exit status. A program that cannot be started, or that a signal ended, is an
// error naming it.
int run_program(const std::vector<std::string>& argv);

}  // namespace litepipe
