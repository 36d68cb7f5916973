// The ONNX runner's speed on the two convolution models the examples train (untrained weights:
// the time does not depend on them):
// - the Fashion-MNIST MobileNetV2-style model (examples/fashion_mobilenet) at the Evaluator's batch
//   of 256, 10,240 images per pass (40 batches), and at batch 1;
// - the MNIST CNN (examples/mnist) at batch 1 (p50 / p90 latency) and batch 256.
// Each model is checked against the nn model's own prediction first.
//   bench_onnx_runner [ROUNDS]     (ONEDNN_VERBOSE=1 shows the implementations oneDNN picks)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "core/files.h"
#include "nn/model.h"
#include "onnx/onnx_model.h"

using namespace litepipe;
using namespace litepipe::nn;

namespace {

NodeRef conv_bn(NodeRef x, int64_t filters, std::vector<int64_t> kernel, int64_t stride, bool linear = false) {
  x = Conv2D(filters, std::move(kernel), {.strides = {stride, stride}, .padding = "same", .use_bias = false})(x);
  x = BatchNormalization()(x);
  return linear ? x : ActivationLayer("relu6")(x);
}

NodeRef inverted_residual(NodeRef x, int64_t expansion, int64_t filters, int64_t stride) {
  const int64_t channels = x->shape.back();
  NodeRef h = conv_bn(x, channels * expansion, {1, 1}, 1);
  h = DepthwiseConv2D({3, 3}, {.strides = {stride, stride}, .padding = "same", .use_bias = false})(h);
  h = ActivationLayer("relu6")(BatchNormalization()(h));
  h = conv_bn(h, filters, {1, 1}, 1, /*linear=*/true);
  return stride == 1 && channels == filters ? Add()({x, h}) : h;
}

// examples/fashion_mobilenet's network.
Model build_mobilenet() {
  auto input = Input({784}, "image");
  NodeRef x = conv_bn(Reshape({28, 28, 1})(input), 16, {3, 3}, 2);
  x = inverted_residual(x, 4, 16, 1);
  x = inverted_residual(x, 4, 24, 2);
  x = inverted_residual(x, 4, 24, 1);
  x = inverted_residual(x, 4, 32, 2);
  x = inverted_residual(x, 4, 32, 1);
  x = conv_bn(x, 96, {1, 1}, 1);
  x = Dropout(0.2f)(GlobalAveragePooling2D()(x));
  return Model({input}, Dense(10, {.activation = "softmax"})(x), "fashion_mobilenet");
}

// examples/mnist's CNN.
Model build_cnn() {
  auto input = Input({784}, "image");
  return Sequential(input,
                    {Reshape({28, 28, 1}), Conv2D(32, {3, 3}, {.activation = "relu"}), MaxPooling2D({2, 2}),
                     Conv2D(64, {3, 3}, {.activation = "relu"}), MaxPooling2D({2, 2}), Flatten(),
                     Dense(128, {.activation = "relu"}), Dense(10, {.activation = "softmax"})},
                    "mnist_cnn");
}

Tensor random_images(int64_t n, uint64_t seed) {
  Tensor t({n, 784});
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = d(rng);
  return t;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// Calls of `runner` on `x`, `rounds` times after two warm-up calls: the sorted times in ms.
std::vector<double> time_calls(const onnxio::OnnxRunner& runner, const Tensor& x, int rounds) {
  for (int i = 0; i < 2; ++i) runner.run({{"image", x}});
  std::vector<double> ms;
  for (int i = 0; i < rounds; ++i) {
    auto start = std::chrono::steady_clock::now();
    runner.run({{"image", x}});
    ms.push_back(ms_since(start));
  }
  std::sort(ms.begin(), ms.end());
  return ms;
}

double quantile(const std::vector<double>& sorted, double q) { return sorted[static_cast<size_t>(q * static_cast<double>(sorted.size() - 1))]; }

void bench(const char* name, Model (*build)(), int rounds) {
  set_random_seed(1);
  Model model = build();
  const fs::path dir = fs::temp_directory_path() / "litepipe-bench-onnx-runner" / name;
  onnxio::OnnxRunner runner(model.save(dir, {.input_name = "image"}));
  // Agreement first: a fast wrong answer is no answer.
  Tensor x256 = random_images(256, 2), x1 = random_images(1, 3);
  for (const Tensor* x : {&x256, &x1}) {
    Tensor want = model.predict(*x, x->dim(0));
    Tensor got = runner.run({{"image", *x}}).begin()->second;
    double worst = 0;
    for (int64_t i = 0; i < got.size(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(got[i] - want[i])));
    std::printf("%s batch %lld: max |runner - nn| %.2g\n", name, static_cast<long long>(x->dim(0)), worst);
    if (worst > 1e-4) std::exit(1);
  }
  std::vector<double> big = time_calls(runner, x256, std::max(rounds / 20, 5));
  std::printf("%s batch 256: p50 %.2f ms  min %.2f ms  (10,240 images: %.0f ms)\n", name, quantile(big, 0.5), big.front(), 40 * quantile(big, 0.5));
  std::vector<double> one = time_calls(runner, x1, rounds);
  std::printf("%s batch 1:   p50 %.1f us  p90 %.1f us  min %.1f us\n", name, 1e3 * quantile(one, 0.5), 1e3 * quantile(one, 0.9), 1e3 * one.front());
  fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 2000;
  bench("fashion_mobilenet", build_mobilenet, rounds);
  bench("mnist_cnn", build_cnn, rounds);
  return 0;
}
