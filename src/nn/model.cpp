#include "nn/model.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <chrono>
#include <cstring>
#include <functional>
#include <numeric>
#include <set>
#include <span>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/progress.h"
#include "distributed/world.h"
#include "nn/dataset.h"

namespace litepipe::nn {

Model::Model(std::vector<NodeRef> inputs, NodeRef output, std::string name)
    : name_(std::move(name)), inputs_(std::move(inputs)), output_(std::move(output)) {
  if (inputs_.empty() || !output_) fail("model {}: needs inputs and an output", name_);
  std::set<const Node*> input_set;
  for (const auto& i : inputs_) {
    if (i->layer) fail("model {}: input '{}' is not an Input()", name_, i->name);
    input_set.insert(i.get());
  }
  std::set<const Node*> visited;
  std::function<void(const NodeRef&)> visit = [&](const NodeRef& n) {
    if (visited.count(n.get())) return;
    visited.insert(n.get());
    if (!n->layer) {
      if (!input_set.count(n.get())) fail("model {}: output depends on Input '{}' that is not among the model's inputs", name_, n->name);
      return;
    }
    for (const auto& i : n->inputs) visit(i);
    order_.push_back(n);
  };
  visit(output_);
  // Gradients flow only where a trainable parameter lies upstream: a layer fed by Inputs (or by
  // layers without weights) does not compute its input gradient.
  std::map<Layer*, bool> needed;  // a shared layer needs it if any of its applications does
  for (const auto& n : order_) {
    bool own = false;
    for (const auto& p : n->layer->parameters()) own |= p.trainable;
    bool upstream = false;
    for (const auto& i : n->inputs) upstream |= trainable_upstream_.count(i.get()) > 0;
    if (own || upstream) trainable_upstream_.insert(n.get());
    needed[n->layer.get()] |= upstream;
  }
  for (auto& [layer, need] : needed) layer->set_input_gradient_needed(need);
  // The same layer applied twice is allowed (shared weights); two layers with one name are not.
  std::map<std::string, const Layer*> by_name;
  std::map<const Layer*, int> applications;
  for (const auto& n : order_) {
    auto [it, inserted] = by_name.emplace(n->layer->name(), n->layer.get());
    if (!inserted && it->second != n->layer.get()) fail("model {}: two layers are named '{}'", name_, n->layer->name());
    ++applications[n->layer.get()];
  }
  // A ReLU's backward moves into the max pooling that alone consumes it; both layers must be
  // applied once here, or one backward would serve two different graphs.
  std::map<const Node*, std::vector<const Node*>> consumers;
  for (const auto& n : order_)
    for (const auto& i : n->inputs) consumers[i.get()].push_back(n.get());
  for (const auto& n : order_) training_mixes_rows_ |= n->layer->training_mixes_rows();
  std::map<const Node*, size_t> last_use;
  for (size_t k = 0; k < order_.size(); ++k)
    for (const auto& i : order_[k]->inputs) last_use[i.get()] = k;
  released_after_.resize(order_.size());
  for (auto [node, k] : last_use)
    if (node != output_.get()) released_after_[k].push_back(node);
  for (const auto& n : order_) {
    const auto& users = consumers[n.get()];
    if (n == output_ || users.size() != 1 || !n->layer->ends_with_relu() || applications[n->layer.get()] != 1) continue;
    Layer* pool = users[0]->layer.get();
    if (pool->can_mask_relu_gradient() && applications[pool] == 1 && users[0]->inputs.size() == 1) relu_into_pool_.emplace_back(n->layer.get(), pool);
  }
}

// Layers may belong to several models (a Keras functional sub-model): each model sets the
// pairing for its own graph before it trains.
void Model::pair_relu_with_pools() {
  for (const auto& n : order_) {
    n->layer->set_relu_masked_by_consumer(false);
    n->layer->set_masks_relu_gradient(false);
  }
  for (auto [relu, pool] : relu_into_pool_) {
    relu->set_relu_masked_by_consumer(true);
    pool->set_masks_relu_gradient(true);
  }
}

void Model::compile(std::shared_ptr<Optimizer> optimizer, std::shared_ptr<Loss> loss, std::vector<std::string> metrics) {
  if (!optimizer || !loss) fail("model {}: compile needs an optimizer and a loss", name_);
  for (auto& m : metrics) {
    if (m == "accuracy") m = "sparse_categorical_accuracy";
    if (m == "mae") m = "mean_absolute_error";
    if (m != "sparse_categorical_accuracy" && m != "mean_absolute_error") {
      fail("model {}: unknown metric '{}' (expected sparse_categorical_accuracy or mean_absolute_error)", name_, m);
    }
  }
  optimizer_ = std::move(optimizer);
  loss_ = std::move(loss);
  metrics_ = std::move(metrics);
  // As Keras: crossentropy on a softmax output is computed from the logits (stable gradients).
  fused_softmax_loss_ = loss_->fuses_softmax() && output_->layer && output_->layer->ends_with_softmax();
  if (output_->layer) output_->layer->set_backward_from_logits(fused_softmax_loss_);
}

Tensor Model::forward(const std::vector<Tensor>& inputs, bool training) {
  if (inputs.size() != inputs_.size()) fail("model {}: {} inputs given, expected {}", name_, inputs.size(), inputs_.size());
  if (training) pair_relu_with_pools();
  std::map<const Node*, Tensor> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Shape expected = inputs_[i]->shape;
    Shape got(inputs[i].shape().begin() + 1, inputs[i].shape().end());
    if (inputs[i].rank() == 0 || got != expected) {
      fail("model {}: input '{}' has shape {}, expected [batch] + {}", name_, inputs_[i]->name,
           shape_string(inputs[i].shape()), shape_string(expected));
    }
    values[inputs_[i].get()] = inputs[i];
  }
  for (size_t k = 0; k < order_.size(); ++k) {
    const Node* n = order_[k].get();
    std::vector<Tensor> args;
    for (const auto& i : n->inputs) args.push_back(values.at(i.get()));
    values[n] = n->layer->forward(args, training);
    args.clear();
    for (const Node* done : released_after_[k]) values.erase(done);
  }
  return values.at(output_.get());
}

