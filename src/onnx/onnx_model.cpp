#include "onnx/onnx_model.h"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <mutex>
#include <numeric>
#include <set>

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/files.h"
#include "nn/broadcast.h"
#include "nn/dnnl_util.h"

namespace litepipe::onnxio {

using nn::Shape;
using nn::Tensor;

void check_model(const onnx::ModelProto& model, const std::string& what) {
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto copy = model;
    onnx::ShapeInferenceOptions options{true, 1, false};
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    fail("{}: ONNX checker rejected the model: {}", what, e.what());
  }
}

onnx::ModelProto load_model(const std::filesystem::path& path) {
  std::string bytes = read_file(path);
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) fail("{}: not an ONNX model (protobuf parse failed)", path.string());
  return model;
}

namespace {

// Ops as resolved at load: the run loop dispatches on this, not on op-type strings.
enum class Op { Gemm, MatMul, Add, Sub, Mul, Div, Relu, Clip, Sigmoid, Tanh, Softmax, Reshape, Flatten, Transpose, Conv, MaxPool,
                AveragePool, GlobalAveragePool, BatchNormalization, Identity, Dropout, Concat, IsNaN, Where, Cast, Gather, ReduceMean, HardSigmoid, Pad,
                GlobalMaxPool, ReduceMax, Sqrt };
const std::map<std::string, Op> kOps = {
    {"Gemm", Op::Gemm}, {"MatMul", Op::MatMul}, {"Add", Op::Add}, {"Sub", Op::Sub}, {"Mul", Op::Mul}, {"Div", Op::Div},
    {"Relu", Op::Relu}, {"Clip", Op::Clip}, {"Sigmoid", Op::Sigmoid}, {"Tanh", Op::Tanh}, {"Softmax", Op::Softmax},
    {"Reshape", Op::Reshape}, {"Flatten", Op::Flatten}, {"Transpose", Op::Transpose}, {"Conv", Op::Conv}, {"MaxPool", Op::MaxPool},
    {"AveragePool", Op::AveragePool}, {"GlobalAveragePool", Op::GlobalAveragePool}, {"BatchNormalization", Op::BatchNormalization},
    {"Identity", Op::Identity}, {"Dropout", Op::Dropout}, {"Concat", Op::Concat}, {"IsNaN", Op::IsNaN}, {"Where", Op::Where},
    {"Cast", Op::Cast}, {"Gather", Op::Gather}, {"ReduceMean", Op::ReduceMean}, {"HardSigmoid", Op::HardSigmoid},
    {"Pad", Op::Pad}, {"GlobalMaxPool", Op::GlobalMaxPool}, {"ReduceMax", Op::ReduceMax}, {"Sqrt", Op::Sqrt}};

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t def) {
  auto* a = find_attr(n, name);
  return a ? a->i() : def;
}
float attr_float(const onnx::NodeProto& n, const std::string& name, float def) {
  auto* a = find_attr(n, name);
  return a ? a->f() : def;
}
std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t> def = {}) {
  auto* a = find_attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : def;
}

// Values flow as float tensors; int64 shape constants are kept as exact floats (|v| < 2^24).
Tensor tensor_from_proto(const onnx::TensorProto& t, const std::string& origin) {
  // The size is checked against the data before anything is allocated: dims are hostile.
  Shape shape(t.dims().begin(), t.dims().end());
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) fail("{}: initializer '{}' has dims {} (negative or overflowing)", origin, t.name(), nn::shape_string(shape));
  }
  auto expect = [&](int64_t have, int64_t unit) {
    if (have != n * unit) fail("{}: initializer '{}' holds {} bytes, its dims {} need {}", origin, t.name(), have, nn::shape_string(shape), n * unit);
  };
  Tensor out;
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      if (t.has_raw_data()) {
        expect(static_cast<int64_t>(t.raw_data().size()), 4);
        out = Tensor(shape);
        std::memcpy(out.data(), t.raw_data().data(), t.raw_data().size());
      } else {
        expect(t.float_data_size() * int64_t{4}, 4);
        out = Tensor(shape);
        std::copy(t.float_data().begin(), t.float_data().end(), out.data());
      }
      break;
    case onnx::TensorProto::INT64:
      if (t.has_raw_data()) {
        expect(static_cast<int64_t>(t.raw_data().size()), 8);
        out = Tensor(shape);
        for (int64_t i = 0; i < n; ++i) {
          int64_t v;
          std::memcpy(&v, t.raw_data().data() + i * 8, 8);
          out[i] = static_cast<float>(v);
        }
      } else {
        expect(t.int64_data_size() * int64_t{8}, 8);
        out = Tensor(shape);
        for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(t.int64_data(static_cast<int>(i)));
      }
      break;
    default:
      fail("{}: initializer '{}' has data type {}; the runner handles FLOAT and INT64", origin, t.name(), t.data_type());
  }
  return out;
}

