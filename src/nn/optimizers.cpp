#include "nn/optimizers.h"

#include <pmmintrin.h>
#include <xmmintrin.h>

#include <cmath>

#include "nn/parallel_ranges.h"
#include "nn/vector_clones.h"

namespace litepipe::nn {

void Optimizer::apply(const std::vector<Parameter*>& params) {
  ++iterations_;
  for (Parameter* p : params) {
    auto& slots = slots_[p];
    if (slots.empty())
      for (size_t i = 0; i < slot_count(); ++i) slots.emplace_back(p->value.shape());
    update(*p, slots);
  }
}

namespace {

// Slot variables decay towards zero where gradients vanish (dead units); denormal floats would
// make those updates ~100x slower. They are flushed to zero for the update, as TensorFlow does,
// on each thread that runs a part of it (the mode is per thread).
class DenormalsFlushed {
 public:
  DenormalsFlushed() : saved_(_mm_getcsr()) {
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
  }
  ~DenormalsFlushed() { _mm_setcsr(saved_); }
  DenormalsFlushed(const DenormalsFlushed&) = delete;
  DenormalsFlushed& operator=(const DenormalsFlushed&) = delete;

 private:
  unsigned int saved_;
};

// One range per thread for a parameter large enough to pay for waking them (a dense kernel), each
// with denormals flushed.
template <class Kernel>
void update_ranges(int64_t n, const Kernel& kernel) {
  for_ranges(n, int64_t{1} << 15, [&](int64_t begin, int64_t end) {
    DenormalsFlushed flushed;
    kernel(begin, end);
  });
}

// The update rules over a range of one parameter's values, Keras's formulas.
LITEPIPE_VECTOR_CLONES void sgd_range(float* __restrict w, const float* __restrict g, int64_t n, float lr) {
  for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
}

LITEPIPE_VECTOR_CLONES void sgd_momentum_range(float* __restrict w, const float* __restrict g, float* __restrict v, int64_t n, float lr,
                                               float momentum, bool nesterov) {
  for (int64_t i = 0; i < n; ++i) {
    v[i] = momentum * v[i] - lr * g[i];
    w[i] += nesterov ? momentum * v[i] - lr * g[i] : v[i];
  }
}

LITEPIPE_VECTOR_CLONES void rmsprop_range(float* __restrict w, const float* __restrict g, float* __restrict ms, int64_t n, float lr, float rho,
                                          float eps) {
  for (int64_t i = 0; i < n; ++i) {
    ms[i] = rho * ms[i] + (1.0f - rho) * g[i] * g[i];
    w[i] -= lr * g[i] / (std::sqrt(ms[i]) + eps);
  }
}

LITEPIPE_VECTOR_CLONES void rmsprop_momentum_range(float* __restrict w, const float* __restrict g, float* __restrict ms, float* __restrict mom,
                                                   int64_t n, float lr, float rho, float eps, float momentum) {
  for (int64_t i = 0; i < n; ++i) {
    ms[i] = rho * ms[i] + (1.0f - rho) * g[i] * g[i];
    mom[i] = momentum * mom[i] + lr * g[i] / std::sqrt(ms[i] + eps);
    w[i] -= mom[i];
  }
}

LITEPIPE_VECTOR_CLONES void adam_range(float* __restrict w, const float* __restrict g, float* __restrict m, float* __restrict v, int64_t n,
                                       float lr_t, float b1, float b2, float eps) {
  for (int64_t i = 0; i < n; ++i) {
    m[i] = b1 * m[i] + (1.0f - b1) * g[i];
    v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
  }
}

class SgdOptimizer final : public Optimizer {
 public:
  explicit SgdOptimizer(const SGDOptions& o) : o_(o) {}
  std::string name() const override { return "SGD"; }
  nlohmann::json config() const override {
    return {{"learning_rate", o_.learning_rate}, {"momentum", o_.momentum}, {"nesterov", o_.nesterov}};
  }

 protected:
  size_t slot_count() const override { return o_.momentum > 0 ? 1 : 0; }
  void update(Parameter& p, std::vector<Tensor>& slots) override {
    float* w = p.value.data();
    const float* g = p.grad.data();
    const float lr = o_.learning_rate, m = o_.momentum;
    if (m == 0.0f) {
      update_ranges(p.value.size(), [&](int64_t b, int64_t e) { sgd_range(w + b, g + b, e - b, lr); });
      return;
    }
    float* v = slots[0].data();
    update_ranges(p.value.size(), [&](int64_t b, int64_t e) { sgd_momentum_range(w + b, g + b, v + b, e - b, lr, m, o_.nesterov); });
  }

 private:
  SGDOptions o_;
};

class RmspropOptimizer final : public Optimizer {
 public:
  explicit RmspropOptimizer(const RMSpropOptions& o) : o_(o) {}
  std::string name() const override { return "RMSprop"; }
  nlohmann::json config() const override {
    return {{"learning_rate", o_.learning_rate}, {"rho", o_.rho}, {"momentum", o_.momentum}, {"epsilon", o_.epsilon}};
  }

 protected:
  size_t slot_count() const override { return 2; }
  void update(Parameter& p, std::vector<Tensor>& slots) override {
    float* w = p.value.data();
    const float* g = p.grad.data();
    float* ms = slots[0].data();
    float* mom = slots[1].data();
    const float lr = o_.learning_rate, rho = o_.rho, eps = o_.epsilon, momentum = o_.momentum;
    if (momentum == 0.0f) {
      update_ranges(p.value.size(), [&](int64_t b, int64_t e) { rmsprop_range(w + b, g + b, ms + b, e - b, lr, rho, eps); });
    } else {
      update_ranges(p.value.size(),
                 [&](int64_t b, int64_t e) { rmsprop_momentum_range(w + b, g + b, ms + b, mom + b, e - b, lr, rho, eps, momentum); });
    }
  }

 private:
  RMSpropOptions o_;
};

class AdamOptimizer final : public Optimizer {
 public:
  explicit AdamOptimizer(const AdamOptions& o) : o_(o) {}
  std::string name() const override { return "Adam"; }
  nlohmann::json config() const override {
    return {{"learning_rate", o_.learning_rate}, {"beta_1", o_.beta_1}, {"beta_2", o_.beta_2}, {"epsilon", o_.epsilon}};
  }

 protected:
  size_t slot_count() const override { return 2; }
  void update(Parameter& p, std::vector<Tensor>& slots) override {
    float* w = p.value.data();
    const float* g = p.grad.data();
    float* m = slots[0].data();
    float* v = slots[1].data();
    double t = static_cast<double>(iterations_);
    const float b1 = o_.beta_1, b2 = o_.beta_2, eps = o_.epsilon;
    const auto lr_t = static_cast<float>(o_.learning_rate * std::sqrt(1.0 - std::pow(b2, t)) / (1.0 - std::pow(b1, t)));
    update_ranges(p.value.size(), [&](int64_t b, int64_t e) { adam_range(w + b, g + b, m + b, v + b, e - b, lr_t, b1, b2, eps); });
  }

 private:
  AdamOptions o_;
};

}  // namespace

std::shared_ptr<Optimizer> SGD(const SGDOptions& options) { return std::make_shared<SgdOptimizer>(options); }
std::shared_ptr<Optimizer> RMSprop(const RMSpropOptions& options) { return std::make_shared<RmspropOptimizer>(options); }
std::shared_ptr<Optimizer> Adam(const AdamOptions& options) { return std::make_shared<AdamOptimizer>(options); }

}  // namespace litepipe::nn
