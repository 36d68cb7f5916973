#include "nn/losses.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace litepipe::nn {
namespace {

// Keras clips probabilities to [epsilon, 1 - epsilon] before the log.
constexpr float kEpsilon = 1e-7f;

int64_t label_at(const Tensor& target, int64_t row, int64_t classes) {
  float v = target[row];
  auto label = static_cast<int64_t>(v);
  if (label < 0 || label >= classes || static_cast<float>(label) != v) {
    fail("SparseCategoricalCrossentropy: label {} of example {} is not a class index in [0, {})", v, row, classes);
  }
  return label;
}

// Cross-entropy of each row against a target distribution given by `weight(row, class)`.
template <typename TargetWeight>
double cross_entropy(const Tensor& pred, bool from_logits, Tensor* grad, TargetWeight weight) {
  int64_t n = pred.dim(0), c = pred.size() / n;
  double total = 0;
  if (grad) *grad = Tensor(pred.shape());
  for (int64_t r = 0; r < n; ++r) {
    const float* p = pred.data() + r * c;
    float* g = grad ? grad->data() + r * c : nullptr;
    if (from_logits) {
      float max = *std::max_element(p, p + c);
      double sum = 0;
      for (int64_t k = 0; k < c; ++k) sum += std::exp(static_cast<double>(p[k] - max));
      double log_sum = std::log(sum) + max;
      for (int64_t k = 0; k < c; ++k) {
        double t = weight(r, k);
        total += t * (log_sum - p[k]);
        if (g) g[k] = static_cast<float>((std::exp(p[k] - log_sum) - t) / static_cast<double>(n));
      }
    } else {
      for (int64_t k = 0; k < c; ++k) {
        double t = weight(r, k);
        float clipped = std::clamp(p[k], kEpsilon, 1.0f - kEpsilon);
        total += -t * std::log(static_cast<double>(clipped));
        // Gradient of -t*log(clip(p)): zero where the clip is active.
        if (g) g[k] = (p[k] > kEpsilon && p[k] < 1.0f - kEpsilon) ? static_cast<float>(-t / (p[k] * static_cast<double>(n))) : 0.0f;
      }
    }
  }
  return total / static_cast<double>(n);
}

// dLoss/dLogits of a softmax crossentropy, computed from the probabilities: (p - t) / N.
template <typename TargetWeight>
void softmax_crossentropy_grad(const Tensor& probs, Tensor* grad, TargetWeight weight) {
  int64_t n = probs.dim(0), c = probs.size() / n;
  *grad = Tensor(probs.shape());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t k = 0; k < c; ++k)
      (*grad)[r * c + k] = static_cast<float>((probs[r * c + k] - weight(r, k)) / static_cast<double>(n));
}

class SparseCce final : public Loss {
 public:
  explicit SparseCce(bool from_logits) : from_logits_(from_logits) {}
  std::string name() const override { return "sparse_categorical_crossentropy"; }
  bool fuses_softmax() const override { return !from_logits_; }
  double compute_from_softmax(const Tensor& probs, const Tensor& target, Tensor* grad) const override {
    double loss = compute(probs, target, nullptr);
    int64_t c = probs.size() / probs.dim(0);
    softmax_crossentropy_grad(probs, grad, [&](int64_t r, int64_t k) { return label_at(target, r, c) == k ? 1.0 : 0.0; });
    return loss;
  }
  double compute(const Tensor& pred, const Tensor& target, Tensor* grad) const override {
    int64_t n = pred.dim(0), c = pred.size() / n;
    if (target.size() != n) fail("{}: {} labels for {} predictions", name(), target.size(), n);
    std::vector<int64_t> labels(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r) labels[static_cast<size_t>(r)] = label_at(target, r, c);
    return cross_entropy(pred, from_logits_, grad, [&](int64_t r, int64_t k) { return labels[static_cast<size_t>(r)] == k ? 1.0 : 0.0; });
  }

 private:
  bool from_logits_;
};

class Cce final : public Loss {
 public:
  explicit Cce(bool from_logits) : from_logits_(from_logits) {}
  std::string name() const override { return "categorical_crossentropy"; }
  bool fuses_softmax() const override { return !from_logits_; }
  double compute_from_softmax(const Tensor& probs, const Tensor& target, Tensor* grad) const override {
    double loss = compute(probs, target, nullptr);
    int64_t c = probs.size() / probs.dim(0);
    softmax_crossentropy_grad(probs, grad, [&](int64_t r, int64_t k) { return static_cast<double>(target[r * c + k]); });
    return loss;
  }
  double compute(const Tensor& pred, const Tensor& target, Tensor* grad) const override {
    if (target.shape() != pred.shape()) fail("{}: target shape {} differs from prediction {}", name(), shape_string(target.shape()), shape_string(pred.shape()));
    int64_t c = pred.size() / pred.dim(0);
    return cross_entropy(pred, from_logits_, grad, [&](int64_t r, int64_t k) { return static_cast<double>(target[r * c + k]); });
  }

 private:
  bool from_logits_;
};

class Mse final : public Loss {
 public:
  std::string name() const override { return "mean_squared_error"; }
  double compute(const Tensor& pred, const Tensor& target, Tensor* grad) const override {
    if (target.size() != pred.size()) fail("{}: target has {} values, prediction {}", name(), target.size(), pred.size());
    double total = 0;
    if (grad) *grad = Tensor(pred.shape());
    double scale = 2.0 / static_cast<double>(pred.size());
    for (int64_t i = 0; i < pred.size(); ++i) {
      double d = static_cast<double>(pred[i]) - target[i];
      total += d * d;
      if (grad) (*grad)[i] = static_cast<float>(scale * d);
    }
    return total / static_cast<double>(pred.size()) ;
  }
};

}  // namespace

double Loss::compute_from_softmax(const Tensor&, const Tensor&, Tensor*) const {
  fail("{}: cannot be computed from softmax logits", name());
}

std::shared_ptr<Loss> SparseCategoricalCrossentropy(bool from_logits) { return std::make_shared<SparseCce>(from_logits); }
std::shared_ptr<Loss> CategoricalCrossentropy(bool from_logits) { return std::make_shared<Cce>(from_logits); }
std::shared_ptr<Loss> MeanSquaredError() { return std::make_shared<Mse>(); }

std::shared_ptr<Loss> make_loss(const std::string& name) {
  if (name == "sparse_categorical_crossentropy") return SparseCategoricalCrossentropy();
  if (name == "categorical_crossentropy") return CategoricalCrossentropy();
  if (name == "mse" || name == "mean_squared_error") return MeanSquaredError();
  fail("unknown loss '{}' (expected sparse_categorical_crossentropy, categorical_crossentropy or mean_squared_error)", name);
}

}  // namespace litepipe::nn
