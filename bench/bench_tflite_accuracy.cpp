// Accuracy and size of TFLite variants of a serving model on an eval split, against its ONNX model.
//   bench_tflite_accuracy SERVING_DIR EVAL_EXAMPLES_DIR [VARIANT_DIR ...]
// SERVING_DIR holds model.onnx; each VARIANT_DIR holds a `tflite` file (see `litepipe tflite convert`).
#include <algorithm>
#include <cstdio>

#include "core/files.h"
#include "core/log.h"
#include "nn/dataset.h"
#include "nn/model.h"
#include "onnx/onnx_model.h"
#include "tflite/interpreter.h"

using namespace litepipe;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s SERVING_DIR EVAL_EXAMPLES_DIR [VARIANT_DIR ...]\n", argv[0]);
    return 2;
  }
  init_logging(false);
  std::vector<std::string> files;
  for (const auto& f : glob_files(argv[2], "*")) files.push_back(f.string());
  nn::Dataset eval = nn::load_examples(files, "image_floats", "image_class");
  fs::path onnx_path = fs::path(argv[1]) / onnxio::kModelFileName;
  nn::Tensor full = onnxio::OnnxRunner(onnx_path).run({{"image_floats", eval.x}}).begin()->second;
  std::printf("%-40s accuracy %.4f  size %8zu B\n", onnx_path.string().c_str(), nn::sparse_categorical_accuracy(full, eval.y),
              static_cast<size_t>(fs::file_size(onnx_path)));
  for (int i = 3; i < argc; ++i) {
    fs::path lite = fs::path(argv[i]) / "tflite";
    auto interpreter = tfl::Interpreter::from_file(lite);
    tfl::SignatureRunner runner(*interpreter, "serving_default");
    nn::Tensor y = runner.run({{"image_floats", eval.x}}).begin()->second;
    int64_t agree = 0, n = eval.x.dim(0), c = y.size() / n;
    for (int64_t r = 0; r < n; ++r) {
      const float* a = y.data() + r * c;
      const float* b = full.data() + r * c;
      agree += (std::max_element(a, a + c) - a) == (std::max_element(b, b + c) - b);
    }
    std::printf("%-40s accuracy %.4f  top-1 agreement with ONNX %.4f  size %8zu B\n", lite.string().c_str(),
                nn::sparse_categorical_accuracy(y, eval.y), static_cast<double>(agree) / static_cast<double>(n),
                static_cast<size_t>(fs::file_size(lite)));
  }
  return 0;
}
