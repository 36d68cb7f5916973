#pragma once
// Logging goes through spdlog; this sets the one format the CLI and the runner use.
#include <spdlog/spdlog.h>

namespace litepipe {
void init_logging(bool verbose);
}
