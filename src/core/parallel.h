#pragma once
// Runs fn(i) for i in [0, n) on up to `threads` workers (0 = all cores); the first exception thrown
// by any task is rethrown in the caller after all workers stop.
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace litepipe {

inline size_t default_threads() {
  size_t n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

inline void parallel_for(size_t n, const std::function<void(size_t)>& fn, size_t threads = 0) {
  if (threads == 0) threads = default_threads();
  threads = std::min(threads, n);
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        next = n;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace litepipe
