#include "core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace litepipe {

bool Progress::enabled() {
  static const bool on = ::isatty(STDERR_FILENO) != 0 && std::getenv("CI") == nullptr;
  return on;
}

Progress::Progress(std::string label, uint64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::advance(uint64_t n) {
  if (!enabled()) return;
  std::lock_guard lock(mutex_);
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ > std::chrono::milliseconds(100)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (!enabled()) return;
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final_line) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = seconds > 0 ? static_cast<double>(done_) / seconds : 0.0;
  if (total_ > 0) {
    double eta = rate > 0 && done_ < total_ ? static_cast<double>(total_ - done_) / rate : 0.0;
    std::fprintf(stderr, "\r%s: %llu/%llu %s (%.0f/s, ETA %.1fs)   ", label_.c_str(),
                 static_cast<unsigned long long>(done_), static_cast<unsigned long long>(total_),
                 unit_.c_str(), rate, eta);
  } else {
    std::fprintf(stderr, "\r%s: %llu %s (%.0f/s)   ", label_.c_str(),
                 static_cast<unsigned long long>(done_), unit_.c_str(), rate);
  }
  if (final_line) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace litepipe
