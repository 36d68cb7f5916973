#pragma once
// The one RAII guard for OpenMP thread-count changes: for its lifetime, parallel regions the
// calling thread starts (litepipe's loops, oneDNN's primitives and GEMMs) use `threads` threads;
// the caller's setting comes back on destruction, also during unwinding. `threads` <= 0 changes
// nothing.
#include <omp.h>

namespace litepipe {

class ScopedThreadCount {
 public:
  explicit ScopedThreadCount(int threads) : saved_(omp_get_max_threads()), active_(threads > 0 && threads != saved_) {
    if (active_) omp_set_num_threads(threads);
  }
  ~ScopedThreadCount() {
    if (active_) omp_set_num_threads(saved_);
  }
  ScopedThreadCount(const ScopedThreadCount&) = delete;
  ScopedThreadCount& operator=(const ScopedThreadCount&) = delete;

 private:
  int saved_;
  bool active_;
};

}  // namespace litepipe
