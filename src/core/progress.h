#pragma once
// Progress of long work: a live line (done/total, items/s, ETA) when stderr is a terminal,
// nothing when it is not (CI logs stay quiet).
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace litepipe {

class Progress {
 public:
  Progress(std::string label, uint64_t total, std::string unit = "examples");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(uint64_t n = 1);  // thread-safe
  void finish();
  static bool enabled();

 private:
  void draw(bool final_line);

  std::string label_;
  std::string unit_;
  uint64_t total_;
  uint64_t done_ = 0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::mutex mutex_;
};

}  // namespace litepipe
