// The penguin user module: TFX's penguin template (penguin_utils_keras.py) in C++. Four numeric
// features, each its own model input, concatenated, two Dense(8, relu) layers and a softmax over
// the three species; Adam(0.01), batch 20.
//   run_fn       saves the serving model (model.onnx): raw features in, the Transform graph first
//   run_fn_lite  the same model rewritten into TensorFlow Lite (serving_model_dir/tflite)
// The label `species` is a string; the Transform maps it to class ids (species_xf) through a
// vocabulary, whose entries are the class names saved with the model.
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

const std::vector<std::string> kFeatureKeys = {"bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"};
constexpr const char* kLabelKey = "species";
constexpr int64_t kBatchSize = 20;

std::string transformed_name(const std::string& key) { return key + "_xf"; }

void train_and_save(const FnArgs& fn_args, const std::string& serving_dir) {
  set_random_seed(fn_args.custom_config.value("seed", uint64_t{42}));
  auto transform = transform::TransformGraph::load(fn_args.transform_output);
  std::vector<std::string> inputs;
  for (const auto& key : kFeatureKeys) inputs.push_back(transformed_name(key));
  Dataset train = load_examples(fn_args.train_files, inputs, transformed_name(kLabelKey));
  Dataset eval = load_examples(fn_args.eval_files, inputs, transformed_name(kLabelKey));
  std::vector<std::string> class_names = transform.vocabulary(transformed_name(kLabelKey));

  std::vector<NodeRef> model_inputs;
  for (const auto& name : inputs) model_inputs.push_back(Input({1}, name));
  NodeRef d = Concatenate()(model_inputs);
  for (int i = 0; i < 2; ++i) d = Dense(8, {.activation = "relu"})(d);
  Model model(model_inputs, Dense(static_cast<int64_t>(class_names.size()), {.activation = "softmax"})(d), "penguin");
  model.compile(Adam({.learning_rate = 1e-2f}), SparseCategoricalCrossentropy(), {"sparse_categorical_accuracy"});
  spdlog::info("\n{}", model.summary());
  History history = model.fit(train.features, train.y,
                              {.batch_size = kBatchSize,
                               .steps_per_epoch = fn_args.train_steps,
                               .validation_inputs = std::make_pair(eval.features, eval.y),
                               .validation_steps = fn_args.eval_steps});
  write_json_file_atomic(fs::path(fn_args.model_run_dir) / "history.json", history.history);
  // Each raw feature is a serving input with its own Transform ops in-graph.
  model.save(serving_dir, {.inputs = transform.serving_inputs(inputs), .class_names = class_names});
}

}  // namespace

extern "C" void run_fn(const litepipe::FnArgs& fn_args) { train_and_save(fn_args, fn_args.serving_model_dir); }

extern "C" void run_fn_lite(const litepipe::FnArgs& fn_args) {
  fs::path temp = fs::path(fn_args.serving_model_dir) / "temp";
  train_and_save(fn_args, temp.string());
  auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_rewriter");
  rewriting::rewrite_saved_model(temp, fn_args.serving_model_dir, *rewriter, rewriting::ModelType::TFLITE_MODEL);
  fs::remove_all(temp);
}
