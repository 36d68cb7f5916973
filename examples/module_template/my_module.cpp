// A run_fn module skeleton: copy this folder, rename, and write your model. The Trainer calls
// run_fn(fn_args) (or the function its `run_fn` parameter names).
#include "components/trainer.h"
#include "core/files.h"
#include "nn/dataset.h"
#include "nn/model.h"
#include "transform/transform_graph.h"

using namespace litepipe;
using namespace litepipe::nn;

extern "C" void run_fn(const FnArgs& fn_args) {
  // custom_config from the pipeline file: the raw features and the label.
  std::vector<std::string> raw = fn_args.custom_config.at("features").get<std::vector<std::string>>();
  std::string label = fn_args.custom_config.at("label").get<std::string>() + "_xf";
  auto transform = transform::TransformGraph::load(fn_args.transform_output);
  std::vector<std::string> inputs;
  for (const auto& f : raw) inputs.push_back(f + "_xf");  // the Transform's outputs
  Dataset train = load_examples(fn_args.train_files, inputs, label);
  Dataset eval = load_examples(fn_args.eval_files, inputs, label);
  std::vector<std::string> classes = transform.vocabulary(label);

  std::vector<NodeRef> model_inputs;
  for (const auto& name : inputs) model_inputs.push_back(Input({train.features.at(name).dim(1)}, name));
  NodeRef x = model_inputs.size() > 1 ? Concatenate()(model_inputs) : model_inputs[0];
  x = Dense(16, {.activation = "relu"})(x);
  Model model(model_inputs, Dense(static_cast<int64_t>(classes.size()), {.activation = "softmax"})(x));
  model.compile(Adam({.learning_rate = 0.01f}), SparseCategoricalCrossentropy());
  model.fit(train.features, train.y, {.batch_size = 32, .steps_per_epoch = fn_args.train_steps,
                                      .validation_inputs = std::make_pair(eval.features, eval.y)});
  // Serving takes the raw features; the Transform graph runs first, in the model.
  model.save(fn_args.serving_model_dir, {.inputs = transform.serving_inputs(inputs), .class_names = classes});
}
