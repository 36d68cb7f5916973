#pragma once
// Element-wise work split into one contiguous range per OpenMP thread, for arrays large enough to
// pay for waking the threads; smaller ones run on the calling thread without an OpenMP region.
#include <cstdint>

#include <omp.h>

namespace litepipe::nn {

// kernel(begin, end) over [0, n), in parallel from `parallel_from` elements on.
template <class Kernel>
void for_ranges(int64_t n, int64_t parallel_from, const Kernel& kernel) {
  if (n < parallel_from || omp_get_max_threads() == 1) {
    kernel(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    kernel(n * t / threads, n * (t + 1) / threads);
  }
}

}  // namespace litepipe::nn
