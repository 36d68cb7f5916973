// Time to evaluate examples with the full (ONNX) and the TFLite model, as the MNIST pipeline's
// Evaluators do (overall + per-digit slices, accuracy threshold, predictions written).
//   bench_evaluate FULL_MODEL_URI LITE_MODEL_URI EXAMPLES_DIR [EXAMPLES_DIR ...]
// MODEL_URI: a Trainer's model artifact (holds Format-Serving/); EXAMPLES_DIR: Split-* folders of
// ExampleGen (pass both splits for all 10,000 MNIST digits).
#include <chrono>
#include <cstdio>

#include "core/files.h"
#include "core/log.h"
#include "eval/evaluate.h"

using namespace litepipe;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s FULL_MODEL_URI LITE_MODEL_URI EXAMPLES_DIR [EXAMPLES_DIR ...]\n", argv[0]);
    return 2;
  }
  init_logging(false);
  std::vector<fs::path> files;
  for (int i = 3; i < argc; ++i)
    for (const auto& f : glob_files(argv[i], "*")) files.push_back(f);
  nlohmann::json config = {{"model_specs", {{{"label_key", "image_class"}}}},
                           {"slicing_specs", {nlohmann::json::object(), {{"feature_keys", {"image_class"}}}}},
                           {"metrics_specs", {{{"metrics", {{{"class_name", "SparseCategoricalAccuracy"},
                                                             {"threshold", {{"value_threshold", {{"lower_bound", 0.8}}}}}}}}}}}};
  nlohmann::json lite_config = config;
  lite_config["model_specs"][0]["model_type"] = "tf_lite";
  fs::path out = fs::temp_directory_path() / "litepipe-bench-evaluate";
  for (int run = 0; run < 3; ++run) {
    double total = 0;
    for (bool lite : {false, true}) {
      eval::EvaluationRequest request;
      request.config = eval::parse_eval_config(lite ? lite_config : config);
      request.example_files = files;
      request.model_uri = argv[lite ? 2 : 1];
      request.output_dir = out / (lite ? "lite" : "full");
      auto start = std::chrono::steady_clock::now();
      eval::EvaluationResult result = eval::evaluate(request);
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      total += seconds;
      std::printf("run %d %-8s %6lld examples  %.3f s  accuracy %.4f\n", run, lite ? "tf_lite" : "onnx",
                  static_cast<long long>(result.example_count), seconds,
                  result.metrics["slices"][0]["metrics"]["sparse_categorical_accuracy"]["value"].get<double>());
    }
    std::printf("run %d both models %.3f s\n", run, total);
  }
  fs::remove_all(out);
  return 0;
}
