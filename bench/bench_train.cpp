// Trains the TFX MNIST MLP or the CNN on an IDX dataset (default: Debian's Fashion-MNIST, 60k
// train / 10k test), timing each epoch. bench/compare_torch.sh runs it beside PyTorch.
//
//   bench_train --model mlp|cnn [--data DIR] [--epochs N] [--batch B] [--optimizer rmsprop|adam] [--seed S]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/log.h"
#include "data/example_sources.h"
#include "nn/dataset.h"
#include "nn/model.h"

using namespace litepipe;
using namespace litepipe::nn;

static Dataset load(const std::string& dir, const std::string& prefix) {
  std::string ext = fs::exists(dir + "/" + prefix + "-images-idx3-ubyte.gz") ? ".gz" : "";
  IdxImages images = read_idx_images(dir + "/" + prefix + "-images-idx3-ubyte" + ext);
  auto labels = read_idx_labels(dir + "/" + prefix + "-labels-idx1-ubyte" + ext);
  int64_t n = images.count;
  Tensor x({n, 784}), y({n});
  // The TFX example's Transform: scale_by_min_max to [-0.5, 0.5].
  for (int64_t i = 0; i < n * 784; ++i) x[i] = static_cast<float>(images.pixels[static_cast<size_t>(i)]) / 255.0f - 0.5f;
  for (int64_t i = 0; i < n; ++i) y[i] = labels[static_cast<size_t>(i)];
  return {x, y, {{"image_floats", x}}};
}

int main(int argc, char** argv) {
  std::string model_name = "mlp", data = "/usr/share/datasets/fashion-mnist", optimizer = "";
  int epochs = 1;
  uint64_t seed = 42;
  int64_t batch = 40;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model_name = v;
    else if (k == "--data") data = v;
    else if (k == "--epochs") epochs = std::stoi(v);
    else if (k == "--batch") batch = std::stoll(v);
    else if (k == "--optimizer") optimizer = v;
    else if (k == "--seed") seed = std::stoull(v);
    else { std::fprintf(stderr, "unknown option %s\n", k.c_str()); return 2; }
  }
  if (optimizer.empty()) optimizer = model_name == "mlp" ? "rmsprop" : "adam";
  init_logging(false);
  Dataset train = load(data, "train"), test = load(data, "t10k");
  set_random_seed(seed);
  auto input = Input({784});
  Model model = model_name == "mlp"
                    ? Sequential(input, {Dense(64, {.activation = "relu"}), Dropout(0.2f), Dense(64, {.activation = "relu"}),
                                         Dropout(0.2f), Dense(10, {.activation = "softmax"})})
                    : Sequential(input, {Reshape({28, 28, 1}), Conv2D(32, {3, 3}, {.activation = "relu"}), MaxPooling2D(),
                                         Conv2D(64, {3, 3}, {.activation = "relu"}), MaxPooling2D(), Flatten(),
                                         Dense(128, {.activation = "relu"}), Dense(10, {.activation = "softmax"})});
  model.compile(optimizer == "adam" ? Adam() : RMSprop({.learning_rate = 0.0015f}), SparseCategoricalCrossentropy());
  for (int e = 0; e < epochs; ++e) {
    auto start = std::chrono::steady_clock::now();
    model.fit(train.x, train.y, {.epochs = 1, .batch_size = batch, .verbose = 0});
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    Logs logs = model.evaluate(test.x, test.y, 1000);
    std::printf("litepipe %s epoch %d: %.3f s, test accuracy %.4f\n", model_name.c_str(), e + 1, seconds,
                logs["sparse_categorical_accuracy"]);
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("litepipe %s peak RSS %.0f MiB\n", model_name.c_str(), static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
