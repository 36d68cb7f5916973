// Trains the TFX MNIST MLP or the CNN on an IDX dataset (default: Debian's Fashion-MNIST, 60k
// train / 10k test), timing each epoch. bench/compare_torch.sh runs it beside PyTorch.
//
//   bench_train --model mlp|cnn [--data DIR] [--epochs N] [--batch B] [--optimizer rmsprop|adam] [--seed S]
//   bench_train --sgemm-ceiling [--size 4096]     oneDNN's sgemm GFLOP/s: the machine's ceiling
//
// Threads: OpenMP's (OMP_NUM_THREADS), as for oneDNN's primitives.
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

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

// A layer that is one matrix product per sample: `positions` output pixels (1 for Dense), each a
// dot product of length `k` for `channels` outputs.
struct GemmLayer {
  double positions, channels, k;
  bool input_gradient;  // false for the first layer: nobody needs d(loss)/d(image)
};

// Training FLOPs per sample: forward, backward-data (where computed) and backward-weights, 2 per
// multiply-add each. Bias, activations, pooling, loss and optimizer are not counted (elementwise,
// under 1% of the products).
static double training_flops_per_sample(const std::vector<GemmLayer>& layers) {
  double flops = 0;
  for (const GemmLayer& l : layers) flops += 2 * l.positions * l.channels * l.k * (l.input_gradient ? 3 : 2);
  return flops;
}

static std::vector<GemmLayer> gemm_layers(const std::string& model) {
  if (model == "mlp") return {{1, 64, 784, false}, {1, 64, 64, true}, {1, 10, 64, true}};
  // 28x28x1 -conv3x3-> 26x26x32 -pool-> 13x13x32 -conv3x3-> 11x11x64 -pool-> 5x5x64 -> 128 -> 10
  return {{26 * 26, 32, 3 * 3 * 1, false}, {11 * 11, 64, 3 * 3 * 32, true}, {1, 128, 1600, true}, {1, 10, 128, true}};
}

static const char* isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

static void print_config() {
  const dnnl_version_t* v = dnnl_version();
  // No external BLAS: oneDNN's own kernels (JIT for the ISA below) do every product.
  std::printf("litepipe config: BLAS none (oneDNN %d.%d.%d's own kernels, isa %s), %d threads (OpenMP, OMP_NUM_THREADS)\n",
              v->major, v->minor, v->patch, isa_name(dnnl_get_effective_cpu_isa()), omp_get_max_threads());
}

// The machine's float32 ceiling as this library can reach it: best of `runs` square sgemms.
static int sgemm_ceiling(int64_t size, int runs) {
  print_config();
  std::vector<float> a(static_cast<size_t>(size * size), 1.0f), b(a.size(), 0.5f), c(a.size(), 0.0f);
  double best = 1e30;
  for (int r = 0; r < runs + 1; ++r) {  // the first run warms caches and oneDNN's kernel JIT
    auto start = std::chrono::steady_clock::now();
    dnnl_status_t s = dnnl_sgemm('N', 'N', size, size, size, 1.0f, a.data(), size, b.data(), size, 0.0f, c.data(), size);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s != dnnl_success) {
      std::fprintf(stderr, "dnnl_sgemm failed: status %d\n", static_cast<int>(s));
      return 1;
    }
    if (r > 0) best = std::min(best, seconds);
  }
  double flops = 2.0 * static_cast<double>(size) * static_cast<double>(size) * static_cast<double>(size);
  std::printf("litepipe sgemm %lld^3 on %d threads: %.1f GFLOP/s (best of %d: %.3f s)\n", static_cast<long long>(size),
              omp_get_max_threads(), flops / best / 1e9, runs, best);
  return 0;
}