void Model::backward(const Tensor& grad_output) {
  std::map<const Node*, Tensor> grads;
  grads[output_.get()] = grad_output;
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    const NodeRef& n = *it;
    auto g = grads.find(n.get());
    if (g == grads.end()) continue;  // does not reach the output
    std::vector<Tensor> input_grads = n->layer->backward(g->second);
    for (size_t k = 0; k < n->inputs.size(); ++k) {
      const Node* in = n->inputs[k].get();
      if (!in->layer || !trainable_upstream_.count(in)) continue;  // nothing to train up there
      auto existing = grads.find(in);
      if (existing == grads.end()) {
        grads[in] = input_grads[k];
      } else {
        // A tensor feeding several layers (residual): its gradient is the sum.
        Tensor sum = existing->second.clone();
        for (int64_t i = 0; i < sum.size(); ++i) sum[i] += input_grads[k][i];
        existing->second = sum;
      }
    }
  }
}

std::vector<Parameter*> Model::all_parameters() {
  std::vector<Parameter*> params;
  std::set<const Layer*> seen;
  for (const auto& n : order_) {
    if (!seen.insert(n->layer.get()).second) continue;
    for (auto& p : n->layer->parameters()) params.push_back(&p);
  }
  return params;
}

std::vector<Parameter*> Model::trainable_parameters() {
  std::vector<Parameter*> params;
  for (Parameter* p : all_parameters())
    if (p->trainable) params.push_back(p);
  return params;
}

double Model::train_step(const Tensor& x, const Tensor& y) { return train_step(std::vector<Tensor>{x}, y); }

double Model::train_step(const std::vector<Tensor>& x, const Tensor& y) {
  if (!optimizer_) fail("model {}: call compile() before training", name_);
  double loss = compute_gradients(x, y);
  optimizer_->apply(trainable_parameters());
  return loss;
}

double Model::compute_gradients(const std::vector<Tensor>& x, const Tensor& y) {
  Tensor pred = forward(x, true);
  Tensor grad;
  double loss = fused_softmax_loss_ ? loss_->compute_from_softmax(pred, y, &grad) : loss_->compute(pred, y, &grad);
  backward(grad);
  last_prediction_ = pred;
  return loss;
}

static double mean_absolute_error(const Tensor& prediction, const Tensor& labels) {
  int64_t n = prediction.dim(0), c = prediction.size() / n;
  bool per_value = labels.size() == prediction.size();  // else one label per row
  double sum = 0;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t k = 0; k < c; ++k) sum += std::abs(static_cast<double>(prediction[r * c + k]) - static_cast<double>(labels[per_value ? r * c + k : r]));
  return sum / static_cast<double>(n * c);
}

