// Trains a small MLP (Dropout included) for 50 steps with a fixed seed, in one process or as one
// rank of `mpirun -np K`; rank 0 writes the trained weights (weights.json) and the model. Run by
// DistributedFitTest, which compares the two. With --shard, rank 0 first writes the data as two
// TFRecord files and every rank trains on its load_train_shard of them.
//   mpi_fit_worker OUT_DIR [--fail-on-rank R | --shard]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "data/tfrecord.h"
#include "distributed/world.h"
#include "nn/dataset.h"
#include "nn/model.h"

using namespace litepipe;
using namespace litepipe::nn;

namespace {

// A rank that fails in the middle of training: the others are then waiting in a collective.
class FailAtStep final : public Callback {
 public:
  explicit FailAtStep(int64_t step) : step_(step) {}
  void on_batch_end(int64_t step, const Logs&) override {
    if (step == step_) throw std::runtime_error("injected failure at step " + std::to_string(step));
  }

 private:
  int64_t step_;
};

// Examples {x: 12 floats, y: class id}: rows [0, first) in files[0], the rest in files[1].
void write_records(const Tensor& x, const Tensor& y, const std::vector<std::string>& files, int64_t first) {
  const int64_t width = x.dim(1);
  for (size_t f = 0; f < files.size(); ++f) {
    TFRecordWriter out(files[f]);
    for (int64_t i = f == 0 ? 0 : first; i < (f == 0 ? first : x.dim(0)); ++i) {
      tensorflow::Example e;
      auto& features = *e.mutable_features()->mutable_feature();
      for (int64_t j = 0; j < width; ++j) features["x"].mutable_float_list()->add_value(x[i * width + j]);
      features["y"].mutable_int64_list()->add_value(static_cast<int64_t>(y[i]));
      out.write(e.SerializeAsString());
    }
    out.close();
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool shard = argc == 3 && std::strcmp(argv[2], "--shard") == 0;
  if (argc != 2 && !shard && !(argc == 4 && std::strcmp(argv[2], "--fail-on-rank") == 0)) {
    std::fprintf(stderr, "usage: %s OUT_DIR [--fail-on-rank R | --shard]\n", argv[0]);
    return 2;
  }
  const distributed::World& world = distributed::world();
  int fail_rank = argc == 4 ? std::atoi(argv[3]) : -1;
  try {
    set_random_seed(7);
    // Four classes from the sign pattern of two projections of 12 features (no random numbers:
    // every rank builds the same data).
    const int64_t n = 500, features = 12;
    Tensor x({n, features}), y({n});
    for (int64_t i = 0; i < n; ++i) {
      double a = 0, b = 0;
      for (int64_t j = 0; j < features; ++j) {
        float v = static_cast<float>(std::sin(0.37 * static_cast<double>(i * features + j) + 0.11 * static_cast<double>(j)));
        x[i * features + j] = v;
        a += v * (j % 3 == 0 ? 1.0 : -0.5);
        b += v * (j % 2 == 0 ? 0.7 : -0.3);
      }
      y[i] = static_cast<float>((a > 0 ? 1 : 0) + (b > 0 ? 2 : 0));
    }
    Model model = Sequential(Input({features}), {Dense(32, {.activation = "relu"}), Dropout(0.25f), Dense(16, {.activation = "tanh"}),
                                                 Dense(4, {.activation = "softmax"})});
    model.compile(SGD({.learning_rate = 0.05f, .momentum = 0.9f}), SparseCategoricalCrossentropy());
    FitOptions options{.epochs = 2, .batch_size = 33, .steps_per_epoch = 25, .verbose = 0};  // 50 steps; 33 rows: 16 + 17
    if (world.rank() == fail_rank) options.callbacks.push_back(std::make_shared<FailAtStep>(10));
    History history;
    std::vector<int64_t> held(static_cast<size_t>(world.size()), n);  // rows each rank trained from
    if (shard) {
      std::vector<std::string> files = {(std::filesystem::path(argv[1]) / "data-0.tfrecord").string(),
                                        (std::filesystem::path(argv[1]) / "data-1.tfrecord").string()};
      if (world.is_chief()) write_records(x, y, files, 230);
      world.barrier();
      Dataset train = load_train_shard(files, "x", "y");
      held = world.allgather(train.size());
      history = model.fit(train, options);
    } else {
      history = model.fit(x, y, options);
    }
    if (world.is_chief()) {
      nlohmann::json weights = nlohmann::json::object();
      for (const auto& node : model.nodes())
        for (const auto& p : node->layer->parameters())
          weights[node->layer->name() + "/" + p.name] = std::vector<float>(p.value.data(), p.value.data() + p.value.size());
      write_json_file_atomic(std::filesystem::path(argv[1]) / "weights.json",
                             {{"weights", weights}, {"loss", history.history["loss"]}, {"processes", world.size()}, {"held", held}});
      model.save(std::filesystem::path(argv[1]) / "model");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d of %d: %s\n", world.rank(), world.size(), e.what());
    world.abort(1);
  }
}