// The fewest inputs each op needs (the run loop reads them without asking again).
int min_inputs(Op op) {
  switch (op) {
    case Op::Gemm: case Op::MatMul: case Op::Add: case Op::Sub: case Op::Mul: case Op::Div: case Op::Reshape: case Op::Gather:
    case Op::Conv: case Op::Pad:
      return 2;
    case Op::Where: return 3;
    case Op::BatchNormalization: return 5;
    default: return 1;
  }
}

Shape broadcast_shape(const Shape& a, const Shape& b, const std::string& where) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) fail("{}: shapes {} and {} do not broadcast", where, nn::shape_string(a), nn::shape_string(b));
    out[i] = std::max(da, db);
  }
  return out;
}

Tensor binary(const Tensor& a, const Tensor& b, const std::function<float(float, float)>& f, const std::string& where) {
  if (a.shape() == b.shape()) {
    Tensor out(a.shape());
    for (int64_t i = 0; i < a.size(); ++i) out[i] = f(a[i], b[i]);
    return out;
  }
  Shape shape = broadcast_shape(a.shape(), b.shape(), where);
  Tensor out(shape);
  nn::for_each_broadcast(shape, a.shape(), b.shape(), [&](int64_t o, int64_t ia, int64_t ib) { out[o] = f(a[ia], b[ib]); });
  return out;
}

