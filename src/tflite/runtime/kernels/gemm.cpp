#include "tflite/runtime/kernels/gemm.h"

#include <algorithm>
#include <vector>

#include "nn/dnnl_util.h"

namespace litepipe::tfl {
namespace {

// One row of c: (a_row - zero point) widened to int16 (|v| <= 255), then int16 x int16 dot
// products into int32, which vectorize as vpmaddwd: pair sums of at most 2 * 255 * 128 cannot
// saturate. k <= kExactDepth keeps every partial sum in int32.
constexpr int64_t kExactDepth = (int64_t{1} << 31) / (255 * 128) - 1;

__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void gemm_s8_row_dot(int64_t n, int64_t k, const int8_t* __restrict__ a, int32_t a_zero_point, const int8_t* __restrict__ b, int16_t* __restrict__ row,
                     int32_t* __restrict__ c) {
  for (int64_t i = 0; i < k; ++i) row[i] = static_cast<int16_t>(a[i] - a_zero_point);
  for (int64_t j = 0; j < n; ++j) {
    const int8_t* bj = b + j * k;
    int32_t sum = 0;
    for (int64_t i = 0; i < k; ++i) sum += int32_t{row[i]} * int32_t{bj[i]};
    c[j] = sum;
  }
}

// kBlock columns of one row of c in registers: the sum over k of (a[i] - zero point) times row i
// of b transposed ([k, n]). Unsigned arithmetic wraps as an int32 accumulator does.
template <int kBlock>
__attribute__((always_inline)) inline void broadcast_block(int64_t n, int64_t k, const int8_t* __restrict__ a, int32_t a_zero_point,
                                                           const int32_t* __restrict__ bt, int32_t* __restrict__ c) {
  uint32_t sum[kBlock] = {};
  for (int64_t i = 0; i < k; ++i) {
    const auto v = static_cast<uint32_t>(a[i] - a_zero_point);
    for (int l = 0; l < kBlock; ++l) sum[l] += v * static_cast<uint32_t>(bt[i * n + l]);
  }
  for (int l = 0; l < kBlock; ++l) c[l] = static_cast<int32_t>(sum[l]);
}

// One row of c vectorized over n, for short dot products (1x1 convolutions over few channels)
// that would not fill a vector.
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void gemm_s8_row_broadcast(int64_t n, int64_t k, const int8_t* __restrict__ a, int32_t a_zero_point, const int32_t* __restrict__ bt,
                           int32_t* __restrict__ c) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) broadcast_block<16>(n, k, a, a_zero_point, bt + j, c + j);
  for (; j + 8 <= n; j += 8) broadcast_block<8>(n, k, a, a_zero_point, bt + j, c + j);
  for (; j < n; ++j) broadcast_block<1>(n, k, a, a_zero_point, bt + j, c + j);
}

void gemm_s8_exact(int64_t m, int64_t n, int64_t k, const int8_t* a, int32_t a_zero_point, const int8_t* b, int32_t* c, int64_t single_thread_below) {
  // The transposition is paid once per call: worth it for several rows, or for short rows;
  // beyond kExactDepth only the wrapping form is exact.
  const bool broadcast = m >= 4 || k < 32 || k > kExactDepth;
  std::vector<int32_t> transposed(broadcast ? static_cast<size_t>(n * k) : 0);
  thread_local std::vector<int16_t> widened;  // the dot form's row: one per thread
  if (broadcast) {
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < k; ++i) transposed[static_cast<size_t>(i * n + j)] = b[j * k + i];
  }
  const int32_t* bt = transposed.data();
  auto rows = [&](int64_t r) {
    if (broadcast) return gemm_s8_row_broadcast(n, k, a + r * k, a_zero_point, bt, c + r * n);
    widened.resize(static_cast<size_t>(k));
    gemm_s8_row_dot(n, k, a + r * k, a_zero_point, b, widened.data(), c + r * n);
  };
  if (m * n * k < single_thread_below) {
    for (int64_t r = 0; r < m; ++r) rows(r);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < m; ++r) rows(r);
}

}  // namespace

bool onednn_int8_exact() {
  // AVX-512 VNNI's vpdpbusd sums u8 x s8 products straight into int32. AVX-VNNI machines take
  // the exact kernels too: oneDNN's int8 paths there have not been checked against the runtime.
  static const bool exact = (static_cast<unsigned>(dnnl::get_effective_cpu_isa()) & static_cast<unsigned>(dnnl::cpu_isa::avx512_core_vnni)) ==
                            static_cast<unsigned>(dnnl::cpu_isa::avx512_core_vnni);
  return exact;
}

void gemm_f32_nt(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
  if (m == 0 || n == 0 || k == 0) return;
  ThreadLimit limit(m * n * k < (int64_t{1} << 23));
  dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, k, b, k, 1.0f, c, n);
}

void gemm_s8_nt(int64_t m, int64_t n, int64_t k, const int8_t* a, int8_t a_zero_point, const int8_t* b, int32_t* c, int64_t single_thread_below) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::fill(c, c + m * n, 0);
    return;
  }
  if (!onednn_int8_exact()) return gemm_s8_exact(m, n, k, a, a_zero_point, b, c, single_thread_below);
  ThreadLimit limit(m * n * k < single_thread_below);
  const int32_t zero = 0;
  dnnl_gemm_s8s8s32('N', 'T', 'F', m, n, k, 1.0f, a, k, a_zero_point, b, k, 0, 0.0f, c, n, &zero);
}

void Int8Primitive::reorder_weights(dnnl::memory& user) {
  dnnl::reorder(user, packed_weights).execute(nn::cpu_stream(), user, packed_weights);
  nn::cpu_stream().wait();
}

void Int8Primitive::execute(void* input, int32_t* sums) {
  ThreadLimit limit(single_thread_);
  src.set_data_handle(input);
  dst.set_data_handle(sums);
  primitive->execute(nn::cpu_stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, packed_weights}, {DNNL_ARG_DST, dst}});
  nn::cpu_stream().wait();
}

}  // namespace litepipe::tfl
