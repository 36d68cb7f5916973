// The Fashion-MNIST user module: a MobileNetV2-style classifier, trained once and shipped three
// ways. The Trainer loads this shared library and calls the run_fn named in the pipeline:
//   run_fn            trains the network and saves the full-precision ONNX serving model (raw
//                     image_floats in: the Transform graph runs first)
//   run_fn_lite       rewrites the base_model input (Trainer.fashion's model) into float32 TFLite
//   run_fn_lite_int8  the same, full-integer int8, calibrated on 500 raw training images
// The lite run_fns train nothing: the base_model input (TFX's warm-start input) hands them the
// trained model, so all three serving models hold the same weights.
#include <spdlog/spdlog.h>

#include "components/trainer.h"
#include "core/error.h"
#include "core/files.h"
#include "nn/dataset.h"
#include "nn/model.h"
#include "tflite/rewriter.h"
#include "transform/transform_graph.h"

namespace {

using namespace litepipe;
using namespace litepipe::nn;

constexpr const char* kImageKey = "image_floats";
constexpr const char* kLabelKey = "image_class";
constexpr int64_t kBatchSize = 64;

std::string transformed_name(const std::string& key) { return key + "_xf"; }

// Convolution (no bias: the batch normalization after it has one), BatchNormalization, and
// ReLU6 unless `linear` — MobileNetV2's unit; the TFLite converter folds the normalization.
// custom_config.batch_norm_momentum (default Keras's 0.99) sets how fast the moving statistics,
// which serving uses, follow the batches: short runs need less.
float g_batch_norm_momentum = 0.99f;

NodeRef conv_bn(NodeRef x, int64_t filters, std::vector<int64_t> kernel, int64_t stride, bool linear = false) {
  x = Conv2D(filters, std::move(kernel), {.strides = {stride, stride}, .padding = "same", .use_bias = false})(x);
  x = BatchNormalization({.momentum = g_batch_norm_momentum})(x);
  return linear ? x : ActivationLayer("relu6")(x);
}

// MobileNetV2's inverted residual block: 1x1 expand, 3x3 depthwise, 1x1 linear projection, and
// the residual Add where the shape allows it.
NodeRef inverted_residual(NodeRef x, int64_t expansion, int64_t filters, int64_t stride) {
  const int64_t channels = x->shape.back();
  NodeRef h = conv_bn(x, channels * expansion, {1, 1}, 1);
  h = DepthwiseConv2D({3, 3}, {.strides = {stride, stride}, .padding = "same", .use_bias = false})(h);
  h = ActivationLayer("relu6")(BatchNormalization({.momentum = g_batch_norm_momentum})(h));
  h = conv_bn(h, filters, {1, 1}, 1, /*linear=*/true);
  return stride == 1 && channels == filters ? Add()({x, h}) : h;
}

Model build_mobilenet() {
  auto input = Input({784}, transformed_name(kImageKey));
  NodeRef x = conv_bn(Reshape({28, 28, 1})(input), 16, {3, 3}, 2);  // 14 x 14
  x = inverted_residual(x, 4, 16, 1);
  x = inverted_residual(x, 4, 24, 2);  // 7 x 7
  x = inverted_residual(x, 4, 24, 1);
  x = inverted_residual(x, 4, 32, 2);  // 4 x 4
  x = inverted_residual(x, 4, 32, 1);
  x = conv_bn(x, 96, {1, 1}, 1);
  x = Dropout(0.2f)(GlobalAveragePooling2D()(x));
  return Model({input}, Dense(10, {.activation = "softmax"})(x), "fashion_mobilenet");
}

// The base_model input's serving folder (the trained full model), or an error naming the input.
std::string base_model(const FnArgs& fn_args, const char* run_fn) {
  if (fn_args.base_model.empty()) fail("{}: needs the base_model input (the Trainer whose model it rewrites)", run_fn);
  return fn_args.base_model;
}

}  // namespace

extern "C" void run_fn(const litepipe::FnArgs& fn_args) {
  set_random_seed(fn_args.custom_config.value("seed", uint64_t{42}));
  g_batch_norm_momentum = fn_args.custom_config.value("batch_norm_momentum", 0.99f);
  Model model = build_mobilenet();
  transform::TransformGraph transform = transform::TransformGraph::load(fn_args.transform_output);
  Dataset train = load_examples(fn_args.train_files, transformed_name(kImageKey), kLabelKey);
  Dataset eval = load_examples(fn_args.eval_files, transformed_name(kImageKey), kLabelKey);
  model.compile(Adam({.learning_rate = 0.002f}), SparseCategoricalCrossentropy(), {"sparse_categorical_accuracy"});
  spdlog::info("\n{}", model.summary());
  // train_args.num_steps batches of 64 (the data repeats, shuffled each pass, as in Keras).
  History history = model.fit(train.x, train.y,
                              {.epochs = 1,
                               .batch_size = kBatchSize,
                               .steps_per_epoch = fn_args.train_steps,
                               .validation_data = std::make_pair(eval.x, eval.y),
                               .validation_steps = fn_args.eval_steps});
  write_json_file_atomic(fs::path(fn_args.model_run_dir) / "history.json", history.history);
  model.save(fn_args.serving_model_dir,
             {.input_name = kImageKey, .preprocessing = transform.serving_preprocessing(transformed_name(kImageKey))});
}

extern "C" void run_fn_lite(const litepipe::FnArgs& fn_args) {
  auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_rewriter");
  rewriting::rewrite_saved_model(base_model(fn_args, "run_fn_lite"), fn_args.serving_model_dir, *rewriter, rewriting::ModelType::TFLITE_MODEL);
}

extern "C" void run_fn_lite_int8(const litepipe::FnArgs& fn_args) {
  // The representative dataset is what the serving signature takes: raw image_floats, from the
  // raw examples this Trainer is given (the first shard holds more than enough).
  if (fn_args.train_files.empty()) fail("run_fn_lite_int8: the examples input has no train files to calibrate on");
  rewriting::TFLiteRewriterOptions options{.quantization_optimizations = {"DEFAULT"}, .quantization_enable_full_integer = true};
  options.representative_dataset = [&fn_args] {
    Tensor raw = load_examples({fn_args.train_files.front()}, kImageKey, kLabelKey).x;
    std::vector<tfl::RepresentativeBatch> batches;
    for (int64_t start = 0; start < std::min<int64_t>(500, raw.dim(0)); start += 100) {
      batches.push_back({{kImageKey, raw.slice_rows(start, std::min<int64_t>(start + 100, raw.dim(0)))}});
    }
    return batches;
  };
  auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_int8_rewriter", options);
  rewriting::rewrite_saved_model(base_model(fn_args, "run_fn_lite_int8"), fn_args.serving_model_dir, *rewriter, rewriting::ModelType::TFLITE_MODEL);
}
