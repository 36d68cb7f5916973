#include "nn/optimizers.h"

#include <xmmintrin.h>
#include <pmmintrin.h>

#include <cmath>

namespace litepipe::nn {

void Optimizer::apply(const std::vector<Parameter*>& params) {
  // Slot variables decay towards zero where gradients vanish (dead units); denormal floats would
  // make those updates ~100x slower. Flush them to zero for the update, as TensorFlow does.
  const unsigned int saved_csr = _mm_getcsr();
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
  ++iterations_;
  for (Parameter* p : params) {
    auto& slots = slots_[p];
    if (slots.empty())
      for (size_t i = 0; i < slot_count(); ++i) slots.emplace_back(p->value.shape());
    update(*p, slots);
  }
  _mm_setcsr(saved_csr);
}

namespace {

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
    int64_t n = p.value.size();
    const float lr = o_.learning_rate, m = o_.momentum;
    if (m == 0.0f) {
      for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
      return;
    }
    float* v = slots[0].data();
    for (int64_t i = 0; i < n; ++i) {
      v[i] = m * v[i] - lr * g[i];
      w[i] += o_.nesterov ? m * v[i] - lr * g[i] : v[i];
    }
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
    int64_t n = p.value.size();
    const float lr = o_.learning_rate, rho = o_.rho, eps = o_.epsilon;
    if (o_.momentum == 0.0f) {
      for (int64_t i = 0; i < n; ++i) {
        ms[i] = rho * ms[i] + (1.0f - rho) * g[i] * g[i];
        w[i] -= lr * g[i] / (std::sqrt(ms[i]) + eps);
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        ms[i] = rho * ms[i] + (1.0f - rho) * g[i] * g[i];
        mom[i] = o_.momentum * mom[i] + lr * g[i] / std::sqrt(ms[i] + eps);
        w[i] -= mom[i];
      }
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
    int64_t n = p.value.size();
    double t = static_cast<double>(iterations_);
    const float b1 = o_.beta_1, b2 = o_.beta_2, eps = o_.epsilon;
    const auto lr_t = static_cast<float>(o_.learning_rate * std::sqrt(1.0 - std::pow(b2, t)) / (1.0 - std::pow(b1, t)));
    for (int64_t i = 0; i < n; ++i) {
      m[i] = b1 * m[i] + (1.0f - b1) * g[i];
      v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
      w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
    }
  }

 private:
  AdamOptions o_;
};

}  // namespace

std::shared_ptr<Optimizer> SGD(const SGDOptions& options) { return std::make_shared<SgdOptimizer>(options); }
std::shared_ptr<Optimizer> RMSprop(const RMSpropOptions& options) { return std::make_shared<RmspropOptimizer>(options); }
std::shared_ptr<Optimizer> Adam(const AdamOptions& options) { return std::make_shared<AdamOptimizer>(options); }

}  // namespace litepipe::nn
