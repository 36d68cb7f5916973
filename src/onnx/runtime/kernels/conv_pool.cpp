// Conv, MaxPool and AveragePool on oneDNN, over [N, C, H, W] (2-D) or [N, C, L] (1-D, run as
// 2-D with height 1). The attributes are checked and put in 2-D form at load. oneDNN primitives
// are made once per node and input shape and shared by every Frame: the lock guards the cache
// only (a shared lock to look up, an exclusive one to insert), never an execution. A primitive
// run by several threads at once needs a scratchpad per thread (oneDNN's own one is kept in the
// primitive: concurrent Evaluator workers corrupted it), so primitives are made with a user
// scratchpad and each Frame has its own. Each Frame keeps its primitive and memory handles, so a
// call with last call's shapes sets data pointers and executes, nothing else.
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
  // Primitives by (input shape, weights shape): made by whichever Frame first needs one.
  struct Primitive {
    dnnl::primitive primitive;
    memory::desc scratchpad;
  };
  mutable std::shared_mutex mutex;
  mutable std::map<std::pair<Shape, Shape>, Primitive> primitives;
};

struct WindowScratch : NodeScratch {
  Shape input_shape, weights_shape;  // what the handles below were made for
  Shape output_shape;
  dnnl::primitive primitive;
  memory src, weights, bias, dst, scratchpad;
  std::unordered_map<int, memory> args;
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

WindowData::Primitive make_primitive(const WindowData& d, const memory::desc& src, const memory::desc& weights, const memory::desc* bias,
                                     const memory::desc& dst) {
  using namespace dnnl;
  primitive_attr attr;
  attr.set_scratchpad_mode(scratchpad_mode::user);
  const memory::dims strides = {d.strides[0], d.strides[1]}, left = {d.pads[0], d.pads[1]}, right = {d.pads[2], d.pads[3]};
  if (d.kind == Kind::Conv) {
    const memory::dims dilations = {d.dilations[0] - 1, d.dilations[1] - 1};  // oneDNN counts the gaps
    auto desc = bias ? convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src, weights, *bias, dst, strides, dilations, left, right)
                     : convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src, weights, dst, strides, dilations, left, right);
    convolution_forward::primitive_desc pd(desc, attr, nn::cpu_engine());
    return {convolution_forward(pd), pd.scratchpad_desc()};
  }
  pooling_forward::desc desc(prop_kind::forward_inference, d.algorithm, src, dst, strides, {d.kernel[0], d.kernel[1]}, left, right);
  pooling_forward::primitive_desc pd(desc, attr, nn::cpu_engine());
  return {pooling_forward(pd), pd.scratchpad_desc()};
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
  WindowData::Primitive cached;
  {
    std::shared_lock lock(d.mutex);
    auto it = d.primitives.find(key);
    if (it != d.primitives.end()) cached = it->second;
  }
  if (!cached.primitive) {
    // Made outside the lock (it may take a while); the first Frame to insert wins.
    WindowData::Primitive made = make_primitive(d, src, weights, b ? &bias : nullptr, dst);
    std::unique_lock lock(d.mutex);
    cached = d.primitives.emplace(std::move(key), made).first->second;
  }
  s.primitive = cached.primitive;
  s.input_shape = x.shape();
  s.weights_shape = w ? w->shape() : Shape{};
  s.src = memory(src, nn::cpu_engine(), DNNL_MEMORY_NONE);
  s.dst = memory(dst, nn::cpu_engine(), DNNL_MEMORY_NONE);
  s.args = {{DNNL_ARG_SRC, s.src}, {DNNL_ARG_DST, s.dst}};
  if (cached.scratchpad.get_size() > 0) {
    s.scratchpad = memory(cached.scratchpad, nn::cpu_engine());  // this Frame's own
    s.args[DNNL_ARG_SCRATCHPAD] = s.scratchpad;
  }
  if (w) {
    s.weights = memory(weights, nn::cpu_engine(), DNNL_MEMORY_NONE);
    s.args[DNNL_ARG_WEIGHTS] = s.weights;
    if (b) {
      s.bias = memory(bias, nn::cpu_engine(), DNNL_MEMORY_NONE);
      s.args[DNNL_ARG_BIAS] = s.bias;
    }
  }
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
  if (!s.primitive || s.input_shape != x.shape() || (w && s.weights_shape != w->shape())) plan(node, d, s, x, w, b);
  Tensor& y = frame.output(node, s.output_shape);
  // oneDNN reads through non-const handles; it does not write its inputs.
  s.src.set_data_handle(const_cast<float*>(x.data()));
  s.dst.set_data_handle(y.data());
  if (w) s.weights.set_data_handle(const_cast<float*>(w->data()));
  if (b) s.bias.set_data_handle(const_cast<float*>(b->data()));
  s.primitive.execute(nn::cpu_stream(), s.args);
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
