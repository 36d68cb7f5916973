#include "tflite/runtime/kernels/gemm.h"

#include <algorithm>

#include "nn/dnnl_util.h"

namespace litepipe::tfl {

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
  ThreadLimit limit(m * n * k < single_thread_below);
  const int32_t zero = 0;
  dnnl_gemm_s8s8s32('N', 'T', 'F', m, n, k, 1.0f, a, k, a_zero_point, b, k, 0, 0.0f, c, n, &zero);
}

void Int8Primitive::reorder_weights(dnnl::memory& user) {
  dnnl::reorder(user, packed_weights).execute(nn::cpu_stream(), user, packed_weights);
  nn::cpu_stream().wait();
}

void Int8Primitive::execute(void* input, int32_t* sums, int64_t work) {
  ThreadLimit limit(work < (int64_t{1} << 22));
  src.set_data_handle(input);
  dst.set_data_handle(sums);
  primitive->execute(nn::cpu_stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, packed_weights}, {DNNL_ARG_DST, dst}});
  nn::cpu_stream().wait();
}

}  // namespace litepipe::tfl
