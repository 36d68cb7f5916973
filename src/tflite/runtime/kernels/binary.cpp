#include "tflite/runtime/kernels/binary.h"

#include <algorithm>

namespace litepipe::tfl::kernels {
namespace {

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "ADD";
    case BinaryOp::Sub: return "SUB";
    case BinaryOp::Mul: return "MUL";
    case BinaryOp::Div: return "DIV";
  }
  return "?";
}

template <BinaryOp kOp>
inline float apply_op(float u, float v) {
  if constexpr (kOp == BinaryOp::Add) return u + v;
  else if constexpr (kOp == BinaryOp::Sub) return u - v;
  else if constexpr (kOp == BinaryOp::Mul) return u * v;
  else return u / v;
}

// Calls f(output index, a index, b index) over the output: flat when both operands have the
// output's element count, a scalar or per-channel (last axis) b in place, else broadcasting.
template <typename F>
void for_each_element(const Tensor& a, const Tensor& b, const Tensor& y, F f) {
  const int64_t count = y.elements(), an = a.elements(), bn = b.elements();
  if (an == count && bn == count) {
    for (int64_t i = 0; i < count; ++i) f(i, i, i);
  } else if (an == count && bn == 1) {
    for (int64_t i = 0; i < count; ++i) f(i, i, 0);
  } else if (an == count && b.shape.size() == 1 && !a.shape.empty() && b.shape[0] == a.shape.back() && bn > 0) {
    for (int64_t i = 0; i < count; i += bn)
      for (int64_t k = 0; k < bn; ++k) f(i + k, i + k, k);
  } else {
    for_each_broadcast(y.shape, a.shape, b.shape, f);
  }
}

template <BinaryOp kOp>
void eval_float(OpContext& ctx) {
  const auto& d = ctx.data<BinaryData>();
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  Tensor& y = ctx.output();
  const float* ad = a.as<float>();
  const float* bd = b.as<float>();
  float* yd = y.as<float>();
  for_each_element(a, b, y, [&](int64_t o, int64_t ia, int64_t ib) { yd[o] = apply_op<kOp>(ad[ia], bd[ib]); });
  apply_activation(yd, y.elements(), d.activation);
}

// ADD and SUB of two int8 values (TFLite's reference arithmetic, branch-free so that loops over it
// vectorize): both inputs rescaled to twice the larger input scale with 20 bits of headroom, then
// summed or subtracted, then rescaled to the output.
template <bool kSubtract>
inline int8_t add_int8(const BinaryData& s, int8_t a, int8_t b) {
  const int32_t shifted1 = (s.input1_offset + a) * (1 << s.left_shift);
  const int32_t shifted2 = (s.input2_offset + b) * (1 << s.left_shift);
  const int32_t scaled1 = qmath::multiply_by_quantized_multiplier_branch_free(shifted1, s.input1.significand, 0, -s.input1.shift);
  const int32_t scaled2 = qmath::multiply_by_quantized_multiplier_branch_free(shifted2, s.input2.significand, 0, -s.input2.shift);
  const int32_t raw = kSubtract ? scaled1 - scaled2 : scaled1 + scaled2;
  int32_t out = qmath::multiply_by_quantized_multiplier_branch_free(raw, s.output.significand, 0, -s.output.shift);
  out = out < s.act_min - s.output_offset ? s.act_min - s.output_offset : out;
  out = out > s.act_max - s.output_offset ? s.act_max - s.output_offset : out;
  return static_cast<int8_t>(out + s.output_offset);
}

template <bool kSubtract, bool kScalarB>
inline void add_int8_loop(const BinaryData& s, const int8_t* a, const int8_t* b, int64_t count, int8_t* y) {
  for (int64_t i = 0; i < count; ++i) y[i] = add_int8<kSubtract>(s, a[i], b[kScalarB ? 0 : i]);
}

// `a` of the output's shape, `b` too or a scalar (e.g. a Transform's offset): one vectorized pass
// (multiversioned functions cannot be templates in clang: the variants are chosen inside).
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
void add_int8_flat(const BinaryData& params, const int8_t* a, const int8_t* b, int64_t count, int8_t* y, bool subtract, bool scalar_b) {
  const BinaryData s = params;  // a local copy: int8 stores may alias `params`, which would stop vectorization
  if (subtract) {
    scalar_b ? add_int8_loop<true, true>(s, a, b, count, y) : add_int8_loop<true, false>(s, a, b, count, y);
  } else {
    scalar_b ? add_int8_loop<false, true>(s, a, b, count, y) : add_int8_loop<false, false>(s, a, b, count, y);
  }
}

