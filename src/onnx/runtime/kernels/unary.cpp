// Element-wise ops of one input: Relu, Sigmoid, Tanh, HardSigmoid, Clip, IsNaN, Cast, Sqrt. Their
// parameters (HardSigmoid's alpha and beta, Clip's bounds when constant, Cast's target type) are
// read once at load.
#include <algorithm>
#include <cmath>

#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

struct UnaryData : OpData {
  float alpha = 0.0f, beta = 0.0f;  // HardSigmoid
  float lo = -INFINITY, hi = INFINITY;  // Clip
  bool lo_at_run = false, hi_at_run = false;  // Clip: a bound fed by a computed input
  bool truncate = false;  // Cast to an integer type
};

template <typename F>
void map(const Node& node, Frame& frame, F f) {
  const Tensor& x = frame.input(node, 0);
  const float* p = x.data();
  float* y = frame.output(node, x.shape()).data();
  for (int64_t i = 0; i < x.size(); ++i) y[i] = f(p[i]);
}

std::unique_ptr<OpData> prepare_plain(PrepareContext&) { return std::make_unique<UnaryData>(); }

void eval_relu(const Node& node, Frame& frame) {
  map(node, frame, [](float v) { return std::max(v, 0.0f); });
}
void eval_sigmoid(const Node& node, Frame& frame) {
  map(node, frame, [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
}
void eval_tanh(const Node& node, Frame& frame) {
  map(node, frame, [](float v) { return std::tanh(v); });
}
void eval_sqrt(const Node& node, Frame& frame) {
  map(node, frame, [](float v) { return std::sqrt(v); });  // NaN below 0, as ONNX
}
// ONNX's output is bool; the runner's tensors are float, so true / false are 1 / 0.
void eval_is_nan(const Node& node, Frame& frame) {
  map(node, frame, [](float v) { return std::isnan(v) ? 1.0f : 0.0f; });
}

std::unique_ptr<OpData> prepare_hard_sigmoid(PrepareContext& ctx) {
  auto d = std::make_unique<UnaryData>();
  d->alpha = ctx.attr_float("alpha", 0.2f);
  d->beta = ctx.attr_float("beta", 0.5f);
  return d;
}
void eval_hard_sigmoid(const Node& node, Frame& frame) {
  const auto& d = node.op_data<UnaryData>();
  map(node, frame, [a = d.alpha, b = d.beta](float v) { return std::max(0.0f, std::min(1.0f, a * v + b)); });
}

// Clip: the bounds are inputs 1 and 2 (opset 11 on) or the attributes min and max (before).
float clip_bound(const Node& node, const Tensor& t, const char* which) {
  if (t.size() < 1) node.fail("{} has no value (shape {})", which, nn::shape_string(t.shape()));
  return t[0];
}
std::unique_ptr<OpData> prepare_clip(PrepareContext& ctx) {
  auto d = std::make_unique<UnaryData>();
  d->lo = ctx.attr_float("min", -INFINITY);
  d->hi = ctx.attr_float("max", INFINITY);
  if (ctx.has_input(1)) {
    if (const Tensor* t = ctx.constant_input(1)) d->lo = clip_bound(ctx.node(), *t, "min");
    else d->lo_at_run = true;
  }
  if (ctx.has_input(2)) {
    if (const Tensor* t = ctx.constant_input(2)) d->hi = clip_bound(ctx.node(), *t, "max");
    else d->hi_at_run = true;
  }
  return d;
}
void eval_clip(const Node& node, Frame& frame) {
  const auto& d = node.op_data<UnaryData>();
  const float lo = d.lo_at_run ? clip_bound(node, frame.input(node, 1), "min") : d.lo;
  const float hi = d.hi_at_run ? clip_bound(node, frame.input(node, 2), "max") : d.hi;
  map(node, frame, [lo, hi](float v) { return std::clamp(v, lo, hi); });
}

// Values stay floats here; a cast to an integer type truncates them as ONNX does.
std::unique_ptr<OpData> prepare_cast(PrepareContext& ctx) {
  auto d = std::make_unique<UnaryData>();
  const int64_t to = ctx.attr_int("to", onnx::TensorProto::FLOAT);
  d->truncate = to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32;
  if (!d->truncate && to != onnx::TensorProto::FLOAT) ctx.fail("cast to type {} (float and integers only)", to);
  return d;
}
void eval_cast(const Node& node, Frame& frame) {
  if (node.op_data<UnaryData>().truncate) map(node, frame, [](float v) { return std::trunc(v); });
  else map(node, frame, [](float v) { return v; });
}

}  // namespace

const Kernel& relu() {
  static const Kernel kernel{"Relu", 1, prepare_plain, eval_relu};
  return kernel;
}
const Kernel& sigmoid() {
  static const Kernel kernel{"Sigmoid", 1, prepare_plain, eval_sigmoid};
  return kernel;
}
const Kernel& tanh() {
  static const Kernel kernel{"Tanh", 1, prepare_plain, eval_tanh};
  return kernel;
}
const Kernel& sqrt() {
  static const Kernel kernel{"Sqrt", 1, prepare_plain, eval_sqrt};
  return kernel;
}
const Kernel& is_nan() {
  static const Kernel kernel{"IsNaN", 1, prepare_plain, eval_is_nan};
  return kernel;
}
const Kernel& hard_sigmoid() {
  static const Kernel kernel{"HardSigmoid", 1, prepare_hard_sigmoid, eval_hard_sigmoid};
  return kernel;
}
const Kernel& clip() {
  static const Kernel kernel{"Clip", 1, prepare_clip, eval_clip};
  return kernel;
}
const Kernel& cast() {
  static const Kernel kernel{"Cast", 1, prepare_cast, eval_cast};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
