#pragma once
// Matrix products for the kernels, through oneDNN: float sgemm, int8 x int8 -> int32 GEMM, and
// oneDNN int8 primitives (matmul / convolution) with weights packed once. Small products (batch-1
// inference) run on one OpenMP thread — waking the others costs more than the product.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <optional>

#include "core/thread_count.h"
#include "nn/dnnl_util.h"
#include "tflite/runtime/tensor.h"

namespace litepipe::tfl {

// One thread for small products (waking a team costs more than the product); the caller's count
// otherwise.
class ThreadLimit {
 public:
  explicit ThreadLimit(bool single) : guard_(single ? 1 : 0) {}

 private:
  ScopedThreadCount guard_;
};

// c[m, n] += a[m, k] * b[n, k]^T (float).
void gemm_f32_nt(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c);
// Whether oneDNN's int8 kernels give exact int32 sums here. Without VNNI (AVX2, AVX-512 without
// VNNI, SSE4.1) they multiply with vpmaddubsw, whose int16 pair sums saturate: s8 x s8 GEMMs
// without a zero point saturate, and convolutions halve the weights to avoid it (inexact either way).
bool onednn_int8_exact();

// c[m, n] = (a[m, k] - a_zero_point) * b[n, k]^T, exact in int32 (oneDNN where that is exact).
void gemm_s8_nt(int64_t m, int64_t n, int64_t k, const int8_t* a, int8_t a_zero_point, const int8_t* b, int32_t* c, int64_t single_thread_below);

// A oneDNN int8 primitive (matmul or convolution) with the input zero point as an attribute,
// weights packed once and exact int32 sums out; requantization stays the kernel's. Left empty
// when oneDNN has no such kernel here (the caller then uses gemm_s8_nt).
struct Int8Primitive {
  std::optional<dnnl::primitive> primitive;
  dnnl::memory src, dst;  // bound to the tensors' memory at each run
  dnnl::memory packed_weights;

  // `make_primitive_desc(attributes)` builds the Primitive's descriptor; a dnnl::error (no such
  // kernel for these shapes here) leaves the primitive empty.
  // `work` (multiply-adds per run) decides whether it runs on one thread; oneDNN fixes a
  // primitive's thread count when it is created, so it is created under the same limit.
  template <typename Primitive, typename MakeDesc>
  void plan(MakeDesc make_primitive_desc, const dnnl::memory::desc& src_desc, const dnnl::memory::desc& user_weights,
            const dnnl::memory::desc& dst_desc, int32_t input_zero_point, const Tensor& weights, int64_t work) {
    // oneDNN divides by dimensions while planning: a zero-sized operand (valid in a model) takes
    // the plain kernel instead, as does an ISA whose oneDNN int8 kernels are not exact.
    if (!onednn_int8_exact() || src_desc.get_size() == 0 || user_weights.get_size() == 0 || dst_desc.get_size() == 0) {
      primitive.reset();
      return;
    }
    single_thread_ = work < kSingleThreadBelow;
    ThreadLimit limit(single_thread_);
    dnnl::primitive_attr attr;
    attr.set_zero_points(DNNL_ARG_SRC, 0, {input_zero_point});
    try {
      auto pd = make_primitive_desc(attr);
      packed_weights = dnnl::memory(pd.weights_desc(), nn::cpu_engine());
      dnnl::memory user(user_weights, nn::cpu_engine(), weights.data);
      reorder_weights(user);
      primitive = Primitive(pd);
      src = dnnl::memory(src_desc, nn::cpu_engine(), DNNL_MEMORY_NONE);
      dst = dnnl::memory(dst_desc, nn::cpu_engine(), DNNL_MEMORY_NONE);
    } catch (const dnnl::error&) {
      primitive.reset();
    }
  }
  void execute(void* input, int32_t* sums);

 private:
  static constexpr int64_t kSingleThreadBelow = int64_t{1} << 22;
  bool single_thread_ = true;
  void reorder_weights(dnnl::memory& user);
};

}  // namespace litepipe::tfl
