#include "nn/layer.h"

#include <mutex>

#include "core/error.h"

namespace litepipe::nn {

namespace {
std::mutex names_mutex;
std::map<std::string, int>& name_counts() {
  static std::map<std::string, int> counts;
  return counts;
}
}  // namespace

std::string default_layer_name(const std::string& base) {
  std::lock_guard lock(names_mutex);
  int n = name_counts()[base]++;
  return n == 0 ? base : base + "_" + std::to_string(n);
}

void reset_layer_names() {
  std::lock_guard lock(names_mutex);
  name_counts().clear();
}

Parameter& Layer::add_param(const std::string& name, Shape shape, bool trainable) {
  Tensor value(shape);
  params_.push_back(Parameter{name, value, trainable ? Tensor(shape) : Tensor(), trainable});
  return params_.back();
}

Parameter& Layer::param(const std::string& name) {
  for (auto& p : params_)
    if (p.name == name) return p;
  fail("layer {}: no parameter '{}'", name_, name);
}

const Parameter& Layer::param(const std::string& name) const { return const_cast<Layer*>(this)->param(name); }

Shape Layer::build_once(const std::vector<Shape>& inputs, Rng& rng) {
  if (built_) {
    if (inputs != built_inputs_) {
      std::string got;
      for (const auto& s : inputs) got += shape_string(s) + " ";
      fail("layer {} ({}): already built for other input shapes; got {}", name_, type(), got);
    }
    return built_output_;
  }
  built_output_ = build(inputs, rng);
  built_inputs_ = inputs;
  built_ = true;
  return built_output_;
}

Rng& global_rng() {
  static Rng rng(42);
  return rng;
}

void set_random_seed(uint64_t seed) { global_rng().seed(seed); }

NodeRef Input(Shape shape, std::string name) {
  for (int64_t d : shape)
    if (d <= 0) fail("Input '{}': dimensions must be positive, got {}", name, shape_string(shape));
  auto node = std::make_shared<Node>();
  node->shape = std::move(shape);
  node->name = std::move(name);
  return node;
}

NodeRef LayerRef::operator()(const std::vector<NodeRef>& inputs) const {
  auto node = std::make_shared<Node>();
  node->layer = layer_;
  node->inputs = inputs;
  node->name = layer_->name();
  std::vector<Shape> shapes;
  for (const auto& i : inputs) {
    if (!i) fail("layer {}: called on a null tensor", layer_->name());
    shapes.push_back(i->shape);
  }
  node->shape = layer_->build_once(shapes, global_rng());
  return node;
}

}  // namespace litepipe::nn