// The compiled metrics of one batch, by name.
static void add_metrics(const std::vector<std::string>& metrics, const Tensor& prediction, const Tensor& labels, double weight, Logs& sums) {
  for (const auto& m : metrics) {
    sums[m] += weight * (m == "mean_absolute_error" ? mean_absolute_error(prediction, labels) : sparse_categorical_accuracy(prediction, labels));
  }
}

double sparse_categorical_accuracy(const Tensor& prediction, const Tensor& labels) {
  int64_t n = prediction.dim(0), c = prediction.size() / n;
  int64_t correct = 0;
  for (int64_t r = 0; r < n; ++r) {
    const float* p = prediction.data() + r * c;
    correct += (std::max_element(p, p + c) - p) == static_cast<int64_t>(labels[r]);
  }
  return static_cast<double>(correct) / static_cast<double>(n);
}

namespace {

// Rows `idx` of `t` gathered into a new batch tensor.
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& idx) {
  Shape s = t.shape();
  int64_t row = t.size() / s[0];
  s[0] = static_cast<int64_t>(idx.size());
  Tensor out = Tensor::uninitialized(s);
  for (size_t i = 0; i < idx.size(); ++i) {
    std::memcpy(out.data() + static_cast<int64_t>(i) * row, t.data() + idx[i] * row, static_cast<size_t>(row) * sizeof(float));
  }
  return out;
}

// Batches over a dataset; with `repeat` the data cycles (reshuffled on every pass).
class BatchIterator {
 public:
  BatchIterator(int64_t n, int64_t batch, bool shuffle, bool repeat, uint64_t seed)
      : n_(n), batch_(batch), shuffle_(shuffle), repeat_(repeat), rng_(seed), order_(static_cast<size_t>(n)) {
    std::iota(order_.begin(), order_.end(), 0);
    if (shuffle_) std::shuffle(order_.begin(), order_.end(), rng_);
  }
  std::vector<int64_t> next() {
    std::vector<int64_t> idx;
    while (static_cast<int64_t>(idx.size()) < batch_) {
      if (pos_ == n_) {
        if (!repeat_ && !idx.empty()) break;
        pos_ = 0;
        if (shuffle_) std::shuffle(order_.begin(), order_.end(), rng_);
      }
      idx.push_back(order_[static_cast<size_t>(pos_++)]);
    }
    return idx;
  }

 private:
  int64_t n_, batch_;
  bool shuffle_, repeat_;
  Rng rng_;
  std::vector<int64_t> order_;
  int64_t pos_ = 0;
};

// Data-parallel fit: what every rank must agree on before the first step.
// `examples`: the whole training set; `held`: the rows of this rank's shard, or -1 when it holds them all.
void start_data_parallel(const distributed::World& world, const std::string& model, int64_t examples, int64_t held, int64_t batch_size,
                         uint64_t& shuffle_seed, const std::vector<Parameter*>& params) {
  std::vector<int64_t> counts = world.allgather(examples), holds = world.allgather(held);
  int64_t in_shards = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    if (counts[r] != counts[0]) {
      fail("model {}: data-parallel fit: rank {} was given {} examples, rank 0 {}; every rank must be given the whole "
           "training set (each computes its slice of every global batch) or its shard of it (nn::load_train_shard)", model, r,
           counts[r], counts[0]);
    }
    if ((holds[r] < 0) != (holds[0] < 0)) fail("model {}: data-parallel fit: rank {} and rank 0 differ: one was given a shard, one the whole set", model, r);
    in_shards += holds[r];
  }
  if (holds[0] >= 0 && in_shards != examples) {
    fail("model {}: data-parallel fit: the ranks' shards hold {} of the {} examples; give each rank its own load_train_shard Dataset", model,
         in_shards, examples);
  }
  if (batch_size < world.size()) fail("model {}: data-parallel fit: batch_size {} is smaller than the {} processes", model, batch_size, world.size());
  // Rank 0's shuffle seed and weights (Horovod's broadcast_parameters): the same global batches
  // and the same starting point on every rank, whatever each drew from its own random stream.
  world.broadcast(shuffle_seed);
  for (Parameter* p : params) world.broadcast(std::span<float>(p->value.data(), static_cast<size_t>(p->value.size())));
}