// Where(cond, x, y) with NumPy broadcasting of all three; cond is a 1 / 0 float tensor (the
// runner's form of ONNX's bool).
Tensor where_select(const Tensor& cond, const Tensor& x, const Tensor& y, const std::string& where) {
  Shape shape = broadcast_shape(broadcast_shape(cond.shape(), x.shape(), where), y.shape(), where);
  Tensor out(shape);
  const size_t r = shape.size();
  auto sc = nn::broadcast_strides(cond.shape(), r), sx = nn::broadcast_strides(x.shape(), r), sy = nn::broadcast_strides(y.shape(), r);
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < out.size(); ++i) {
    int64_t ic = 0, ix = 0, iy = 0;
    for (size_t k = 0; k < r; ++k) {
      ic += idx[k] * sc[k];
      ix += idx[k] * sx[k];
      iy += idx[k] * sy[k];
    }
    out[i] = cond[ic] != 0.0f ? x[ix] : y[iy];
    for (size_t k = r; k-- > 0;) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  size_t r = x.rank();
  Shape out_shape(r);
  for (size_t i = 0; i < r; ++i) out_shape[i] = x.dim(static_cast<size_t>(perm[i]));
  Tensor out(out_shape);
  std::vector<int64_t> in_strides(r, 1);
  for (size_t i = r - 1; i-- > 0;) in_strides[i] = in_strides[i + 1] * x.dim(i + 1);
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < out.size(); ++i) {
    int64_t src = 0;
    for (size_t k = 0; k < r; ++k) src += idx[k] * in_strides[static_cast<size_t>(perm[k])];
    out[i] = x[src];
    for (size_t k = r; k-- > 0;) {
      if (++idx[k] < out_shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

}  // namespace

struct OnnxRunner::Impl {
  std::map<std::string, Tensor> constants;
  std::vector<std::string> inputs, outputs;
  // Every value has a slot, resolved at load; constants sit in their slots once.
  std::map<std::string, int> slot_of;
  std::vector<Tensor> constant_slots;
  std::vector<char> is_constant;
  std::vector<int> input_slots, output_slots;
  struct Node {
    Op op;
    std::vector<int> in;  // -1: an omitted optional input
    int out = -1;
    std::string where;  // "<model>: node 'x' (Op)", for errors
  };
  std::vector<Node> nodes;
  int slot(const std::string& name) {
    auto [it, added] = slot_of.emplace(name, static_cast<int>(slot_of.size()));
    return it->second;
  }
  // oneDNN primitives for Conv / pooling, per node and input shape. The lock guards the cache
  // only: primitives run concurrently (each thread has its own stream).
  std::mutex mutex;
  std::map<std::pair<int, Shape>, dnnl::primitive> primitives;
};

OnnxRunner::OnnxRunner(const std::filesystem::path& path) : OnnxRunner(load_model(path), path.string()) {}

OnnxRunner::OnnxRunner(onnx::ModelProto model, std::string origin)
    : model_(std::move(model)), origin_(std::move(origin)), impl_(std::make_unique<Impl>()) {
  const auto& g = model_.graph();
  for (const auto& t : g.initializer()) impl_->constants[t.name()] = tensor_from_proto(t, origin_);
  for (const auto& i : g.input())
    if (!impl_->constants.count(i.name())) impl_->inputs.push_back(i.name());
  for (const auto& o : g.output()) impl_->outputs.push_back(o.name());
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (!n.domain().empty() && n.domain() != "ai.onnx") fail("{}: node '{}' uses domain '{}'; only the default ONNX domain is supported", origin_, n.name(), n.domain());
    if (!kOps.count(n.op_type())) fail("{}: node '{}' has op '{}', which litepipe's ONNX runner does not support", origin_, n.name(), n.op_type());
    if ((n.op_type() == "MaxPool" || n.op_type() == "AveragePool" || n.op_type() == "Conv") &&
        find_attr(n, "auto_pad") && find_attr(n, "auto_pad")->s() != "NOTSET") {
      fail("{}: node '{}' ({}) uses auto_pad={}; only explicit pads are supported", origin_, n.name(), n.op_type(), find_attr(n, "auto_pad")->s());
    }
    if (n.op_type() == "Pad" && find_attr(n, "mode") && find_attr(n, "mode")->s() != "constant") {
      fail("{}: node '{}' (Pad) uses mode '{}'; only 'constant' is supported", origin_, n.name(), find_attr(n, "mode")->s());
    }
  }
  for (const auto& [name, t] : impl_->constants) impl_->slot(name);
  for (const auto& name : impl_->inputs) impl_->input_slots.push_back(impl_->slot(name));
  for (const auto& n : g.node()) {
    Impl::Node prepared{kOps.at(n.op_type()), {}, -1, fmt::format("{}: node '{}' ({})", origin_, n.name(), n.op_type())};
    for (const auto& i : n.input()) {
      if (i.empty()) prepared.in.push_back(-1);
      else if (!impl_->slot_of.count(i)) fail("{}: input '{}' is not computed by an earlier node", prepared.where, i);
      else prepared.in.push_back(impl_->slot_of.at(i));
    }
    if (n.output_size() < 1) fail("{}: has no output", prepared.where);
    int present = 0;
    for (int k : prepared.in) present += k >= 0;
    if (present < min_inputs(prepared.op) || (!prepared.in.empty() && prepared.in[0] < 0)) {
      fail("{}: has {} inputs, the op needs at least {}", prepared.where, present, min_inputs(prepared.op));
    }
    prepared.out = impl_->slot(n.output(0));
    impl_->nodes.push_back(std::move(prepared));
  }
  for (const auto& name : impl_->outputs) {
    if (!impl_->slot_of.count(name)) fail("{}: graph output '{}' is computed by no node", origin_, name);
    impl_->output_slots.push_back(impl_->slot_of.at(name));
  }
  impl_->constant_slots.resize(impl_->slot_of.size());
  impl_->is_constant.assign(impl_->slot_of.size(), 0);
  for (const auto& [name, t] : impl_->constants) {
    impl_->constant_slots[static_cast<size_t>(impl_->slot_of.at(name))] = t;
    impl_->is_constant[static_cast<size_t>(impl_->slot_of.at(name))] = 1;
  }
  for (const auto& p : model_.metadata_props()) {
    if (p.key() != kSignatureMetadataKey) continue;
    try {
      signature_def_ = nlohmann::json::parse(p.value());
    } catch (const nlohmann::json::exception& e) {
      fail("{}: metadata '{}' is not JSON: {}", origin_, kSignatureMetadataKey, e.what());
    }
    if (!signature_def_.is_object()) fail("{}: metadata '{}' must be a JSON object of signatures", origin_, kSignatureMetadataKey);
  }
  if (signature_def_.is_null()) {
    nlohmann::json sig = {{"inputs", nlohmann::json::object()}, {"outputs", nlohmann::json::object()}};
    for (const auto& i : impl_->inputs) sig["inputs"][i] = {{"name", i}, {"dtype", "float32"}};
    for (const auto& o : impl_->outputs) sig["outputs"][o] = {{"name", o}, {"dtype", "float32"}};
    signature_def_ = {{"serving_default", sig}};
  }
}

OnnxRunner::~OnnxRunner() = default;

std::vector<std::string> OnnxRunner::input_names() const { return impl_->inputs; }
std::vector<std::string> OnnxRunner::output_names() const { return impl_->outputs; }

std::map<std::string, Tensor> OnnxRunner::run(const std::map<std::string, Tensor>& feeds) const {
  // Shapes come from the file: one too large for memory, or one oneDNN refuses, is an Error.
  try {
    return run_graph(feeds);
  } catch (const std::bad_alloc&) {
    fail("{}: a tensor of this model does not fit in memory", origin_);
  } catch (const std::length_error&) {
    fail("{}: a tensor of this model does not fit in memory", origin_);
  } catch (const dnnl::error& e) {
    fail("{}: oneDNN rejected a convolution or pooling of this model: {}", origin_, e.what());
  }
}

std::map<std::string, Tensor> OnnxRunner::run_graph(const std::map<std::string, Tensor>& feeds) const {
  using namespace dnnl;
  using nn::dt;
  using nn::tag;
  std::vector<Tensor> values(impl_->slot_of.size());
  for (size_t i = 0; i < impl_->inputs.size(); ++i) {
    auto it = feeds.find(impl_->inputs[i]);
    if (it == feeds.end()) fail("{}: missing input '{}'", origin_, impl_->inputs[i]);
    values[static_cast<size_t>(impl_->input_slots[i])] = it->second;
  }
  const auto& g = model_.graph();
  for (int node_index = 0; node_index < g.node_size(); ++node_index) {
    const auto& n = g.node(node_index);
    const Impl::Node& prepared = impl_->nodes[static_cast<size_t>(node_index)];
    const Op kind = prepared.op;
    const std::string& where = prepared.where;
    auto has_input = [&](int i) { return static_cast<int>(prepared.in.size()) > i && prepared.in[static_cast<size_t>(i)] >= 0; };
    auto in = [&](int i) -> const Tensor& {
      if (!has_input(i)) fail("{}: input {} is missing", where, i);
      auto slot = static_cast<size_t>(prepared.in[static_cast<size_t>(i)]);
      const Tensor& v = impl_->is_constant[slot] ? impl_->constant_slots[slot] : values[slot];
      if (!impl_->is_constant[slot] && v.shape().empty() && v.empty()) fail("{}: input '{}' is not computed yet", where, n.input(i));
      return v;
    };
    Tensor out;
    if (kind == Op::Identity || kind == Op::Dropout) {
      out = in(0);
    } else if (kind == Op::Relu) {
      out = Tensor(in(0).shape());
      for (int64_t i = 0; i < out.size(); ++i) out[i] = std::max(in(0)[i], 0.0f);
    } else if (kind == Op::Sigmoid) {
      out = Tensor(in(0).shape());
      for (int64_t i = 0; i < out.size(); ++i) out[i] = 1.0f / (1.0f + std::exp(-in(0)[i]));
    } else if (kind == Op::HardSigmoid) {
      const float alpha = attr_float(n, "alpha", 0.2f), beta = attr_float(n, "beta", 0.5f);
      out = Tensor(in(0).shape());
      for (int64_t i = 0; i < out.size(); ++i) out[i] = std::max(0.0f, std::min(1.0f, alpha * in(0)[i] + beta));
    } else if (kind == Op::Tanh) {
      out = Tensor(in(0).shape());
      for (int64_t i = 0; i < out.size(); ++i) out[i] = std::tanh(in(0)[i]);
    } else if (kind == Op::Sqrt) {
      out = Tensor(in(0).shape());
      for (int64_t i = 0; i < out.size(); ++i) out[i] = std::sqrt(in(0)[i]);
    } else if (kind == Op::Clip) {
      float lo = has_input(1) ? in(1)[0] : attr_float(n, "min", -INFINITY);
      float hi = has_input(2) ? in(2)[0] : attr_float(n, "max", INFINITY);
      out = Tensor(in(0).shape());
      for (int64_t i = 0; i < out.size(); ++i) out[i] = std::clamp(in(0)[i], lo, hi);
    } else if (kind == Op::Add || kind == Op::Sub || kind == Op::Mul || kind == Op::Div) {
      std::function<float(float, float)> f = kind == Op::Add ? [](float a, float b) { return a + b; }
                                             : kind == Op::Sub ? [](float a, float b) { return a - b; }
                                             : kind == Op::Mul ? [](float a, float b) { return a * b; }
                                                           : [](float a, float b) { return a / b; };
      out = binary(in(0), in(1), f, where);
    } else if (kind == Op::IsNaN) {
      // ONNX's output is bool; the runner's tensors are float, so true / false are 1 / 0.
      out = Tensor(in(0).shape());
      for (int64_t i = 0; i < out.size(); ++i) out[i] = std::isnan(in(0)[i]) ? 1.0f : 0.0f;
    } else if (kind == Op::Where) {
      out = where_select(in(0), in(1), in(2), where);
    } else if (kind == Op::Cast) {
      // Values stay floats here; a cast to an integer type truncates them as ONNX does.
      int64_t to = attr_int(n, "to", onnx::TensorProto::FLOAT);
      out = Tensor(in(0).shape());
      bool integer = to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32;
      if (!integer && to != onnx::TensorProto::FLOAT) fail("{}: cast to type {} (float and integers only)", where, to);
      for (int64_t i = 0; i < out.size(); ++i) out[i] = integer ? std::trunc(in(0)[i]) : in(0)[i];
    } else if (kind == Op::Gather) {
      // Rows of `data` (axis 0) picked by integer ids: [ids..., data's other dims].
      const Tensor& data = in(0);
      const Tensor& ids = in(1);
      if (attr_int(n, "axis", 0) != 0 || data.rank() < 1) fail("{}: only axis 0 is supported", where);
      int64_t rows = data.dim(0), row = data.size() / std::max<int64_t>(rows, 1);
      nn::Shape shape = ids.shape();
      shape.insert(shape.end(), data.shape().begin() + 1, data.shape().end());
      out = Tensor(shape);
      for (int64_t i = 0; i < ids.size(); ++i) {
        float v = ids[i];
        int64_t id = static_cast<int64_t>(v);
        if (id < 0) id += rows;  // ONNX: negative ids count from the end
        if (!(v == std::floor(v)) || id < 0 || id >= rows) fail("{}: index {} is out of range [-{}, {})", where, v, rows, rows);
        std::copy_n(data.data() + id * row, row, out.data() + i * row);
      }
    } else if (kind == Op::ReduceMean || kind == Op::ReduceMax) {
      const Tensor& x = in(0);
      const onnx::AttributeProto* axes_attr = find_attr(n, "axes");
      if (!axes_attr || axes_attr->ints_size() != 1) fail("{}: one reduction axis is supported", where);
      auto rank = static_cast<int64_t>(x.rank());
      int64_t axis = axes_attr->ints(0) < 0 ? axes_attr->ints(0) + rank : axes_attr->ints(0);
      if (axis < 0 || axis >= rank) fail("{}: axis {} is out of range for rank {}", where, axes_attr->ints(0), rank);
      int64_t outer = 1, inner = 1, steps = x.dim(static_cast<size_t>(axis));
      for (int64_t d = 0; d < axis; ++d) outer *= x.dim(static_cast<size_t>(d));
      for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dim(static_cast<size_t>(d));
      nn::Shape shape = x.shape();
      if (attr_int(n, "keepdims", 1)) shape[static_cast<size_t>(axis)] = 1;
      else shape.erase(shape.begin() + axis);
      if (kind == Op::ReduceMax) {
        if (steps == 0) fail("{}: the maximum over an empty axis is undefined", where);
        out = Tensor(shape, -INFINITY);
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t s2 = 0; s2 < steps; ++s2)
            for (int64_t k = 0; k < inner; ++k) out[o * inner + k] = std::max(out[o * inner + k], x[(o * steps + s2) * inner + k]);
      } else {
        out = Tensor(shape);
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t s2 = 0; s2 < steps; ++s2)
            for (int64_t k = 0; k < inner; ++k) out[o * inner + k] += x[(o * steps + s2) * inner + k] / static_cast<float>(steps);
      }
    } else if (kind == Op::Softmax) {
      const Tensor& x = in(0);
      int64_t axis = attr_int(n, "axis", -1);
      if (axis < 0) axis += static_cast<int64_t>(x.rank());
      if (axis != static_cast<int64_t>(x.rank()) - 1) fail("{}: softmax over axis {} (only the last axis is supported)", where, axis);
      int64_t c = x.shape().back(), rows = x.size() / c;
      out = Tensor(x.shape());
      for (int64_t r = 0; r < rows; ++r) {
        const float* p = x.data() + r * c;
        float* q = out.data() + r * c;
        float m = *std::max_element(p, p + c);
        float sum = 0;
        for (int64_t k = 0; k < c; ++k) sum += q[k] = std::exp(p[k] - m);
        for (int64_t k = 0; k < c; ++k) q[k] /= sum;
      }
    } else if (kind == Op::Gemm || kind == Op::MatMul) {
      const Tensor& a = in(0);
      const Tensor& b = in(1);
      bool ta = kind == Op::Gemm && attr_int(n, "transA", 0), tb = kind == Op::Gemm && attr_int(n, "transB", 0);
      float alpha = kind == Op::Gemm ? attr_float(n, "alpha", 1.0f) : 1.0f, beta = kind == Op::Gemm ? attr_float(n, "beta", 1.0f) : 1.0f;
      if (b.rank() != 2 || (kind == Op::Gemm && a.rank() != 2)) fail("{}: expects 2-D operands, got {} and {}", where, nn::shape_string(a.shape()), nn::shape_string(b.shape()));
      int64_t k = ta ? a.dim(0) : a.shape().back(), m = ta ? a.dim(1) : a.size() / k;
      int64_t kb = tb ? b.dim(1) : b.dim(0), cols = tb ? b.dim(0) : b.dim(1);
      if (k != kb) fail("{}: inner dimensions differ: {} and {}", where, nn::shape_string(a.shape()), nn::shape_string(b.shape()));
      Shape out_shape = a.shape();
      out_shape.back() = cols;
      if (kind == Op::Gemm) out_shape = {m, cols};
      out = Tensor(out_shape);
      float c_scale = 0.0f;
      if (kind == Op::Gemm && has_input(2)) {
        Tensor bias = binary(out, in(2), [](float, float c) { return c; }, where);
        std::memcpy(out.data(), bias.data(), static_cast<size_t>(out.size()) * sizeof(float));
        c_scale = beta;
      }
      dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, cols, k, alpha, a.data(), ta ? m : k, b.data(), tb ? k : cols,
                 c_scale, out.data(), cols);
    } else if (kind == Op::Reshape) {
      const Tensor& x = in(0);
      const Tensor& s = in(1);
      Shape shape(static_cast<size_t>(s.size()));
      int64_t known = 1, unknown = -1;
      for (int64_t i = 0; i < s.size(); ++i) {
        // The file's shape: 0 copies an existing dimension, one -1 is inferred, nothing else below 1.
        const float given = s[i];
        if (!(given >= -1.0f && given <= static_cast<float>(int64_t{1} << 40)) || given != std::floor(given) ||
            (given == 0.0f && i >= static_cast<int64_t>(x.rank())) || (given == -1.0f && unknown >= 0)) {
          fail("{}: shape value {} at index {} is not a dimension, 0 (copy of input {}) or a single -1", where, given, i, nn::shape_string(x.shape()));
        }
        auto v = static_cast<int64_t>(given);
        if (v == 0) v = x.dim(static_cast<size_t>(i));
        if (v == -1) unknown = i;
        else if (__builtin_mul_overflow(known, v, &known)) fail("{}: the shape's size overflows", where);
        shape[static_cast<size_t>(i)] = v;
      }
      if (unknown >= 0) shape[static_cast<size_t>(unknown)] = x.size() / std::max<int64_t>(known, 1);
      if (nn::shape_size(shape) != x.size()) fail("{}: cannot reshape {} to {}", where, nn::shape_string(x.shape()), nn::shape_string(shape));
      out = x.reshaped(shape);
    } else if (kind == Op::Flatten) {
      const Tensor& x = in(0);
      int64_t axis = attr_int(n, "axis", 1);
      if (axis < 0) axis += static_cast<int64_t>(x.rank());
      if (axis < 0 || axis > static_cast<int64_t>(x.rank())) fail("{}: axis {} is out of range for rank {}", where, attr_int(n, "axis", 1), x.rank());
      int64_t outer = 1;
      for (int64_t i = 0; i < axis; ++i) outer *= x.dim(static_cast<size_t>(i));
      out = x.reshaped({outer, x.size() / std::max<int64_t>(outer, 1)});
    } else if (kind == Op::Transpose) {
      std::vector<int64_t> perm = attr_ints(n, "perm");
      if (perm.empty()) {
        for (size_t i = in(0).rank(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
      }
      std::vector<int64_t> sorted(perm);
      std::sort(sorted.begin(), sorted.end());
      for (size_t i = 0; i < sorted.size(); ++i) {
        if (sorted.size() != in(0).rank() || sorted[i] != static_cast<int64_t>(i)) {
          fail("{}: perm [{}] is not a permutation of the {} axes of {}", where, fmt::join(perm, ", "), in(0).rank(), nn::shape_string(in(0).shape()));
        }
      }
      out = transpose(in(0), perm);
    } else if (kind == Op::Concat) {
      int64_t axis = attr_int(n, "axis", 0);
      auto rank = static_cast<int64_t>(in(0).rank());
      if (axis < 0) axis += rank;
      if (axis < 0 || axis >= rank) fail("{}: axis {} is out of range for rank {}", where, attr_int(n, "axis", 0), rank);
      for (int i = 1; i < n.input_size(); ++i) {
        const Shape& other = in(i).shape();
        bool same = other.size() == in(0).shape().size();
        for (size_t d = 0; same && d < other.size(); ++d) same = static_cast<int64_t>(d) == axis || other[d] == in(0).shape()[d];
        if (!same) fail("{}: input {} has shape {}, which does not concatenate with {} on axis {}", where, i, nn::shape_string(other), nn::shape_string(in(0).shape()), axis);
      }
      Shape shape = in(0).shape();
      shape[static_cast<size_t>(axis)] = 0;
      for (int i = 0; i < n.input_size(); ++i) shape[static_cast<size_t>(axis)] += in(i).dim(static_cast<size_t>(axis));
      out = Tensor(shape);
      int64_t outer = 1;
      for (int64_t i = 0; i < axis; ++i) outer *= shape[static_cast<size_t>(i)];
      int64_t offset = 0, out_row = out.size() / std::max<int64_t>(outer, 1);
      for (int i = 0; i < n.input_size(); ++i) {
        int64_t row = in(i).size() / std::max<int64_t>(outer, 1);
        for (int64_t o = 0; o < outer; ++o) std::memcpy(out.data() + o * out_row + offset, in(i).data() + o * row, static_cast<size_t>(row) * sizeof(float));
        offset += row;
      }
    } else if (kind == Op::GlobalAveragePool) {
      const Tensor& x = in(0);
      int64_t nb = x.dim(0), c = x.dim(1), hw = x.size() / (nb * c);
      out = Tensor({nb, c, 1, 1});
      for (int64_t i = 0; i < nb * c; ++i) {
        double s = 0;
        for (int64_t j = 0; j < hw; ++j) s += x[i * hw + j];
        out[i] = static_cast<float>(s / static_cast<double>(hw));
      }
    } else if (kind == Op::GlobalMaxPool) {
      const Tensor& x = in(0);
      if (x.rank() < 3) fail("{}: expects an input [N, C, spatial...], got {}", where, nn::shape_string(x.shape()));
      int64_t nb = x.dim(0), c = x.dim(1), hw = x.size() / std::max<int64_t>(nb * c, 1);
      if (hw < 1) fail("{}: the input {} has no spatial values", where, nn::shape_string(x.shape()));
      Shape shape(x.rank(), 1);
      shape[0] = nb;
      shape[1] = c;
      out = Tensor(shape);
      for (int64_t i = 0; i < nb * c; ++i) out[i] = *std::max_element(x.data() + i * hw, x.data() + (i + 1) * hw);
    } else if (kind == Op::Pad) {
      // Constant padding: pads = every axis's begin, then every axis's end (opset 13: an input).
      const Tensor& x = in(0);
      const Tensor& pads = in(1);
      const size_t rank = x.rank();
      if (rank == 0) fail("{}: cannot pad a scalar", where);
      if (pads.size() != static_cast<int64_t>(2 * rank)) fail("{}: pads has {} values; a rank-{} input needs {}", where, pads.size(), rank, 2 * rank);
      const float value = has_input(2) && in(2).size() > 0 ? in(2)[0] : 0.0f;
      // Pads come from the file: whole numbers, and a padded size that can be allocated.
      constexpr float kMaxPad = 1 << 20;
      constexpr int64_t kMaxElements = int64_t{1} << 28;
      Shape shape(rank);
      std::vector<int64_t> begin(rank);
      int64_t elements = 1;
      for (size_t d = 0; d < rank; ++d) {
        const float b = pads[static_cast<int64_t>(d)], e = pads[static_cast<int64_t>(rank + d)];
        if (!(b >= 0 && e >= 0 && b <= kMaxPad && e <= kMaxPad) || b != std::floor(b) || e != std::floor(e)) {
          fail("{}: pads must be whole numbers in [0, {}] (negative pads, cropping, are not supported), got {} and {} on axis {}", where, kMaxPad, b, e, d);
        }
        begin[d] = static_cast<int64_t>(b);
        shape[d] = x.dim(d) + begin[d] + static_cast<int64_t>(e);
        if (__builtin_mul_overflow(elements, shape[d], &elements) || elements > kMaxElements) {
          fail("{}: the padded shape has more than {} values", where, kMaxElements);
        }
      }
      out = Tensor(shape, value);
      // Rows of the last axis are copied whole, at their offset in the padded output.
      const int64_t row = rank ? x.shape().back() : 1, rows = x.size() / std::max<int64_t>(row, 1);
      std::vector<int64_t> idx(rank, 0);
      for (int64_t r = 0; r < rows; ++r) {
        int64_t o = 0;
        for (size_t d = 0; d < rank; ++d) o = o * shape[d] + idx[d] + begin[d];
        std::copy_n(x.data() + r * row, row, out.data() + o);
        for (size_t d = rank - 1; d-- > 0;) {
          if (++idx[d] < x.dim(d)) break;
          idx[d] = 0;
        }
      }
    } else if (kind == Op::BatchNormalization) {
      const Tensor& x = in(0);
      const Tensor &scale = in(1), &bias = in(2), &mean = in(3), &var = in(4);
      float eps = attr_float(n, "epsilon", 1e-5f);
      int64_t nb = x.dim(0), c = x.dim(1), inner = x.size() / (nb * c);
      out = Tensor(x.shape());
      for (int64_t b = 0; b < nb; ++b)
        for (int64_t ch = 0; ch < c; ++ch) {
          float mul = scale[ch] / std::sqrt(var[ch] + eps), add = bias[ch] - mean[ch] * mul;
          const float* p = x.data() + (b * c + ch) * inner;
          float* q = out.data() + (b * c + ch) * inner;
          for (int64_t j = 0; j < inner; ++j) q[j] = p[j] * mul + add;
        }
    } else {  // Conv, MaxPool, AveragePool on oneDNN, NCHW
      const Tensor& x = in(0);
      if (x.rank() != 4) fail("{}: expects a 4-D NCHW input, got {}", where, nn::shape_string(x.shape()));
      std::vector<int64_t> kernel = attr_ints(n, "kernel_shape");
      if (kind == Op::Conv && kernel.empty()) kernel = {in(1).dim(2), in(1).dim(3)};
      std::vector<int64_t> strides = attr_ints(n, "strides", {1, 1}), pads = attr_ints(n, "pads", {0, 0, 0, 0});
      std::vector<int64_t> dil = attr_ints(n, "dilations", {1, 1});
      if (kind != Op::Conv && attr_int(n, "ceil_mode", 0)) fail("{}: ceil_mode=1 is not supported", where);
      int64_t group = attr_int(n, "group", 1);
      // Hostile attributes must not index past their lists or divide by zero.
      auto all_at_least = [](const std::vector<int64_t>& v, int64_t lo) { return std::all_of(v.begin(), v.end(), [&](int64_t e) { return e >= lo; }); };
      if (kernel.size() != 2 || strides.size() != 2 || pads.size() != 4 || dil.size() != 2 || !all_at_least(kernel, 1) ||
          !all_at_least(strides, 1) || !all_at_least(pads, 0) || !all_at_least(dil, 1)) {
        fail("{}: expects 2 kernel_shape, strides and dilations values (each >= 1) and 4 pads (each >= 0)", where);
      }
      if (kind == Op::Conv && in(1).rank() != 4) fail("{}: expects 4-D weights, got {}", where, nn::shape_string(in(1).shape()));
      auto out_dim = [&](int i) {
        int64_t eff = (kernel[static_cast<size_t>(i)] - 1) * dil[static_cast<size_t>(i)] + 1;
        return (x.dim(2 + static_cast<size_t>(i)) + pads[static_cast<size_t>(i)] + pads[static_cast<size_t>(i) + 2] - eff) / strides[static_cast<size_t>(i)] + 1;
      };
      int64_t oc = kind == Op::Conv ? in(1).dim(0) : x.dim(1);
      Shape out_shape = {x.dim(0), oc, out_dim(0), out_dim(1)};
      if (out_shape[2] < 1 || out_shape[3] < 1) fail("{}: the window does not fit the input {}", where, nn::shape_string(x.shape()));
      out = Tensor(out_shape);
      memory::desc src(nn::dims_of(x.shape()), dt::f32, tag::nchw), dst(nn::dims_of(out_shape), dt::f32, tag::nchw);
      memory::dims st = {strides[0], strides[1]}, pl = {pads[0], pads[1]}, pr = {pads[2], pads[3]};
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, nn::mem(src, x)}, {DNNL_ARG_DST, nn::mem(dst, out)}};
      std::unique_lock lock(impl_->mutex);
      auto key = std::make_pair(node_index, x.shape());
      auto cached = impl_->primitives.find(key);
      if (kind == Op::Conv) {
        const Tensor& w = in(1);
        memory::desc wd = group == 1 ? memory::desc(nn::dims_of(w.shape()), dt::f32, tag::oihw)
                                     : memory::desc({group, w.dim(0) / group, w.dim(1), w.dim(2), w.dim(3)}, dt::f32, tag::goihw);
        memory::desc bd({oc}, dt::f32, tag::a);
        args[DNNL_ARG_WEIGHTS] = nn::mem(wd, w);
        if (has_input(2)) args[DNNL_ARG_BIAS] = nn::mem(bd, in(2));
        if (cached == impl_->primitives.end()) {
          memory::dims d = {dil[0] - 1, dil[1] - 1};
          auto desc = has_input(2) ? convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src, wd, bd, dst, st, d, pl, pr)
                                   : convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src, wd, dst, st, d, pl, pr);
          cached = impl_->primitives.emplace(key, convolution_forward(convolution_forward::primitive_desc(desc, nn::cpu_engine()))).first;
        }
      } else if (cached == impl_->primitives.end()) {
        algorithm alg = kind == Op::MaxPool ? algorithm::pooling_max
                        : attr_int(n, "count_include_pad", 0) ? algorithm::pooling_avg_include_padding
                                                              : algorithm::pooling_avg_exclude_padding;
        pooling_forward::desc desc(prop_kind::forward_inference, alg, src, dst, st, {kernel[0], kernel[1]}, pl, pr);
        cached = impl_->primitives.emplace(key, pooling_forward(pooling_forward::primitive_desc(desc, nn::cpu_engine()))).first;
      }
      dnnl::primitive primitive = cached->second;  // a handle: the cache may grow meanwhile
      lock.unlock();
      primitive.execute(nn::cpu_stream(), args);
      nn::cpu_stream().wait();
    }
    values[static_cast<size_t>(prepared.out)] = out;
  }
  std::map<std::string, Tensor> result;
  for (size_t i = 0; i < impl_->outputs.size(); ++i) {
    auto slot = static_cast<size_t>(impl_->output_slots[i]);
    result[impl_->outputs[i]] = impl_->is_constant[slot] ? impl_->constant_slots[slot] : values[slot];
  }
  return result;
}

}  // namespace litepipe::onnxio