template <bool kSubtract>
void eval_int8_add(OpContext& ctx) {
  const auto& s = ctx.data<BinaryData>();
  const int8_t* ad = ctx.input(0).as<int8_t>();
  const int8_t* bd = ctx.input(1).as<int8_t>();
  int8_t* yd = ctx.output().as<int8_t>();
  const int64_t count = ctx.output().elements();
  if (ctx.input(0).elements() == count && (ctx.input(1).elements() == count || ctx.input(1).elements() == 1)) {
    return add_int8_flat(s, ad, bd, count, yd, kSubtract, ctx.input(1).elements() == 1 && count != 1);
  }
  for_each_element(ctx.input(0), ctx.input(1), ctx.output(), [&](int64_t o, int64_t ia, int64_t ib) { yd[o] = add_int8<kSubtract>(s, ad[ia], bd[ib]); });
}

void eval_int8_mul(OpContext& ctx) {
  const auto& s = ctx.data<BinaryData>();
  const int8_t* ad = ctx.input(0).as<int8_t>();
  const int8_t* bd = ctx.input(1).as<int8_t>();
  int8_t* yd = ctx.output().as<int8_t>();
  for_each_element(ctx.input(0), ctx.input(1), ctx.output(), [&](int64_t o, int64_t ia, int64_t ib) {
    const int32_t product = (s.input1_offset + ad[ia]) * (s.input2_offset + bd[ib]);
    const int64_t out = int64_t{qmath::apply(product, s.output)} + s.output_offset;
    yd[o] = static_cast<int8_t>(std::clamp<int64_t>(out, s.act_min, s.act_max));
  });
}

}  // namespace

std::unique_ptr<OpData> binary_init(OpContext& ctx, BinaryOp op, ::tflite::ActivationFunctionType activation) {
  ctx.expect_counts(2, 2, 1);
  auto d = std::make_unique<BinaryData>();
  d->op = op;
  d->activation = fused_activation(ctx, activation);
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  const Tensor& y = ctx.output();
  if (a.type == DType::Float32) {
    ctx.expect_type(b, DType::Float32, "input");
    ctx.expect_type(y, DType::Float32, "output");
  } else if (a.type == DType::Int8 && op != BinaryOp::Div) {
    d->int8 = true;
    d->a = ctx.int8_params(a, "input");
    d->b = ctx.int8_params(b, "input");
    d->y = ctx.int8_params(y, "output");
    std::tie(d->act_min, d->act_max) = int8_activation_range(ctx, d->activation, d->y);
  } else {
    ctx.fail("input '{}' is {}; {} takes float32{}", a.name, dtype_name(a.type), op_name(op), op == BinaryOp::Div ? "" : " or int8");
  }
  return d;
}

void binary_prepare(OpContext& ctx) {
  auto& d = ctx.data<BinaryData>();
  ctx.set_output_shape(ctx.output(), broadcast_shape(ctx, ctx.input(0).shape, ctx.input(1).shape));
  if (!d.int8) {
    switch (d.op) {
      case BinaryOp::Add: ctx.node().eval = eval_float<BinaryOp::Add>; break;
      case BinaryOp::Sub: ctx.node().eval = eval_float<BinaryOp::Sub>; break;
      case BinaryOp::Mul: ctx.node().eval = eval_float<BinaryOp::Mul>; break;
      case BinaryOp::Div: ctx.node().eval = eval_float<BinaryOp::Div>; break;
    }
    return;
  }
  d.input1_offset = -d.a.zero_point;
  d.input2_offset = -d.b.zero_point;
  d.output_offset = d.y.zero_point;
  if (d.op == BinaryOp::Mul) {
    d.output = checked_multiplier(ctx, static_cast<double>(d.a.scale * d.b.scale / d.y.scale), "output");
    ctx.node().eval = eval_int8_mul;
    return;
  }
  d.left_shift = 20;
  const double twice_max_input_scale = 2.0 * static_cast<double>(std::max(d.a.scale, d.b.scale));
  d.input1 = checked_multiplier(ctx, static_cast<double>(d.a.scale) / twice_max_input_scale, "input");
  d.input2 = checked_multiplier(ctx, static_cast<double>(d.b.scale) / twice_max_input_scale, "input");
  d.output = checked_multiplier(ctx, twice_max_input_scale / (static_cast<double>(1 << d.left_shift) * static_cast<double>(d.y.scale)), "output");
  if (d.output.shift > 0) ctx.fail("output scale {} is too small for the inputs' scales {} and {}", d.y.scale, d.a.scale, d.b.scale);
  ctx.node().eval = d.op == BinaryOp::Sub ? eval_int8_add<true> : eval_int8_add<false>;
}

}  // namespace litepipe::tfl::kernels
