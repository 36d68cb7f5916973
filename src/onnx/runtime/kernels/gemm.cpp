// Gemm (Y = alpha * A' B' + beta * C, C broadcast to Y) and MatMul (A [..., k] x B [k, n]) through
// oneDNN's sgemm. Small products (batch-1 inference) run on one OpenMP thread, as the TFLite
// runtime's: waking a team costs more than the product.
#include <algorithm>
#include <array>
#include <cstring>

#include <oneapi/dnnl/dnnl.h>

#include "core/thread_count.h"
#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

constexpr int64_t kSingleThreadBelow = int64_t{1} << 23;  // m * n * k

struct GemmData : OpData {
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 1.0f;
};

std::unique_ptr<OpData> prepare_gemm(PrepareContext& ctx) {
  auto d = std::make_unique<GemmData>();
  d->trans_a = ctx.attr_int("transA", 0) != 0;
  d->trans_b = ctx.attr_int("transB", 0) != 0;
  d->alpha = ctx.attr_float("alpha", 1.0f);
  d->beta = ctx.attr_float("beta", 1.0f);
  return d;
}

std::unique_ptr<OpData> prepare_matmul(PrepareContext&) { return std::make_unique<GemmData>(); }

void expect_2d_operands(const Node& node, const Tensor& a, const Tensor& b, bool a_must_be_2d) {
  if (b.rank() != 2 || (a_must_be_2d && a.rank() != 2) || a.rank() < 1) {
    node.fail("expects 2-D operands, got {} and {}", nn::shape_string(a.shape()), nn::shape_string(b.shape()));
  }
}

void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b, float beta, float* c) {
  ScopedThreadCount threads(m * n * k < kSingleThreadBelow ? 1 : 0);
  dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, ta ? m : k, b, tb ? k : n, beta, c, n);
}

// Y [m, n] filled with C broadcast to it (C: a scalar, [n], [1 | m, 1 | n]).
void fill_with_bias(const Node& node, const Tensor& c, float* y, int64_t m, int64_t n) {
  const int64_t c0 = c.rank() == 2 ? c.dim(0) : 1, c1 = c.rank() >= 1 ? c.shape().back() : 1;
  if (c.rank() > 2 || (c0 != 1 && c0 != m) || (c1 != 1 && c1 != n)) {
    node.fail("C has shape {}, which does not broadcast to the output [{}, {}]", nn::shape_string(c.shape()), m, n);
  }
  for (int64_t r = 0; r < m; ++r) {
    const float* row = c.data() + (c0 == 1 ? 0 : r * c1);
    if (c1 == n) std::memcpy(y + r * n, row, static_cast<size_t>(n) * sizeof(float));
    else std::fill_n(y + r * n, n, row[0]);
  }
}

void eval_gemm(const Node& node, Frame& frame) {
  const auto& d = node.op_data<GemmData>();
  const Tensor& a = frame.input(node, 0);
  const Tensor& b = frame.input(node, 1);
  expect_2d_operands(node, a, b, true);
  const int64_t k = d.trans_a ? a.dim(0) : a.dim(1), m = d.trans_a ? a.dim(1) : a.dim(0);
  const int64_t kb = d.trans_b ? b.dim(1) : b.dim(0), n = d.trans_b ? b.dim(0) : b.dim(1);
  if (k != kb) node.fail("inner dimensions differ: {} and {}", nn::shape_string(a.shape()), nn::shape_string(b.shape()));
  const std::array<int64_t, 2> dims = {m, n};
  Tensor& y = frame.output(node, dims);
  float c_scale = 0.0f;  // beta applies to C only
  if (node.has_input(2)) {
    fill_with_bias(node, frame.input(node, 2), y.data(), m, n);
    c_scale = d.beta;
  }
  if (k == 0) {  // an empty product: beta * C, or zeros
    for (int64_t i = 0; i < m * n; ++i) y[i] = node.has_input(2) ? c_scale * y[i] : 0.0f;
    return;
  }
  if (m == 0 || n == 0) return;
  sgemm(d.trans_a, d.trans_b, m, n, k, d.alpha, a.data(), b.data(), c_scale, y.data());
}

void eval_matmul(const Node& node, Frame& frame) {
  const Tensor& a = frame.input(node, 0);
  const Tensor& b = frame.input(node, 1);
  expect_2d_operands(node, a, b, false);
  const int64_t k = a.shape().back(), n = b.dim(1);
  if (k != b.dim(0)) node.fail("inner dimensions differ: {} and {}", nn::shape_string(a.shape()), nn::shape_string(b.shape()));
  Shape& dims = frame.scratch<DimsScratch>(node).dims;
  dims = a.shape();
  dims.back() = n;
  int64_t m = 1;  // the rows of A: every dimension but the last
  for (size_t i = 0; i + 1 < a.rank(); ++i) m *= a.dim(i);
  Tensor& y = frame.output(node, dims);
  if (k == 0) {
    y.fill(0.0f);  // an empty sum
    return;
  }
  if (m == 0 || n == 0) return;
  sgemm(false, false, m, n, k, 1.0f, a.data(), b.data(), 0.0f, y.data());
}

}  // namespace

const Kernel& gemm() {
  static const Kernel kernel{"Gemm", 2, prepare_gemm, eval_gemm};
  return kernel;
}

const Kernel& matmul() {
  static const Kernel kernel{"MatMul", 2, prepare_matmul, eval_matmul};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
