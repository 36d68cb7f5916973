// Conv, MaxPool and AveragePool on oneDNN, over [N, C, H, W] (2-D) or [N, C, L] (1-D, run as
// 2-D with height 1). The attributes are checked and put in 2-D form at load. oneDNN primitives
// are made once per node and input shape and shared by every Frame: the lock guards the cache
// only (a shared lock to look up, an exclusive one to insert), never an execution. A primitive
// run by several threads at once needs a scratchpad per thread (oneDNN's own one is kept in the
// primitive: concurrent Evaluator workers corrupted it), so primitives are made with a user
// scratchpad and each Frame has its own. Each Frame keeps its primitive and memory handles, so a
// call with last call's shapes sets data pointers and executes, nothing else.
//
// Layouts: on plain NCHW oneDNN has no jit convolution and falls back to im2col + GEMM, slow for
// grouped (depthwise) convolutions above all (24 ms for a 64-channel 14x14 depthwise convolution
// at batch 256). Where that pays (see make_primitive), a convolution lets oneDNN pick its layouts
// (format_tag::any: NHWC or blocked, whatever its fastest kernel takes): the input is reordered
// in and the output back to NCHW on each call, into buffers of the Frame; constant weights are
// packed once when the primitive is made, computed ones reordered on each call. Other
// convolutions and pooling stay on NCHW, where the reorders would cost more than they save.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <fmt/ranges.h>

#include "nn/dnnl_util.h"
#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

using nn::dt;
using nn::tag;
using dnnl::memory;

enum class Kind { Conv, MaxPool, AveragePool };

constexpr int64_t kMaxWindowValue = int64_t{1} << 30;  // attributes beyond are hostile

struct WindowData : OpData {
  Kind kind = Kind::Conv;
  int spatial = 2;                   // 1: [N, C, L]; 2: [N, C, H, W]
  bool kernel_from_weights = false;  // Conv without kernel_shape
  // 2-D form: a 1-D window has height 1, stride 1, no padding along the height.
  std::array<int64_t, 2> kernel{1, 1}, strides{1, 1}, dilations{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};  // top, left, bottom, right
  int64_t group = 1;
  dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct;
  Tensor constant_weights;  // Conv's weights when an initializer (packed once per primitive), else empty
  // A oneDNN primitive and the scratchpad each Frame gives it.
  struct Step {
    dnnl::primitive primitive;
    memory::desc scratchpad;
  };
  // What runs for one (input shape, weights shape), made by whichever Frame first needs it: the
  // convolution or pooling and, where its layouts are not plain, the reorders around it.
  struct Primitive {
    Step op, src_in, weights_in, dst_out;  // a reorder's primitive is empty when not needed
    memory::desc src, weights, dst;        // the layouts `op` takes
    memory packed_weights;                 // the constant weights in `op`'s layout (read only), or empty
  };
  mutable std::shared_mutex mutex;
  mutable std::map<std::pair<Shape, Shape>, Primitive> primitives;
};

struct WindowScratch : NodeScratch {
  Shape input_shape, weights_shape;  // what the handles below were made for
  Shape output_shape;
  // The call's tensors, plain (data pointers set per call; weights empty when packed at load).
  memory x, w, b, y;
  // The steps to execute, in order, each with its arguments (reordered buffers and scratchpads
  // are this Frame's, allocated when the shapes change).
  struct Exec {
    dnnl::primitive primitive;
    std::unordered_map<int, memory> args;
  };
  std::vector<Exec> steps;
};

