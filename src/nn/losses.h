#pragma once
// Keras losses, reduced as SUM_OVER_BATCH_SIZE (the mean over the batch).
#include <memory>
#include <string>

#include "nn/tensor.h"

namespace litepipe::nn {

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string name() const = 0;
  // Mean loss over the batch; `grad` receives dLoss/dPrediction.
  virtual double compute(const Tensor& prediction, const Tensor& target, Tensor* grad) const = 0;
  // Crossentropy on softmax probabilities: Keras computes it from the softmax's logits, whose
  // gradient is simply (p - target) / N. True when this loss can do that (from_logits = false).
  virtual bool fuses_softmax() const { return false; }
  // The loss, with `grad_logits` = dLoss/dLogits of the softmax that produced `probabilities`.
  virtual double compute_from_softmax(const Tensor& probabilities, const Tensor& target, Tensor* grad_logits) const;
};

// target: class indices [N] or [N, 1]; prediction: probabilities (or logits) [N, C].
std::shared_ptr<Loss> SparseCategoricalCrossentropy(bool from_logits = false);
// target: one-hot [N, C].
std::shared_ptr<Loss> CategoricalCrossentropy(bool from_logits = false);
std::shared_ptr<Loss> MeanSquaredError();
std::shared_ptr<Loss> make_loss(const std::string& name);  // by Keras name

}  // namespace litepipe::nn
