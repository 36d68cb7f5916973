#pragma once
// Keras's Model: a graph of layers from Input nodes to one output, compiled with an optimizer, a
// loss and metrics, trained with fit(), measured with evaluate(), applied with predict(), and
// saved as a standard ONNX model.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/losses.h"
#include "nn/optimizers.h"

namespace litepipe::nn {

struct Dataset;  // nn/dataset.h

using Logs = std::map<std::string, double>;

struct TrainInfo {
  int epochs = 1;
  int64_t steps_per_epoch = 0;
  int64_t batch_size = 0;
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(const TrainInfo&) {}
  virtual void on_epoch_begin(int) {}
  virtual void on_batch_end(int64_t /*step*/, const Logs&) {}
  virtual void on_epoch_end(int, const Logs&) {}
  virtual void on_train_end(const Logs&) {}
};

// Keras's progress bar: step/steps, loss and metrics, examples/s, ETA. Live on a terminal; in
// logs (not a TTY) one line per epoch.
std::shared_ptr<Callback> ProgressBar();

// A batch or dataset of several inputs, by the name of each Input (Keras's dict of inputs).
using NamedTensors = std::map<std::string, Tensor>;

struct FitOptions {
  int epochs = 1;
  int64_t batch_size = 32;
  // The most rows one forward and backward computes (0: the whole batch). A larger batch runs in
  // passes of equal size whose gradients are summed: the same step up to float rounding, with the
  // activation memory of a pass (gradient accumulation, for a batch larger than memory allows).
  // Not for a model with BatchNormalization, whose batch statistics need every row at once.
  int64_t rows_per_pass = 0;
  int64_t steps_per_epoch = 0;  // 0: one pass over the data per epoch; else the data repeats
  bool shuffle = true;
  std::optional<std::pair<Tensor, Tensor>> validation_data = {};
  std::optional<std::pair<NamedTensors, Tensor>> validation_inputs = {};  // multi-input models
  int64_t validation_steps = 0;  // 0: the whole validation set
  std::vector<std::shared_ptr<Callback>> callbacks = {};
  int verbose = 1;  // 1: add a ProgressBar
};

struct History {
  std::map<std::string, std::vector<double>> history;
};

// A serving signature: what the exported model's inputs are called, and ONNX nodes that turn
// each raw input into the model's input (the Transform graph), if any.
//   single input:  {.input_name = "image_floats", .preprocessing = transform.serving_preprocessing("image_floats_xf")}
//   several:       {.inputs = transform.serving_inputs({"bill_length_mm_xf", ...})}  (keyed by model Input name)
// Without either, every Input is a serving input under its own name.
struct SavedSignature {
  std::string name = "serving_default";
  std::string input_name = {};
  std::function<std::string(onnxio::GraphBuilder&, const std::string& raw_input)> preprocessing = {};
  std::map<std::string, onnxio::ServingInput> inputs = {};
  std::string output_name = "output_0";
  // Names of the output's classes (the label vocabulary), kept in the model's metadata.
  std::vector<std::string> class_names = {};
};

inline constexpr const char* kClassNamesMetadataKey = "litepipe.class_names";

// fit() on several processes (started by mpirun or srun, see distributed/world.h) trains
// data-parallel: every rank draws the same global batches (the shuffle seed and the weights are
// rank 0's) over the whole training set. Given tensors, every rank holds the whole set and
// computes the gradient of its contiguous slice of every global batch; given a Dataset from
// load_train_shard, a rank holds only its share of the examples and computes the rows of every
// global batch that it holds. One MPI_Allreduce per step sums the gradients, each scaled by its
// share of the batch, into the single-process gradient of the global batch (up to float
// summation order). batch_size and the learning rate are the global ones. Dropout masks are those
// of one process; BatchNormalization uses each rank's own rows for its batch statistics (no
// SyncBN), and its moving statistics are rank 0's. Validation runs whole on every rank.
class Model {
 public:
  Model(std::vector<NodeRef> inputs, NodeRef output, std::string name = "model");