std::unique_ptr<OpData> prepare(PrepareContext& ctx, Kind kind) {
  auto d = std::make_unique<WindowData>();
  d->kind = kind;
  if (const auto* auto_pad = ctx.attr("auto_pad"); auto_pad && auto_pad->s() != "NOTSET") {
    ctx.fail("uses auto_pad={}; only explicit pads are supported", auto_pad->s());
  }
  std::vector<int64_t> kernel = ctx.attr_ints("kernel_shape");
  if (kind == Kind::Conv && kernel.empty()) {
    // The weights [M, C/group, k...] give the window; their rank its dimensions.
    d->kernel_from_weights = true;
    const Tensor* w = ctx.constant_input(1);
    d->spatial = w && w->rank() == 3 ? 1 : 2;
    kernel.assign(static_cast<size_t>(d->spatial), 1);
  } else {
    d->spatial = kernel.size() == 1 ? 1 : 2;
  }
  const auto r = static_cast<size_t>(d->spatial);
  const std::vector<int64_t> strides = ctx.attr_ints("strides", std::vector<int64_t>(r, 1));
  const std::vector<int64_t> pads = ctx.attr_ints("pads", std::vector<int64_t>(2 * r, 0));
  const std::vector<int64_t> dilations = ctx.attr_ints("dilations", std::vector<int64_t>(r, 1));
  auto all_in = [](const std::vector<int64_t>& v, int64_t lo) { return std::all_of(v.begin(), v.end(), [&](int64_t e) { return e >= lo && e <= kMaxWindowValue; }); };
  if (kernel.size() != r || strides.size() != r || pads.size() != 2 * r || dilations.size() != r || !all_in(kernel, 1) || !all_in(strides, 1) ||
      !all_in(pads, 0) || !all_in(dilations, 1)) {
    ctx.fail("expects {} kernel_shape, strides and dilations values (each >= 1) and {} pads (each >= 0), at most {} each", r, 2 * r, kMaxWindowValue);
  }
  const size_t o = 2 - r;  // 1-D values go to the width
  for (size_t i = 0; i < r; ++i) {
    d->kernel[o + i] = kernel[i];
    d->strides[o + i] = strides[i];
    d->dilations[o + i] = dilations[i];
    d->pads[o + i] = pads[i];
    d->pads[2 + o + i] = pads[r + i];
  }
  if (kind == Kind::Conv) {
    d->group = ctx.attr_int("group", 1);
    if (d->group < 1) ctx.fail("group {} (expects at least 1)", d->group);
    if (const Tensor* w = ctx.constant_input(1)) d->constant_weights = *w;
  } else {
    if (ctx.attr_int("ceil_mode", 0)) ctx.fail("ceil_mode=1 is not supported");
    if (std::any_of(dilations.begin(), dilations.end(), [](int64_t v) { return v != 1; })) ctx.fail("dilations other than 1 are not supported for pooling");
    d->algorithm = kind == Kind::MaxPool                ? dnnl::algorithm::pooling_max
                   : ctx.attr_int("count_include_pad", 0) ? dnnl::algorithm::pooling_avg_include_padding
                                                          : dnnl::algorithm::pooling_avg_exclude_padding;
  }
  return d;
}

std::unique_ptr<OpData> prepare_conv(PrepareContext& ctx) { return prepare(ctx, Kind::Conv); }
std::unique_ptr<OpData> prepare_max_pool(PrepareContext& ctx) { return prepare(ctx, Kind::MaxPool); }
std::unique_ptr<OpData> prepare_average_pool(PrepareContext& ctx) { return prepare(ctx, Kind::AveragePool); }

// `t`'s dims in 2-D form: a 1-D tensor [a, b, L] as [a, b, 1, L].
memory::dims dims_2d(const Shape& t, int spatial) {
  return spatial == 2 ? memory::dims(t.begin(), t.end()) : memory::dims{t[0], t[1], 1, t[2]};
}

WindowData::Step make_step(const dnnl::primitive_desc_base& pd, dnnl::primitive primitive) { return {std::move(primitive), pd.scratchpad_desc()}; }

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// A reorder from `from` to `to`, or an empty step when they are the same layout.
WindowData::Step make_reorder(const memory::desc& from, const memory::desc& to) {
  if (from == to) return {};
  dnnl::reorder::primitive_desc pd(nn::cpu_engine(), from, nn::cpu_engine(), to, user_scratchpad());
  return make_step(pd, dnnl::reorder(pd));
}

