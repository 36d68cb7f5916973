#include "components/builtin_trainers.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/files.h"
#include "data/tfrecord.h"
#include "nn/dataset.h"
#include "nn/model.h"
#include "onnx/onnx_model.h"
#include "tflite/rewriter.h"
#include "transform/transform_graph.h"

namespace litepipe {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kDnnClassifier = "dnn_classifier";
constexpr const char* kDnnRegressor = "dnn_regressor";
constexpr const char* kCnnImageClassifier = "cnn_image_classifier";
const std::set<std::string> kOptimizers = {"adam", "sgd", "rmsprop"};
const std::set<std::string> kTfliteModes = {"none", "float", "float16", "dynamic_range", "int8"};
const std::set<std::string> kConfigKeys = {"features", "label", "hidden_units", "dropout", "optimizer", "learning_rate",
                                           "batch_size", "seed", "tflite", "image_shape", "conv_filters"};

std::shared_ptr<nn::Optimizer> make_optimizer(const BuiltinTrainerConfig& c) {
  if (c.optimizer == "sgd") return nn::SGD({.learning_rate = c.learning_rate});
  if (c.optimizer == "rmsprop") return nn::RMSprop({.learning_rate = c.learning_rate});
  return nn::Adam({.learning_rate = c.learning_rate});
}

// The feature the model trains on for a raw feature: the op output of its chain that no other op
// reads (the raw feature itself when the graph does not map it).
std::string trained_feature(const transform::TransformGraph& graph, const std::string& raw) {
  std::set<std::string> read, outputs;
  for (const auto& op : graph.to_json()["ops"]) read.insert(op["input"].get<std::string>());
  std::vector<std::string> ends;
  for (const auto& op : graph.to_json()["ops"]) {
    std::string out = op["output"];
    if (!read.count(out) && graph.raw_feature_of(out) == raw) ends.push_back(out);
  }
  if (ends.size() > 1) {
    fail("Trainer (builtin): the Transform maps '{}' to several features ({}); a builtin trainer needs one per feature", raw, fmt::join(ends, ", "));
  }
  if (ends.empty()) fail("Trainer (builtin): the Transform graph does not map feature '{}'; add an op for it (identity at least)", raw);
  return ends[0];
}

// True when the examples hold `feature` (transformed examples) rather than raw ones.
bool examples_have(const std::vector<std::string>& files, const std::string& feature) {
  TFRecordReader reader(files.at(0));
  std::string record;
  tensorflow::Example e;
  if (!reader.next(record) || !e.ParseFromString(record)) fail("{}: no readable tf.Example", files[0]);
  return e.features().feature().count(feature) > 0;
}

void convert_to_tflite(const BuiltinTrainerConfig& c, const FnArgs& fn_args, const fs::path& saved, const std::vector<std::string>& raw_train_files,
                       const std::vector<std::string>& raw_features) {
  rewriting::TFLiteRewriterOptions options;
  if (c.tflite == "float16") options.quantization_optimizations = {"DEFAULT"}, options.quantization_supported_types = {"float16"};
  if (c.tflite == "dynamic_range") options.quantization_optimizations = {"DEFAULT"};
  if (c.tflite == "int8") {
    if (raw_train_files.empty()) {
      fail("Trainer (builtin): tflite: int8 calibrates on raw features; give the Trainer the raw examples (examples: ExampleGen.examples) "
           "and the transform_graph");
    }
    options.quantization_optimizations = {"DEFAULT"};
    options.quantization_enable_full_integer = true;
    options.representative_dataset = [raw_train_files, raw_features] {
      nn::Dataset raw = nn::load_examples(raw_train_files, raw_features, "");
      std::vector<tfl::RepresentativeBatch> batches;
      for (int64_t start = 0; start < std::min<int64_t>(500, raw.size()); start += 100) {
        tfl::RepresentativeBatch batch;
        for (const auto& [name, t] : raw.features) batch[name] = t.slice_rows(start, std::min<int64_t>(start + 100, raw.size()));
        batches.push_back(batch);
      }
      return batches;
    };
  }
  auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_rewriter", options);
  rewriting::rewrite_saved_model(saved, fn_args.serving_model_dir, *rewriter, rewriting::ModelType::TFLITE_MODEL);
}

// The model a builtin run_fn trains, on `inputs` (each [N, width]).
nn::Model build_model(const BuiltinTrainerConfig& c, const std::vector<std::string>& inputs, const nn::Dataset& train, int64_t classes) {
  std::vector<nn::NodeRef> model_inputs;
  for (const auto& name : inputs) model_inputs.push_back(nn::Input({train.features.at(name).dim(1)}, name));
  nn::NodeRef x = model_inputs.size() == 1 ? model_inputs[0] : nn::Concatenate()(model_inputs);
  if (c.run_fn == kCnnImageClassifier) {
    int64_t width = train.features.at(inputs[0]).dim(1);
    if (nn::shape_size(c.image_shape) != width) {
      fail("Trainer (builtin): custom_config.image_shape {} holds {} values; feature '{}' has {}", nn::shape_string(c.image_shape),
           nn::shape_size(c.image_shape), inputs[0], width);
    }
    x = nn::Reshape(c.image_shape)(x);
    for (int64_t filters : c.conv_filters) x = nn::MaxPooling2D({2, 2})(nn::Conv2D(filters, {3, 3}, {.activation = "relu"})(x));
    x = nn::Flatten()(x);
  }
  for (int64_t units : c.hidden_units) {
    x = nn::Dense(units, {.activation = "relu"})(x);
    if (c.dropout > 0) x = nn::Dropout(c.dropout)(x);
  }
  if (c.run_fn == kDnnRegressor) return nn::Model(model_inputs, nn::Dense(1)(x), c.run_fn);
  return nn::Model(model_inputs, nn::Dense(classes, {.activation = "softmax"})(x), c.run_fn);
}

void train_builtin(const BuiltinTrainerConfig& c, const FnArgs& fn_args) {
  if (fn_args.transform_output.empty()) fail("Trainer (builtin): {} needs the transform_graph input", c.run_fn);
  auto graph = transform::TransformGraph::load(fn_args.transform_output);
  std::vector<std::string> inputs;
  for (const auto& f : c.features) inputs.push_back(trained_feature(graph, f));
  std::string label = trained_feature(graph, c.label);
  // Raw examples (with a transform graph) are transformed here, as TFX's Trainer accepts both.
  bool raw_examples = !examples_have(fn_args.train_files, inputs[0]);
  nn::ExampleMap map;
  if (raw_examples) map = [&graph](const tensorflow::Example& e) { return graph.apply(e); };
  // An example without a label value cannot be learned from: left out, and said so.
  nn::Dataset train = nn::load_examples(fn_args.train_files, inputs, label, map, /*skip_missing_labels=*/true);
  nn::Dataset eval = nn::load_examples(fn_args.eval_files, inputs, label, map, /*skip_missing_labels=*/true);
  if (train.without_label + eval.without_label > 0) {
    spdlog::warn("Trainer (builtin): {} train and {} eval examples have no value for label '{}': left out", train.without_label,
                 eval.without_label, label);
  }

  bool regression = c.run_fn == kDnnRegressor;
  std::vector<std::string> class_names = regression ? std::vector<std::string>{} : graph.vocabulary(label);
  int64_t classes = static_cast<int64_t>(class_names.size());
  if (!regression && classes == 0) {
    for (int64_t i = 0; i < train.size(); ++i) {
      float y = train.y[i];
      if (y < 0 || y != static_cast<float>(static_cast<int64_t>(y))) fail("Trainer (builtin): label '{}' is {}, expected a class id >= 0", label, y);
      classes = std::max(classes, static_cast<int64_t>(y) + 1);
    }
  }
  if (!regression && classes < 2) fail("Trainer (builtin): label '{}' has {} class(es); a classifier needs at least 2", label, classes);

  nn::set_random_seed(c.seed);
  nn::Model model = build_model(c, inputs, train, classes);
  if (regression) model.compile(make_optimizer(c), nn::MeanSquaredError(), {"mean_absolute_error"});
  else model.compile(make_optimizer(c), nn::SparseCategoricalCrossentropy(), {"sparse_categorical_accuracy"});
  spdlog::info("Trainer (builtin {}): {} -> {}{}{}\n{}", c.run_fn, fmt::join(c.features, ", "), c.label,
               regression ? "" : fmt::format(" ({} classes)", classes), class_names.empty() ? "" : fmt::format(": {}", fmt::join(class_names, ", ")),
               model.summary());
  nn::History history = model.fit(train.features, train.y,
                                  {.batch_size = c.batch_size,
                                   .steps_per_epoch = fn_args.train_steps,
                                   .validation_inputs = std::make_pair(eval.features, eval.y),
                                   .validation_steps = fn_args.eval_steps});
  write_json_file_atomic(fs::path(fn_args.model_run_dir) / "history.json", history.history);

  nn::SavedSignature signature{.inputs = graph.serving_inputs(inputs), .class_names = class_names};
  if (c.tflite == "none") {
    model.save(fn_args.serving_model_dir, signature);
    return;
  }
  // The ONNX model is saved, rewritten into `tflite` beside it, and kept: one Format-Serving
  // folder holds both, so Evaluators of either model_type read the same artifact.
  fs::path temp = fs::path(fn_args.serving_model_dir) / "temp";
  model.save(temp, signature);
  convert_to_tflite(c, fn_args, temp, raw_examples ? fn_args.train_files : std::vector<std::string>{}, c.features);
  fs::rename(temp / onnxio::kModelFileName, fs::path(fn_args.serving_model_dir) / onnxio::kModelFileName);
  fs::remove_all(temp);
}

}  // namespace