// One fused buffer per step: every trainable parameter's gradient scaled by this rank's share of
// the global batch (the loss is a mean over the rank's rows), then the step's loss and metric
// sums; one MPI_Allreduce turns them into the global batch's gradient and sums.
void allreduce_step(const distributed::World& world, const std::vector<Parameter*>& params, double share, double& loss_sum, Logs& metric_sums) {
  size_t total = 0;
  for (Parameter* p : params) {
    total += static_cast<size_t>(p->value.size());
    if (p->grad.size() != p->value.size()) p->grad = Tensor(p->value.shape());  // not reached by backward
  }
  std::vector<float> fused(total + 1 + metric_sums.size());
  auto scale = static_cast<float>(share);
  size_t at = 0;
  for (Parameter* p : params) {
    for (int64_t i = 0; i < p->grad.size(); ++i) fused[at + static_cast<size_t>(i)] = p->grad[i] * scale;
    at += static_cast<size_t>(p->value.size());
  }
  fused[at++] = static_cast<float>(loss_sum);
  for (const auto& entry : metric_sums) fused[at++] = static_cast<float>(entry.second);
  world.allreduce_sum(fused);
  at = 0;
  for (Parameter* p : params) {
    std::memcpy(p->grad.data(), fused.data() + at, static_cast<size_t>(p->value.size()) * sizeof(float));
    at += static_cast<size_t>(p->value.size());
  }
  loss_sum = fused[at++];
  for (auto& entry : metric_sums) entry.second = fused[at++];
}

class ProgressBarCallback final : public Callback {
 public:
  void on_train_begin(const TrainInfo& info) override { info_ = info; }
  void on_epoch_begin(int epoch) override {
    epoch_ = epoch;
    start_ = std::chrono::steady_clock::now();
    last_ = start_;
  }
  void on_batch_end(int64_t step, const Logs& logs) override {
    if (!Progress::enabled()) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100) && step + 1 < info_.steps_per_epoch) return;
    last_ = now;
    double seconds = std::chrono::duration<double>(now - start_).count();
    double rate = seconds > 0 ? static_cast<double>((step + 1) * info_.batch_size) / seconds : 0;
    double eta = step + 1 < info_.steps_per_epoch ? seconds / static_cast<double>(step + 1) * static_cast<double>(info_.steps_per_epoch - step - 1) : 0;
    std::fprintf(stderr, "\rEpoch %d/%d %lld/%lld%s - %.0f examples/s - ETA %.0fs   ", epoch_ + 1, info_.epochs,
                 static_cast<long long>(step + 1), static_cast<long long>(info_.steps_per_epoch), format(logs).c_str(), rate, eta);
    std::fflush(stderr);
  }
  void on_epoch_end(int epoch, const Logs& logs) override {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double rate = static_cast<double>(info_.steps_per_epoch * info_.batch_size) / std::max(seconds, 1e-9);
    if (Progress::enabled()) std::fputc('\n', stderr);
    spdlog::info("epoch {}/{}: {:.1f}s, {:.0f} examples/s{}", epoch + 1, info_.epochs, seconds, rate, format(logs));
  }

 private:
  static std::string format(const Logs& logs) {
    std::string s;
    for (const auto& [k, v] : logs) s += fmt::format(" - {}: {:.4f}", k, v);
    return s;
  }
  TrainInfo info_;
  int epoch_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace

std::shared_ptr<Callback> ProgressBar() { return std::make_shared<ProgressBarCallback>(); }

std::vector<Tensor> Model::ordered(const NamedTensors& x, const char* caller) const {
  std::vector<Tensor> out;
  for (const auto& input : inputs_) {
    auto it = x.find(input->name);
    if (it == x.end()) {
      std::vector<std::string> given;
      for (const auto& [k, _] : x) given.push_back(k);
      fail("model {}: {}() needs input '{}' (given: {})", name_, caller, input->name, fmt::join(given, ", "));
    }
    out.push_back(it->second);
  }
  if (x.size() != inputs_.size()) {
    for (const auto& entry : x) {
      const std::string& k = entry.first;
      bool known = std::any_of(inputs_.begin(), inputs_.end(), [&](const NodeRef& i) { return i->name == k; });
      if (!known) fail("model {}: {}() got '{}', which is not an Input of the model", name_, caller, k);
    }
  }
  int64_t n = out[0].rank() ? out[0].dim(0) : 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].rank() == 0 || out[i].dim(0) != n) fail("model {}: {}(): input '{}' has {} rows, '{}' has {}", name_, caller, inputs_[i]->name, out[i].rank() ? out[i].dim(0) : 0, inputs_[0]->name, n);
  }
  return out;
}