// The primitive for plain NCHW `src` and `dst` (and OIHW / GOIHW `weights`, plain `bias` for
// Conv), with its layouts chosen and the constant weights packed.
WindowData::Primitive make_primitive(const WindowData& d, const memory::desc& src, const memory::desc& weights, const memory::desc* bias,
                                     const memory::desc& dst) {
  using namespace dnnl;
  const primitive_attr attr = user_scratchpad();
  const memory::dims strides = {d.strides[0], d.strides[1]}, left = {d.pads[0], d.pads[1]}, right = {d.pads[2], d.pads[3]};
  WindowData::Primitive p;
  if (d.kind != Kind::Conv) {
    pooling_forward::desc desc(prop_kind::forward_inference, d.algorithm, src, dst, strides, {d.kernel[0], d.kernel[1]}, left, right);
    pooling_forward::primitive_desc pd(desc, attr, nn::cpu_engine());
    p.op = make_step(pd, pooling_forward(pd));
    p.src = src;
    p.dst = dst;
    return p;
  }
  // oneDNN's layouts where they pay for the reorders (measured on AVX-512, batch 1 and 256):
  // - grouped (depthwise) convolutions: on NCHW oneDNN runs one small GEMM per group (a 64-channel
  //   14x14 depthwise convolution: 80 us at batch 1, 20 ms at 256; 4 us and 2.7 ms + reorders);
  // - others when im2col copies more per output pixel (input channels x kernel) than the reorders
  //   move (input + output channels): a 3x3 convolution of 32 channels, not a 1x1 one (NCHW is a
  //   plain GEMM then) nor one of a single-channel image (its output reorder costs more than the
  //   convolution saves).
  const memory::dims& w = weights.dims();  // [g,] o, i/g, kh, kw
  const int64_t in_channels = src.dims()[1], out_channels = dst.dims()[1];
  const int64_t im2col = in_channels * w[w.size() - 2] * w[w.size() - 1];
  const bool any = d.group > 1 || im2col > in_channels + out_channels;
  auto chosen = [any](const memory::desc& plain) { return any ? memory::desc(plain.dims(), dt::f32, tag::any) : plain; };
  const memory::desc src_any = chosen(src), weights_any = chosen(weights), dst_any = chosen(dst);
  const memory::dims dilations = {d.dilations[0] - 1, d.dilations[1] - 1};  // oneDNN counts the gaps
  auto desc = bias ? convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src_any, weights_any, *bias, dst_any, strides,
                                               dilations, left, right)
                   : convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src_any, weights_any, dst_any, strides,
                                               dilations, left, right);
  convolution_forward::primitive_desc pd(desc, attr, nn::cpu_engine());
  p.op = make_step(pd, convolution_forward(pd));
  p.src = pd.src_desc();
  p.weights = pd.weights_desc();
  p.dst = pd.dst_desc();
  p.src_in = make_reorder(src, p.src);
  p.dst_out = make_reorder(p.dst, dst);
  if (p.weights != weights) {
    if (d.constant_weights.empty()) {
      p.weights_in = make_reorder(weights, p.weights);
    } else {
      // Packed once, here; every Frame reads the same packed weights.
      memory user(weights, nn::cpu_engine(), const_cast<float*>(d.constant_weights.data()));
      p.packed_weights = memory(p.weights, nn::cpu_engine());
      reorder(user, p.packed_weights).execute(nn::cpu_stream(), user, p.packed_weights);
      nn::cpu_stream().wait();
    }
  }
  return p;
}

