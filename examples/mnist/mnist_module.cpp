// The MNIST user module (TFX's MNIST native-Keras example, in C++). The Trainer loads this shared
// library and calls the run_fn named in the pipeline:
//   run_fn      the TFX example's MLP: Dense(64, relu) - Dropout(0.2) - Dense(64, relu) -
//               Dropout(0.2) - Dense(10, softmax), RMSprop(0.0015), batch 40
//   run_fn_cnn  conv32 3x3 - maxpool - conv64 3x3 - maxpool - dense128 - dense10
//   run_fn_lite the MLP, saved to serving_model_dir/temp and rewritten by the TFLite rewriter into
//               serving_model_dir/tflite (TFX for Mobile's lite module)
//   run_fn_lite_int8  the same with full-integer int8 quantization; takes raw examples + the
//               Transform graph (the representative dataset is raw image_floats)
// Both save a serving model whose serving_default signature takes the raw `image_floats`
// (float32 [None, 784]): the Transform graph (scale_by_min_max to [-0.5, 0.5]) + the model.
#include <spdlog/spdlog.h>

#include "components/trainer.h"
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
constexpr int64_t kBatchSize = 40;

std::string transformed_name(const std::string& key) { return key + "_xf"; }

Model build_mlp() {
  auto input = Input({784}, transformed_name(kImageKey));
  auto d = input;
  for (int i = 0; i < 2; ++i) {
    d = Dense(64, {.activation = "relu"})(d);
    d = Dropout(0.2f)(d);
  }
  return Model({input}, Dense(10, {.activation = "softmax"})(d), "mnist_mlp");
}

Model build_cnn() {
  auto input = Input({784}, transformed_name(kImageKey));
  return Sequential(input,
                    {Reshape({28, 28, 1}), Conv2D(32, {3, 3}, {.activation = "relu"}), MaxPooling2D({2, 2}),
                     Conv2D(64, {3, 3}, {.activation = "relu"}), MaxPooling2D({2, 2}), Flatten(),
                     Dense(128, {.activation = "relu"}), Dense(10, {.activation = "softmax"})},
                    "mnist_cnn");
}

// Trains `model` and saves its serving model (Transform graph + model) into `serving_dir`. The
// examples are the Transform's output, or raw examples (`raw_examples`) that the Transform graph
// maps here, as TFX's Trainer accepts both.
void train_and_save(const FnArgs& fn_args, Model (*build_model)(), std::shared_ptr<Optimizer> optimizer, const std::string& serving_dir,
                    bool raw_examples = false) {
  // Seeded before the layers draw their initial weights: every run_fn trains the same model.
  set_random_seed(fn_args.custom_config.value("seed", uint64_t{42}));
  Model model = build_model();
  transform::TransformGraph transform = transform::TransformGraph::load(fn_args.transform_output);
  ExampleMap map;
  if (raw_examples) map = [&transform](const tensorflow::Example& raw) { return transform.apply(raw); };
  // Under mpirun (train_args.num_workers) each rank parses and maps only its share of the train
  // examples; fit() computes the rows of every global batch that this rank holds.
  Dataset train = load_train_shard(fn_args.train_files, transformed_name(kImageKey), kLabelKey, {}, map);
  Dataset eval = load_examples(fn_args.eval_files, transformed_name(kImageKey), kLabelKey, {}, map);
  model.compile(std::move(optimizer), SparseCategoricalCrossentropy(), {"sparse_categorical_accuracy"});
  spdlog::info("\n{}", model.summary());
  History history = model.fit(train,
                              {.epochs = 1,
                               .batch_size = kBatchSize,
                               .steps_per_epoch = fn_args.train_steps,
                               .validation_data = std::make_pair(eval.x, eval.y),
                               .validation_steps = fn_args.eval_steps});
  write_json_file_atomic(fs::path(fn_args.model_run_dir) / "history.json", history.history);
  // The signature takes raw features: the Transform graph runs first.
  model.save(serving_dir, {.input_name = kImageKey, .preprocessing = transform.serving_preprocessing(transformed_name(kImageKey))});
}

}  // namespace

extern "C" void run_fn(const litepipe::FnArgs& fn_args) {
  train_and_save(fn_args, build_mlp, RMSprop({.learning_rate = 0.0015f}), fn_args.serving_model_dir);
}

extern "C" void run_fn_cnn(const litepipe::FnArgs& fn_args) {
  train_and_save(fn_args, build_cnn, Adam(), fn_args.serving_model_dir);
}

extern "C" void run_fn_lite(const litepipe::FnArgs& fn_args) {
  // As TFX's lite module: save to a temp folder, rewrite into the serving dir, drop the temp.
  fs::path temp = fs::path(fn_args.serving_model_dir) / "temp";
  train_and_save(fn_args, build_mlp, RMSprop({.learning_rate = 0.0015f}), temp.string());
  auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_rewriter");
  rewriting::rewrite_saved_model(temp, fn_args.serving_model_dir, *rewriter, rewriting::ModelType::TFLITE_MODEL);
  fs::remove_all(temp);
}

extern "C" void run_fn_lite_int8(const litepipe::FnArgs& fn_args) {
  // The lite module with full-integer quantization. The representative dataset must be what the
  // serving signature takes (raw image_floats), so this Trainer gets the raw examples and the
  // Transform graph; 500 training images calibrate the int8 activations.
  fs::path temp = fs::path(fn_args.serving_model_dir) / "temp";
  train_and_save(fn_args, build_mlp, RMSprop({.learning_rate = 0.0015f}), temp.string(), /*raw_examples=*/true);
  rewriting::TFLiteRewriterOptions options{.quantization_optimizations = {"DEFAULT"}, .quantization_enable_full_integer = true};
  options.representative_dataset = [&fn_args] {
    Tensor raw = load_examples(fn_args.train_files, kImageKey, kLabelKey).x;
    std::vector<tfl::RepresentativeBatch> batches;
    for (int64_t start = 0; start < std::min<int64_t>(500, raw.dim(0)); start += 100) {
      batches.push_back({{kImageKey, raw.slice_rows(start, std::min<int64_t>(start + 100, raw.dim(0)))}});
    }
    return batches;
  };
  auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_int8_rewriter", options);
  rewriting::rewrite_saved_model(temp, fn_args.serving_model_dir, *rewriter, rewriting::ModelType::TFLITE_MODEL);
  fs::remove_all(temp);
}