namespace {
NamedTensors single(const std::vector<NodeRef>& inputs, const Tensor& x, const std::string& model) {
  if (inputs.size() != 1) fail("model {}: has {} inputs; pass them by name (a map of Input name to tensor)", model, inputs.size());
  return {{inputs[0]->name, x}};
}
}  // namespace

History Model::fit(const Tensor& x, const Tensor& y, const FitOptions& o) { return fit(single(inputs_, x, name_), y, o); }
Logs Model::evaluate(const Tensor& x, const Tensor& y, int64_t batch_size, int64_t steps) {
  return evaluate(single(inputs_, x, name_), y, batch_size, steps);
}
Tensor Model::predict(const Tensor& x, int64_t batch_size) { return predict(single(inputs_, x, name_), batch_size); }

History Model::fit(const NamedTensors& named, const Tensor& y, const FitOptions& o) { return fit_rows(ordered(named, "fit"), y, {}, o); }

History Model::fit(const Dataset& data, const FitOptions& o) {
  NamedTensors x = inputs_.size() == 1 ? NamedTensors{{inputs_[0]->name, data.x}} : data.features;
  return fit_rows(ordered(x, "fit"), data.y, data.shard_rows, o);
}

double Model::gradients_of_rows(const std::vector<Tensor>& x, const Tensor& y, const std::vector<int64_t>& idx, int64_t rows_per_pass,
                                const std::vector<Parameter*>& trainable, Logs& metric_sums) {
  const auto total = static_cast<int64_t>(idx.size());
  const int64_t passes = rows_per_pass > 0 ? (total + rows_per_pass - 1) / rows_per_pass : 1;
  std::vector<Tensor> gradient_sums(passes > 1 ? trainable.size() : 0);  // from the recycled tensor buffers
  std::vector<Tensor> xb(x.size());
  std::vector<int64_t> rows;
  double loss_sum = 0;
  for (int64_t pass = 0; pass < passes; ++pass) {
    // Passes of equal size (to one row): the batch's rows in order.
    rows.assign(idx.begin() + total * pass / passes, idx.begin() + total * (pass + 1) / passes);
    for (size_t i = 0; i < x.size(); ++i) xb[i] = gather_rows(x[i], rows);
    Tensor yb = gather_rows(y, rows);
    auto b = static_cast<double>(rows.size());
    loss_sum += compute_gradients(xb, yb) * b;
    add_metrics(metrics_, last_prediction_, yb, b, metric_sums);
    if (passes == 1) break;
    // The loss is a mean over the pass's rows: its gradient weighs b / total in the batch's mean.
    const auto weight = static_cast<float>(b / static_cast<double>(total));
    for (size_t k = 0; k < trainable.size(); ++k) {
      const Tensor& g = trainable[k]->grad;
      Tensor& sum = gradient_sums[k];
      if (pass == 0) sum = Tensor::uninitialized(trainable[k]->value.shape());  // written in full below
      float* __restrict s = sum.data();
      if (g.size() != sum.size()) {  // not reached by backward: no gradient
        if (pass == 0) std::fill_n(s, sum.size(), 0.0f);
        continue;
      }
      const float* __restrict d = g.data();
      if (pass == 0) {
        for (int64_t i = 0; i < sum.size(); ++i) s[i] = weight * d[i];
      } else {
        for (int64_t i = 0; i < sum.size(); ++i) s[i] += weight * d[i];
      }
    }
  }
  if (passes > 1) {
    for (size_t k = 0; k < trainable.size(); ++k) {
      Tensor& grad = trainable[k]->grad;
      if (grad.size() != gradient_sums[k].size()) grad = Tensor(gradient_sums[k].shape());
      std::copy_n(gradient_sums[k].data(), grad.size(), grad.data());
    }
  }
  return loss_sum;
}

