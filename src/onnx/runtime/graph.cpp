#include "onnx/runtime/graph.h"

#include <cstring>

namespace litepipe::onnxio::runtime {

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
      // Values flow as float tensors; int64 shape constants are kept as exact floats (|v| < 2^24).
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

Graph::Graph(const onnx::ModelProto& model, const std::string& origin) : origin_(origin) {
  const auto& g = model.graph();
  std::map<std::string, Tensor> constants;
  for (const auto& t : g.initializer()) constants[t.name()] = tensor_from_proto(t, origin_);
  for (const auto& i : g.input())
    if (!constants.count(i.name())) input_names_.push_back(i.name());
  for (const auto& o : g.output()) output_names_.push_back(o.name());
  // Every op is resolved before any node is prepared: an unsupported op is the first thing said.
  std::vector<const Kernel*> kernels;
  for (const auto& n : g.node()) {
    if (!n.domain().empty() && n.domain() != "ai.onnx") fail("{}: node '{}' uses domain '{}'; only the default ONNX domain is supported", origin_, n.name(), n.domain());
    const Kernel* kernel = find_kernel(n.op_type());
    if (!kernel) fail("{}: node '{}' has op '{}', which litepipe's ONNX runner does not support", origin_, n.name(), n.op_type());
    kernels.push_back(kernel);
  }

  std::map<std::string, int> slot_of;
  std::vector<const Tensor*> constant_of;  // per slot
  auto new_slot = [&](const Tensor* constant) {
    constant_of.push_back(constant);
    initial_values_.push_back(constant ? *constant : Tensor());
    return static_cast<int>(constant_of.size()) - 1;
  };
  for (const auto& [name, t] : constants) slot_of[name] = new_slot(&t);
  for (const auto& name : input_names_) {
    auto it = slot_of.find(name);
    input_slots_.push_back(it != slot_of.end() ? it->second : slot_of[name] = new_slot(nullptr));
  }
  nodes_.resize(static_cast<size_t>(g.node_size()));
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const auto& n = g.node(static_cast<int>(i));
    Node& node = nodes_[i];
    node.kernel = kernels[i];
    node.index = i;
    node.where = fmt::format("{}: node '{}' ({})", origin_, n.name(), n.op_type());
    for (const auto& name : n.input()) {
      if (name.empty()) {
        node.inputs.push_back(-1);
        continue;
      }
      auto it = slot_of.find(name);
      if (it == slot_of.end()) fail("{}: input '{}' is not computed by an earlier node", node.where, name);
      node.inputs.push_back(it->second);
    }
    if (n.output_size() < 1) fail("{}: has no output", node.where);
    int present = 0;
    for (int k : node.inputs) present += k >= 0;
    if (present < node.kernel->min_inputs || (!node.inputs.empty() && node.inputs[0] < 0)) {
      fail("{}: has {} inputs, the op needs at least {}", node.where, present, node.kernel->min_inputs);
    }
    // A slot of its own: a later node reading this name reads this output.
    node.output = slot_of[n.output(0)] = new_slot(nullptr);
    PrepareContext ctx(n, node, constant_of);
    node.data = node.kernel->prepare(ctx);
  }
  for (const auto& name : output_names_) {
    auto it = slot_of.find(name);
    if (it == slot_of.end()) fail("{}: graph output '{}' is computed by no node", origin_, name);
    output_slots_.push_back(it->second);
  }
  // Graph outputs leave the call, and so do the buffers they are views of.
  reusable_.assign(constant_of.size(), 1);
  for (int slot : output_slots_) reusable_[static_cast<size_t>(slot)] = 0;
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
    if (it->kernel->aliases_input && !reusable_[static_cast<size_t>(it->output)]) reusable_[static_cast<size_t>(it->inputs[0])] = 0;
  }
}

Graph::~Graph() = default;

std::unique_ptr<Frame> Graph::acquire_frame() const {
  {
    std::lock_guard lock(frames_mutex_);
    if (!idle_frames_.empty()) {
      auto frame = std::move(idle_frames_.back());
      idle_frames_.pop_back();
      return frame;
    }
  }
  return std::make_unique<Frame>(initial_values_, reusable_, nodes_.size());
}

void Graph::release_frame(std::unique_ptr<Frame> frame) const {
  std::lock_guard lock(frames_mutex_);
  idle_frames_.push_back(std::move(frame));
}

std::map<std::string, Tensor> Graph::run(const std::map<std::string, Tensor>& feeds) const {
  // A frame that saw an exception is dropped with it: no half-written state is reused.
  std::unique_ptr<Frame> frame = acquire_frame();
  for (size_t i = 0; i < input_names_.size(); ++i) {
    auto it = feeds.find(input_names_[i]);
    if (it == feeds.end()) fail("{}: missing input '{}'", origin_, input_names_[i]);
    frame->value(input_slots_[i]) = it->second;
  }
  for (const Node& node : nodes_) node.kernel->eval(node, *frame);
  std::map<std::string, Tensor> result;
  for (size_t i = 0; i < output_names_.size(); ++i) result[output_names_[i]] = frame->value(output_slots_[i]);
  // The caller's tensors are not kept alive by an idle frame.
  for (int slot : input_slots_) frame->value(slot) = Tensor();
  for (int slot : output_slots_)
    if (!initial_values_[static_cast<size_t>(slot)].data()) frame->value(slot) = Tensor();
  release_frame(std::move(frame));
  return result;
}

}  // namespace litepipe::onnxio::runtime