int main(int argc, char** argv) {
  std::string model_name = "mlp", data = "/usr/share/datasets/fashion-mnist", optimizer;
  int epochs = 1, runs = 3;
  uint64_t seed = 42;
  int64_t batch = 40, size = 4096, rows_per_pass = 0;
  bool ceiling = false;
  CLI::App app{"litepipe training benchmark (bench/compare_torch.sh runs it beside PyTorch)"};
  app.add_option("--model", model_name, "mlp or cnn")->check(CLI::IsMember({"mlp", "cnn"}));
  app.add_option("--data", data, "directory of the IDX files");
  app.add_option("--epochs", epochs)->check(CLI::PositiveNumber);
  app.add_option("--batch", batch)->check(CLI::PositiveNumber);
  app.add_option("--optimizer", optimizer, "rmsprop or adam (default: rmsprop for mlp, adam for cnn)")
      ->check(CLI::IsMember({"rmsprop", "adam"}));
  app.add_option("--seed", seed);
  app.add_option("--rows-per-pass", rows_per_pass, "FitOptions::rows_per_pass (0: the whole batch, the default)")->check(CLI::NonNegativeNumber);
  app.add_flag("--sgemm-ceiling", ceiling, "only measure dnnl_sgemm at --size^3 (GFLOP/s)");
  app.add_option("--size", size, "sgemm size for --sgemm-ceiling")->check(CLI::PositiveNumber);
  app.add_option("--runs", runs, "sgemm repetitions for --sgemm-ceiling")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (ceiling) return sgemm_ceiling(size, runs);

  if (optimizer.empty()) optimizer = model_name == "mlp" ? "rmsprop" : "adam";
  init_logging(false);
  Dataset train = load(data, "train"), test = load(data, "t10k");
  set_random_seed(seed);
  print_config();
  std::printf("litepipe %s: batch %lld, %s, rows per pass %s, activations NHWC, conv weights in oneDNN's blocked layout, data as "
              "float tensors in memory\n",
              model_name.c_str(), static_cast<long long>(batch), optimizer.c_str(),
              rows_per_pass ? std::to_string(rows_per_pass).c_str() : "all");
  auto input = Input({784});
  Model model = model_name == "mlp"
                    ? Sequential(input, {Dense(64, {.activation = "relu"}), Dropout(0.2f), Dense(64, {.activation = "relu"}),
                                         Dropout(0.2f), Dense(10, {.activation = "softmax"})})
                    : Sequential(input, {Reshape({28, 28, 1}), Conv2D(32, {3, 3}, {.activation = "relu"}), MaxPooling2D(),
                                         Conv2D(64, {3, 3}, {.activation = "relu"}), MaxPooling2D(), Flatten(),
                                         Dense(128, {.activation = "relu"}), Dense(10, {.activation = "softmax"})});
  model.compile(optimizer == "adam" ? Adam() : RMSprop({.learning_rate = 0.0015f}), SparseCategoricalCrossentropy());
  double epoch_flops = training_flops_per_sample(gemm_layers(model_name)) * static_cast<double>(train.x.shape()[0]);
  for (int e = 0; e < epochs; ++e) {
    auto start = std::chrono::steady_clock::now();
    model.fit(train.x, train.y, {.epochs = 1, .batch_size = batch, .rows_per_pass = rows_per_pass, .verbose = 0});
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Marks the end of training in oneDNN's verbose log (bench/onednn_profile.sh).
    std::printf("litepipe %s epoch %d trained, evaluating\n", model_name.c_str(), e + 1);
    Logs logs = model.evaluate(test.x, test.y, 1000);
    std::printf("litepipe %s epoch %d: %.3f s, test accuracy %.4f, %.1f GFLOP/s\n", model_name.c_str(), e + 1, seconds,
                logs["sparse_categorical_accuracy"], epoch_flops / seconds / 1e9);
  }
  std::printf("litepipe %s FLOPs per epoch: %.1f GFLOP (conv/dense forward, backward-data except the first layer's, "
              "backward-weights; elementwise ops not counted)\n",
              model_name.c_str(), epoch_flops / 1e9);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("litepipe %s peak RSS %.0f MiB\n", model_name.c_str(), static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