History Model::fit_rows(const std::vector<Tensor>& x, const Tensor& y, const std::vector<int64_t>& shard_rows, const FitOptions& o) {
  if (!optimizer_) fail("model {}: call compile() before fit()", name_);
  const bool sharded = !shard_rows.empty();
  int64_t n = sharded ? static_cast<int64_t>(shard_rows.size()) : x[0].dim(0);  // the whole training set
  if (n == 0) fail("model {}: fit() on an empty dataset", name_);
  if (y.rank() == 0 || y.dim(0) != x[0].dim(0)) fail("model {}: fit() got {} examples but {} labels", name_, x[0].dim(0), y.rank() ? y.dim(0) : 0);
  if (o.batch_size <= 0 || o.epochs <= 0) fail("model {}: batch_size and epochs must be positive", name_);
  if (o.rows_per_pass < 0) fail("model {}: rows_per_pass must be 0 (the whole batch) or positive, got {}", name_, o.rows_per_pass);
  if (o.rows_per_pass > 0 && o.rows_per_pass < o.batch_size && training_mixes_rows_) {
    fail("model {}: rows_per_pass {} is smaller than batch_size {}, but a layer (BatchNormalization) needs the whole batch in one pass",
         name_, o.rows_per_pass, o.batch_size);
  }
  bool repeat = o.steps_per_epoch > 0;
  int64_t steps = repeat ? o.steps_per_epoch : (n + o.batch_size - 1) / o.batch_size;
  const distributed::World& world = distributed::world();
  const bool data_parallel = world.size() > 1;
  std::vector<Parameter*> trainable = trainable_parameters();
  uint64_t shuffle_seed = global_rng()();
  if (data_parallel) start_data_parallel(world, name_, n, sharded ? x[0].dim(0) : -1, o.batch_size, shuffle_seed, all_parameters());
  std::vector<Layer*> layers;  // each once, for the rows of each batch computed here
  for (const auto& node : order_)
    if (std::find(layers.begin(), layers.end(), node->layer.get()) == layers.end()) layers.push_back(node->layer.get());
  std::vector<std::shared_ptr<Callback>> callbacks = o.callbacks;
  if (o.verbose && world.is_chief()) callbacks.insert(callbacks.begin(), ProgressBar());
  TrainInfo info{o.epochs, steps, o.batch_size};
  for (auto& c : callbacks) c->on_train_begin(info);
  BatchIterator batches(n, o.batch_size, o.shuffle, repeat, shuffle_seed);
  History history;
  Logs logs;
  std::vector<int64_t> positions, idx;
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    for (auto& c : callbacks) c->on_epoch_begin(epoch);
    double loss_sum = 0;
    Logs metric_sums;
    int64_t seen = 0;
    for (int64_t step = 0; step < steps; ++step) {
      auto batch = batches.next();  // the global batch: the same on every rank
      auto rows = static_cast<int64_t>(batch.size());
      // The batch positions computed here and their rows of x: a shard's rows that it holds, or a
      // contiguous slice when every rank holds everything (all of it in one process).
      positions.clear();
      idx.clear();
      if (sharded) {
        for (int64_t p = 0; p < rows; ++p) {
          if (int64_t row = shard_rows[static_cast<size_t>(batch[static_cast<size_t>(p)])]; row >= 0) {
            positions.push_back(p);
            idx.push_back(row);
          }
        }
      } else {
        for (int64_t p = rows * world.rank() / world.size(); p < rows * (world.rank() + 1) / world.size(); ++p) {
          positions.push_back(p);
          idx.push_back(batch[static_cast<size_t>(p)]);
        }
      }
      if (data_parallel || (o.rows_per_pass > 0 && static_cast<int64_t>(idx.size()) > o.rows_per_pass))
        for (Layer* layer : layers) layer->set_batch_rows(positions, rows);
      double step_loss = 0;
      Logs step_metrics;
      for (const auto& m : metrics_) step_metrics[m] = 0;
      if (!idx.empty()) {
        step_loss = gradients_of_rows(x, y, idx, o.rows_per_pass, trainable, step_metrics);
      } else {
        for (Parameter* p : trainable) p->grad = Tensor(p->value.shape());  // a last batch smaller than the ranks
      }
      if (data_parallel) allreduce_step(world, trainable, static_cast<double>(idx.size()) / static_cast<double>(rows), step_loss, step_metrics);
      optimizer_->apply(trainable);
      loss_sum += step_loss;
      for (const auto& [k, v] : step_metrics) metric_sums[k] += v;
      seen += rows;
      logs = {{"loss", loss_sum / static_cast<double>(seen)}};
      for (const auto& [k, v] : metric_sums) logs[k] = v / static_cast<double>(seen);
      for (auto& c : callbacks) c->on_batch_end(step, logs);
    }
    if (data_parallel) {
      // Non-trainable state (BatchNormalization's moving statistics) is rank 0's on every rank.
      for (Parameter* p : all_parameters())
        if (!p->trainable) world.broadcast(std::span<float>(p->value.data(), static_cast<size_t>(p->value.size())));
    }
    std::optional<Logs> val;
    if (o.validation_inputs) val = evaluate(o.validation_inputs->first, o.validation_inputs->second, o.batch_size, o.validation_steps);
    else if (o.validation_data) val = evaluate(o.validation_data->first, o.validation_data->second, o.batch_size, o.validation_steps);
    if (val) for (const auto& [k, v] : *val) logs["val_" + k] = v;
    for (const auto& [k, v] : logs) history.history[k].push_back(v);
    for (auto& c : callbacks) c->on_epoch_end(epoch, logs);
  }
  for (auto& c : callbacks) c->on_train_end(logs);
  last_prediction_ = Tensor();
  release_free_tensor_buffers();
  return history;
}

