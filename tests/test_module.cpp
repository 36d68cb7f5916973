// A user module for the Trainer tests: small, fast run_fns, and ones that fail in each way.
#include <filesystem>
#include <stdexcept>

#include "components/trainer.h"
#include "distributed/world.h"
#include "nn/dataset.h"
#include "nn/model.h"
#include "tflite/rewriter.h"
#include "transform/transform_graph.h"

using namespace litepipe;
using namespace litepipe::nn;

namespace {

void train(const FnArgs& args, bool cnn, const std::string& serving_dir) {
  set_random_seed(args.custom_config.value("seed", uint64_t{1}));
  auto transform = transform::TransformGraph::load(args.transform_output);
  Dataset train = load_train_shard(args.train_files, "image_floats_xf", "image_class");
  auto input = Input({784});
  Model model = cnn ? Sequential(input, {Reshape({28, 28, 1}), Conv2D(8, {3, 3}, {.activation = "relu"}), MaxPooling2D(),
                                         Conv2D(16, {3, 3}, {.activation = "relu"}), MaxPooling2D(), Flatten(),
                                         Dense(10, {.activation = "softmax"})})
                    : Sequential(input, {Dense(32, {.activation = "relu"}), Dropout(0.2f), Dense(10, {.activation = "softmax"})});
  model.compile(Adam(), SparseCategoricalCrossentropy());
  model.fit(train, {.batch_size = 40, .steps_per_epoch = args.train_steps, .verbose = 0});
  model.save(serving_dir, {.input_name = "image_floats", .preprocessing = transform.serving_preprocessing("image_floats_xf")});
}

}  // namespace

extern "C" void run_fn(const FnArgs& args) { train(args, false, args.serving_model_dir); }
extern "C" void run_fn_cnn(const FnArgs& args) { train(args, true, args.serving_model_dir); }
// TFX for Mobile's lite module: the MLP rewritten into Format-Serving/tflite (no ONNX beside it).
extern "C" void run_fn_lite(const FnArgs& args) {
  std::string temp = args.serving_model_dir + "/temp";
  train(args, false, temp);
  auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_rewriter");
  rewriting::rewrite_saved_model(temp, args.serving_model_dir, *rewriter, rewriting::ModelType::TFLITE_MODEL);
  std::filesystem::remove_all(temp);
}
// Both models, each also rewritten to TFLite: Format-Serving/{mlp,cnn}/{model.onnx,tflite}.
extern "C" void run_fn_both_lite(const FnArgs& args) {
  for (bool cnn : {false, true}) {
    std::string dir = args.serving_model_dir + (cnn ? "/cnn" : "/mlp");
    train(args, cnn, dir);
    auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_rewriter");
    rewriting::rewrite_saved_model(dir, dir + "/lite", *rewriter, rewriting::ModelType::TFLITE_MODEL);
    auto fp16 = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_fp16_rewriter",
                                           {.quantization_optimizations = {"DEFAULT"}, .quantization_supported_types = {"float16"}});
    rewriting::rewrite_saved_model(dir, dir + "/lite_fp16", *fp16, rewriting::ModelType::TFLITE_MODEL);
    auto dynamic = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_dynamic_range_rewriter",
                                              {.quantization_optimizations = {"DEFAULT"}});
    rewriting::rewrite_saved_model(dir, dir + "/lite_dynamic", *dynamic, rewriting::ModelType::TFLITE_MODEL);
  }
}
// Data-parallel: rank 1 fails before training while rank 0 waits for it in fit()'s first collective.
extern "C" void run_fn_fails_on_rank_1(const FnArgs& args) {
  if (distributed::world().rank() == 1) throw std::runtime_error("rank one's data is corrupt");
  train(args, false, args.serving_model_dir);
}
extern "C" void run_fn_throws(const FnArgs&) { throw std::runtime_error("diverged: loss is NaN"); }
extern "C" void run_fn_saves_nothing(const FnArgs&) {}
extern "C" void preprocessing_fn(transform::PreprocessingFn& fn) {
  fn.push_back({"image_floats_xf", "scale_to_0_1", "image_floats"});
  fn.push_back({"image_class", "identity", "image_class"});
}