  void compile(std::shared_ptr<Optimizer> optimizer, std::shared_ptr<Loss> loss,
               std::vector<std::string> metrics = {"sparse_categorical_accuracy"});
  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
  Logs evaluate(const Tensor& x, const Tensor& y, int64_t batch_size = 32, int64_t steps = 0);
  Tensor predict(const Tensor& x, int64_t batch_size = 32);
  // Several inputs, by Input name (every Input must be given).
  History fit(const NamedTensors& x, const Tensor& y, const FitOptions& options = {});
  // A Dataset's x (one Input) or features (by Input name), with its shard if it is one.
  History fit(const Dataset& data, const FitOptions& options = {});
  Logs evaluate(const NamedTensors& x, const Tensor& y, int64_t batch_size = 32, int64_t steps = 0);
  Tensor predict(const NamedTensors& x, int64_t batch_size = 32);

  // One batch through the graph (several inputs for multi-input graphs).
  Tensor forward(const std::vector<Tensor>& inputs, bool training);
  void backward(const Tensor& grad_output);
  // One optimizer step on a batch; returns the loss.
  double train_step(const Tensor& x, const Tensor& y);
  double train_step(const std::vector<Tensor>& x, const Tensor& y);

  std::vector<Parameter*> trainable_parameters();
  std::vector<Parameter*> all_parameters();
  std::string summary() const;
  const std::string& name() const { return name_; }
  const std::vector<NodeRef>& inputs() const { return inputs_; }
  const NodeRef& output() const { return output_; }
  const std::vector<NodeRef>& nodes() const { return order_; }  // topological, layers only
  const std::shared_ptr<Optimizer>& optimizer() const { return optimizer_; }
  const std::shared_ptr<Loss>& loss() const { return loss_; }

  // Writes `<dir>/model.onnx` (standard ONNX, opset 13, checked by ONNX's checker) with the
  // signature recorded in its metadata; returns the file's path.
  std::filesystem::path save(const std::filesystem::path& dir, const SavedSignature& signature = {}) const;

 private:
  std::string name_;
  std::vector<NodeRef> inputs_;
  NodeRef output_;
  std::vector<NodeRef> order_;
  std::shared_ptr<Optimizer> optimizer_;
  std::shared_ptr<Loss> loss_;
  std::vector<std::string> metrics_;
  std::vector<Tensor> ordered(const NamedTensors& x, const char* caller) const;  // in Input order, checked
  // shard_rows: see Dataset; empty when every row of x is held here.
  History fit_rows(const std::vector<Tensor>& x, const Tensor& y, const std::vector<int64_t>& shard_rows, const FitOptions& o);
  // released_after_[k]: the values whose last consumer is order_[k]; forward drops them there,
  // so an inference batch holds only its live values, not every intermediate (a training layer
  // keeps what its backward reads itself).
  std::vector<std::vector<const Node*>> released_after_;
  std::set<const Node*> trainable_upstream_;  // nodes whose value depends on a trainable parameter
  Tensor last_prediction_;
  // forward, loss and backward on one batch: the parameters' gradients; returns the loss.
  double compute_gradients(const std::vector<Tensor>& x, const Tensor& y);
  bool training_mixes_rows_ = false;  // a layer needs the whole batch in one pass (BatchNormalization)
  // The gradients of the batch rows `idx` of (x, y), in passes of at most rows_per_pass rows (0:
  // one pass), and the sums over the rows of its loss and metrics.
  double gradients_of_rows(const std::vector<Tensor>& x, const Tensor& y, const std::vector<int64_t>& idx, int64_t rows_per_pass,
                           const std::vector<Parameter*>& trainable, Logs& metric_sums);
  // (ReLU producer, max pooling consumer) pairs whose ReLU backward the pool applies (Layer::ends_with_relu).
  std::vector<std::pair<Layer*, Layer*>> relu_into_pool_;
  void pair_relu_with_pools();
  bool fused_softmax_loss_ = false;  // loss gradient taken w.r.t. the output softmax's logits  // of the last train_step, for the running accuracy
};

// Keras's Sequential: `Sequential(Input({784}), {Dense(64, {.activation = "relu"}), ...})`.
Model Sequential(NodeRef input, const std::vector<LayerRef>& layers, std::string name = "sequential");

// Fraction of rows whose argmax equals the label.
double sparse_categorical_accuracy(const Tensor& prediction, const Tensor& labels);

}  // namespace litepipe::nn
