#pragma once
// Keras optimizers with Keras's default hyper-parameters and update rules (TF 2 optimizer_v2).
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "nn/layer.h"

namespace litepipe::nn {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  virtual nlohmann::json config() const = 0;
  // One update of every trainable parameter from its grad.
  void apply(const std::vector<Parameter*>& params);
  int64_t iterations() const { return iterations_; }

 protected:
  virtual void update(Parameter& p, std::vector<Tensor>& slots) = 0;
  virtual size_t slot_count() const = 0;
  int64_t iterations_ = 0;

 private:
  std::map<const Parameter*, std::vector<Tensor>> slots_;
};

struct SGDOptions {
  float learning_rate = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
};
struct RMSpropOptions {
  float learning_rate = 0.001f;
  float rho = 0.9f;
  float momentum = 0.0f;
  float epsilon = 1e-7f;
};
struct AdamOptions {
  float learning_rate = 0.001f;
  float beta_1 = 0.9f;
  float beta_2 = 0.999f;
  float epsilon = 1e-7f;
};

std::shared_ptr<Optimizer> SGD(const SGDOptions& options = {});
std::shared_ptr<Optimizer> RMSprop(const RMSpropOptions& options = {});
std::shared_ptr<Optimizer> Adam(const AdamOptions& options = {});

}  // namespace litepipe::nn