// Shapes checked, the output shape computed and the Frame's handles made for input `x` (and
// weights `w` for Conv).
void plan(const Node& node, const WindowData& d, WindowScratch& s, const Tensor& x, const Tensor* w, const Tensor* b) {
  const int sp = d.spatial;
  std::array<int64_t, 2> kernel = d.kernel;
  int64_t out_channels = x.dim(1);
  if (w) {
    if (static_cast<int>(w->rank()) != sp + 2) node.fail("expects {}-D weights, got {}", sp + 2, nn::shape_string(w->shape()));
    const std::array<int64_t, 2> from_weights = {sp == 2 ? w->dim(2) : 1, w->shape().back()};
    if (d.kernel_from_weights) kernel = from_weights;
    else if (kernel != from_weights) node.fail("kernel_shape [{}] differs from the weights {}", fmt::join(kernel, ", "), nn::shape_string(w->shape()));
    out_channels = w->dim(0);
    if (out_channels % d.group != 0 || x.dim(1) != w->dim(1) * d.group) {
      node.fail("the input {} and weights {} do not match with group {} (expects input channels = weights dim 1 x group, output channels divisible by group)",
                nn::shape_string(x.shape()), nn::shape_string(w->shape()), d.group);
    }
    if (b && b->size() != out_channels) node.fail("bias {} needs {} values", nn::shape_string(b->shape()), out_channels);
  }
  const memory::dims src_dims = dims_2d(x.shape(), sp);
  std::array<int64_t, 2> out{};
  for (size_t i = 0; i < 2; ++i) {
    const int64_t extent = (kernel[i] - 1) * d.dilations[i] + 1;
    out[i] = (src_dims[2 + i] + d.pads[i] + d.pads[2 + i] - extent) / d.strides[i] + 1;
    if (src_dims[2 + i] + d.pads[i] + d.pads[2 + i] < extent || out[i] < 1) node.fail("the window does not fit the input {}", nn::shape_string(x.shape()));
  }
  s.output_shape = sp == 2 ? Shape{x.dim(0), out_channels, out[0], out[1]} : Shape{x.dim(0), out_channels, out[1]};
  const memory::desc src(src_dims, dt::f32, tag::nchw), dst(dims_2d(s.output_shape, sp), dt::f32, tag::nchw);
  memory::desc weights, bias;
  if (w) {
    const memory::dims wd = dims_2d(w->shape(), sp);
    weights = d.group == 1 ? memory::desc(wd, dt::f32, tag::oihw) : memory::desc({d.group, wd[0] / d.group, wd[1], wd[2], wd[3]}, dt::f32, tag::goihw);
    bias = memory::desc({out_channels}, dt::f32, tag::a);
  }
  auto key = std::make_pair(x.shape(), w ? w->shape() : Shape{});
  const WindowData::Primitive* p = nullptr;  // map entries stay where they are: never erased
  {
    std::shared_lock lock(d.mutex);
    auto it = d.primitives.find(key);
    if (it != d.primitives.end()) p = &it->second;
  }
  if (!p) {
    // Made outside the lock (it may take a while); the first Frame to insert wins.
    WindowData::Primitive made = make_primitive(d, src, weights, b ? &bias : nullptr, dst);
    std::unique_lock lock(d.mutex);
    p = &d.primitives.emplace(std::move(key), std::move(made)).first->second;
  }
  s.input_shape = x.shape();
  s.weights_shape = w ? w->shape() : Shape{};
  const dnnl::engine& engine = nn::cpu_engine();
  s.x = memory(src, engine, DNNL_MEMORY_NONE);
  s.y = memory(dst, engine, DNNL_MEMORY_NONE);
  s.w = w && !p->packed_weights ? memory(weights, engine, DNNL_MEMORY_NONE) : memory();
  s.b = b ? memory(bias, engine, DNNL_MEMORY_NONE) : memory();
  // The buffers `op` reads and writes: the call's tensors where the layout is plain, else this
  // Frame's own.
  const memory op_src = p->src_in.primitive ? memory(p->src, engine) : s.x;
  const memory op_dst = p->dst_out.primitive ? memory(p->dst, engine) : s.y;
  const memory op_weights = p->packed_weights ? p->packed_weights : p->weights_in.primitive ? memory(p->weights, engine) : s.w;
  s.steps.clear();
  auto add = [&](const WindowData::Step& step, std::unordered_map<int, memory> args) {
    if (!step.primitive) return;
    if (step.scratchpad.get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = memory(step.scratchpad, engine);  // this Frame's own
    s.steps.push_back({step.primitive, std::move(args)});
  };
  add(p->src_in, {{DNNL_ARG_FROM, s.x}, {DNNL_ARG_TO, op_src}});
  add(p->weights_in, {{DNNL_ARG_FROM, s.w}, {DNNL_ARG_TO, op_weights}});
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, op_src}, {DNNL_ARG_DST, op_dst}};
  if (w) args[DNNL_ARG_WEIGHTS] = op_weights;
  if (b) args[DNNL_ARG_BIAS] = s.b;
  add(p->op, std::move(args));
  add(p->dst_out, {{DNNL_ARG_FROM, op_dst}, {DNNL_ARG_TO, s.y}});
}

void eval(const Node& node, Frame& frame) {
  const auto& d = node.op_data<WindowData>();
  const Tensor& x = frame.input(node, 0);
  if (static_cast<int>(x.rank()) != d.spatial + 2) {
    node.fail("expects a {}-D input [N, C, {}], got {}", d.spatial + 2, d.spatial == 2 ? "H, W" : "L", nn::shape_string(x.shape()));
  }
  const bool conv = d.kind == Kind::Conv;
  const Tensor* w = conv ? &frame.input(node, 1) : nullptr;
  const Tensor* b = conv && node.has_input(2) ? &frame.input(node, 2) : nullptr;
  auto& s = frame.scratch<WindowScratch>(node);
  if (s.steps.empty() || s.input_shape != x.shape() || (w && s.weights_shape != w->shape())) plan(node, d, s, x, w, b);
  Tensor& y = frame.output(node, s.output_shape);
  // oneDNN reads through non-const handles; it does not write its inputs.
  s.x.set_data_handle(const_cast<float*>(x.data()));
  s.y.set_data_handle(y.data());
  if (s.w) s.w.set_data_handle(const_cast<float*>(w->data()));
  if (s.b) s.b.set_data_handle(const_cast<float*>(b->data()));
  for (auto& step : s.steps) step.primitive.execute(nn::cpu_stream(), step.args);
  nn::cpu_stream().wait();
}

}  // namespace

const Kernel& conv() {
  static const Kernel kernel{"Conv", 2, prepare_conv, eval};
  return kernel;
}

const Kernel& max_pool() {
  static const Kernel kernel{"MaxPool", 1, prepare_max_pool, eval};
  return kernel;
}

const Kernel& average_pool() {
  static const Kernel kernel{"AveragePool", 1, prepare_average_pool, eval};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