const std::vector<std::string>& builtin_run_fns() {
  static const std::vector<std::string> names = {kDnnClassifier, kDnnRegressor, kCnnImageClassifier};
  return names;
}

BuiltinTrainerConfig parse_builtin_trainer_config(const std::string& run_fn, const json& cc) {
  const auto& names = builtin_run_fns();
  if (std::find(names.begin(), names.end(), run_fn) == names.end()) {
    fail("run_fn '{}' is not a builtin trainer (module_file: builtin); expected one of: {}", run_fn, fmt::join(names, ", "));
  }
  BuiltinTrainerConfig c;
  c.run_fn = run_fn;
  if (!cc.is_object()) fail("custom_config must be a mapping");
  for (const auto& [k, _] : cc.items()) {
    if (!kConfigKeys.count(k)) fail("custom_config.{}: unknown field for {} (expected: {})", k, run_fn, fmt::join(kConfigKeys, ", "));
  }
  auto strings = [&](const char* key) {
    std::vector<std::string> v;
    if (!cc.contains(key) || !cc[key].is_array() || cc[key].empty()) fail("custom_config.{} must be a non-empty list of feature names", key);
    for (const auto& s : cc[key]) {
      if (!s.is_string() || s.get<std::string>().empty()) fail("custom_config.{}: {} is not a feature name", key, s.dump());
      v.push_back(s.get<std::string>());
    }
    return v;
  };
  c.features = strings("features");
  if (!cc.contains("label") || !cc["label"].is_string() || cc["label"].get<std::string>().empty()) fail("custom_config.label must name the label feature");
  c.label = cc["label"];
  if (std::find(c.features.begin(), c.features.end(), c.label) != c.features.end()) fail("custom_config.features lists the label '{}'", c.label);
  auto sizes = [&](const char* key, std::vector<int64_t>& out) {
    if (!cc.contains(key)) return;
    out.clear();
    if (!cc[key].is_array()) fail("custom_config.{} must be a list of positive integers", key);
    for (const auto& u : cc[key]) {
      if (!u.is_number_integer() || u.get<int64_t>() < 1) fail("custom_config.{}: {} is not a positive integer", key, u.dump());
      out.push_back(u.get<int64_t>());
    }
  };
  sizes("hidden_units", c.hidden_units);
  if (run_fn == kCnnImageClassifier) {
    c.hidden_units = {128};
    sizes("hidden_units", c.hidden_units);
    sizes("conv_filters", c.conv_filters);
    if (!cc.contains("image_shape")) fail("custom_config.image_shape is required for {} (e.g. [28, 28, 1]: height, width, channels)", run_fn);
    sizes("image_shape", c.image_shape);
    if (c.image_shape.size() != 3) fail("custom_config.image_shape must be [height, width, channels], got {} values", c.image_shape.size());
    if (c.features.size() != 1) fail("custom_config.features: {} takes one image feature, got {}", run_fn, c.features.size());
  } else {
    for (const char* key : {"image_shape", "conv_filters"}) {
      if (cc.contains(key)) fail("custom_config.{} applies to {} only", key, kCnnImageClassifier);
    }
  }
  auto number = [&](const char* key, double lo, double hi, double fallback) {
    if (!cc.contains(key)) return fallback;
    if (!cc[key].is_number() || cc[key].get<double>() < lo || cc[key].get<double>() > hi) {
      fail("custom_config.{} must be a number in [{}, {}], got {}", key, lo, hi, cc[key].dump());
    }
    return cc[key].get<double>();
  };
  c.dropout = static_cast<float>(number("dropout", 0, 0.95, 0));
  c.learning_rate = static_cast<float>(number("learning_rate", 1e-9, 10, c.learning_rate));
  if (cc.contains("batch_size") && (!cc["batch_size"].is_number_integer() || cc["batch_size"].get<int64_t>() < 1)) {
    fail("custom_config.batch_size must be a positive integer, got {}", cc["batch_size"].dump());
  }
  c.batch_size = cc.value("batch_size", c.batch_size);
  if (cc.contains("seed") && !cc["seed"].is_number_unsigned()) fail("custom_config.seed must be a non-negative integer, got {}", cc["seed"].dump());
  c.seed = cc.value("seed", c.seed);
  for (const char* key : {"optimizer", "tflite"}) {
    if (cc.contains(key) && !cc[key].is_string()) fail("custom_config.{} must be a string, got {}", key, cc[key].dump());
  }
  c.optimizer = cc.value("optimizer", c.optimizer);
  if (!kOptimizers.count(c.optimizer)) fail("custom_config.optimizer is '{}', expected one of: {}", c.optimizer, fmt::join(kOptimizers, ", "));
  c.tflite = cc.value("tflite", c.tflite);
  if (!kTfliteModes.count(c.tflite)) fail("custom_config.tflite is '{}', expected one of: {}", c.tflite, fmt::join(kTfliteModes, ", "));
  return c;
}

void run_builtin_trainer(const std::string& run_fn, const FnArgs& fn_args) {
  train_builtin(parse_builtin_trainer_config(run_fn, fn_args.custom_config), fn_args);
}

}  // namespace litepipe