Logs Model::evaluate(const NamedTensors& named, const Tensor& y, int64_t batch_size, int64_t steps) {
  if (!loss_) fail("model {}: call compile() before evaluate()", name_);
  std::vector<Tensor> x = ordered(named, "evaluate");
  int64_t n = x[0].dim(0);
  if (y.rank() == 0 || y.dim(0) != n) fail("model {}: evaluate() got {} examples but {} labels", name_, n, y.rank() ? y.dim(0) : 0);
  if (n == 0) fail("model {}: evaluate() on an empty dataset", name_);
  release_free_tensor_buffers();  // training's sizes, unused at this batch size
  int64_t max_steps = (n + batch_size - 1) / batch_size;
  if (steps <= 0 || steps > max_steps) steps = max_steps;
  double loss_sum = 0;
  Logs metric_sums;
  int64_t seen = 0;
  std::vector<Tensor> xb(x.size());
  for (int64_t s = 0; s < steps; ++s) {
    int64_t begin = s * batch_size, end = std::min(n, begin + batch_size);
    for (size_t i = 0; i < x.size(); ++i) xb[i] = x[i].slice_rows(begin, end);
    Tensor yb = y.slice_rows(begin, end);
    Tensor pred = forward(xb, false);
    auto b = static_cast<double>(end - begin);
    loss_sum += loss_->compute(pred, yb, nullptr) * b;
    add_metrics(metrics_, pred, yb, b, metric_sums);
    seen += end - begin;
  }
  Logs logs = {{"loss", loss_sum / static_cast<double>(seen)}};
  for (const auto& [k, v] : metric_sums) logs[k] = v / static_cast<double>(seen);
  return logs;
}

Tensor Model::predict(const NamedTensors& named, int64_t batch_size) {
  std::vector<Tensor> x = ordered(named, "predict");
  int64_t n = x[0].dim(0);
  release_free_tensor_buffers();
  Tensor out;
  std::vector<Tensor> xb(x.size());
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    int64_t end = std::min(n, begin + batch_size);
    for (size_t i = 0; i < x.size(); ++i) xb[i] = x[i].slice_rows(begin, end);
    Tensor pred = forward(xb, false);
    if (out.empty()) {
      Shape s = pred.shape();
      s[0] = n;
      out = Tensor(s);
    }
    int64_t row = pred.size() / pred.dim(0);
    std::memcpy(out.data() + begin * row, pred.data(), static_cast<size_t>(pred.size()) * sizeof(float));
  }
  return out;
}

std::string Model::summary() const {
  std::string s = fmt::format("Model: \"{}\"\n{:<28} {:<20} {:>10}\n", name_, "Layer (type)", "Output Shape", "Param #");
  int64_t total = 0;
  std::set<const Layer*> seen;
  for (const auto& n : order_) {
    int64_t count = 0;
    if (seen.insert(n->layer.get()).second)
      for (const auto& p : n->layer->parameters()) count += p.value.size();
    total += count;
    s += fmt::format("{:<28} {:<20} {:>10}\n", n->layer->name() + " (" + n->layer->type() + ")",
                     "[None, " + shape_string(n->shape).substr(1), count);
  }
  return s + fmt::format("Total params: {}\n", total);
}

Model Sequential(NodeRef input, const std::vector<LayerRef>& layers, std::string name) {
  NodeRef x = input;
  for (const auto& l : layers) x = l(x);
  return Model({input}, x, std::move(name));
}

}  // namespace litepipe::nn
