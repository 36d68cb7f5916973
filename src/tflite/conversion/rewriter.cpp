#include "tflite/conversion/rewriter.h"

#include <chrono>
#include <cstring>
#include <cmath>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/files.h"
#include "onnx/onnx_model.h"
#include "tflite/conversion/converter.h"
#include "tflite/runtime/interpreter.h"

namespace litepipe::rewriting {

namespace fs = std::filesystem;

void BaseRewriter::perform_rewrite(const ModelDescription& original, const ModelDescription& rewritten) {
  try {
    pre_rewrite_validate(original);
  } catch (const std::exception& e) {
    fail("{} failed to perform pre-rewrite validation. Original model: {}. Error: {}", name_, original.path.string(), e.what());
  }
  try {
    rewrite(original, rewritten);
  } catch (const std::exception& e) {
    fail("{} failed to rewrite model. Original model: {}. Error: {}", name_, original.path.string(), e.what());
  }
  try {
    post_rewrite_validate(rewritten);
  } catch (const std::exception& e) {
    fail("{} failed to validate rewritten model. Rewritten model: {}. Error: {}", name_, rewritten.path.string(), e.what());
  }
}

namespace {

void copy_tree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

class TFLiteRewriter final : public BaseRewriter {
 public:
  TFLiteRewriter(std::string name, TFLiteRewriterOptions options) : BaseRewriter(std::move(name)), options_(std::move(options)) {
    for (const auto& o : options_.quantization_optimizations) {
      if (o != "DEFAULT" && o != "OPTIMIZE_FOR_SIZE" && o != "OPTIMIZE_FOR_LATENCY") fail("TFLiteRewriter: unknown quantization_optimizations entry '{}'", o);
    }
    for (const auto& t : options_.quantization_supported_types) {
      if (t != "float16") fail("TFLiteRewriter: quantization_supported_types entry '{}' (expected float16)", t);
    }
    if (options_.quantization_enable_full_integer && !options_.representative_dataset) {
      fail("TFLiteRewriter: quantization_enable_full_integer requires a representative_dataset");
    }
    bool quantize = !options_.quantization_optimizations.empty();
    float16_ = quantize && !options_.quantization_supported_types.empty();
    full_integer_ = quantize && options_.quantization_enable_full_integer;
    dynamic_range_ = quantize && !float16_ && !full_integer_;
    if (options_.quantization_enable_full_integer && !quantize) {
      fail("TFLiteRewriter: quantization_enable_full_integer needs quantization_optimizations (e.g. DEFAULT)");
    }
    if (float16_ && full_integer_) fail("TFLiteRewriter: choose float16 or full-integer quantization, not both");
    if (options_.quantization_int8_input_output && !full_integer_) {
      fail("TFLiteRewriter: quantization_int8_input_output needs quantization_enable_full_integer");
    }
  }

 protected:
  void pre_rewrite_validate(const ModelDescription& original) override {
    if (original.model_type != ModelType::SAVED_MODEL) fail("TFLiteRewriter can only convert SavedModels.");
    fs::path model = original.path / onnxio::kModelFileName;
    if (!fs::exists(model)) fail("{} holds no {} (not a litepipe serving model)", original.path.string(), onnxio::kModelFileName);
    onnxio::check_model(onnxio::load_model(model), model.string());
  }

  void rewrite(const ModelDescription& original, const ModelDescription& rewritten) override {
    if (rewritten.model_type != ModelType::TFLITE_MODEL && rewritten.model_type != ModelType::ANY_MODEL) {
      fail("TFLiteRewriter can only convert to the TFLite format.");
    }
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    fs::path tmp = rewritten.path / fmt::format("tmp-rewrite-{}", seconds);
    if (fs::exists(tmp)) fail("{} already exists", tmp.string());
    fs::create_directories(tmp);
    struct Cleanup {
      fs::path dir;
      ~Cleanup() {
        std::error_code ec;
        fs::remove_all(dir, ec);
      }
    } cleanup{tmp};
    // A copy of the source without its assets, as TFX does.
    for (const auto& entry : fs::directory_iterator(original.path)) {
      std::string name = entry.path().filename().string();
      if (name == "assets" || name == "assets.extra") continue;
      // The destination may lie inside the source: never copy it into itself.
      auto rel = fs::weakly_canonical(rewritten.path).lexically_relative(fs::weakly_canonical(entry.path()));
      if (!rel.empty() && *rel.begin() != "..") continue;
      if (entry.is_directory()) copy_tree(entry.path(), tmp / name);
      else fs::copy_file(entry.path(), tmp / name);
    }
    tfl::ConverterOptions convert{.signature_key = options_.signature_key, .float16_weights = float16_, .dynamic_range_weights = dynamic_range_,
                                  .full_integer = full_integer_, .int8_input_output = options_.quantization_int8_input_output,
                                  .per_channel_fully_connected = !options_.quantization_disable_per_channel_for_dense_layers};
    if (full_integer_) {
      convert.representative_dataset = options_.representative_dataset();
      if (!convert.representative_dataset.empty()) {
        for (const auto& [name, batch] : convert.representative_dataset.front()) {
          std::vector<int64_t> shape = batch.shape();
          shape[0] = 1;
          nn::Tensor first(shape);
          std::copy(batch.data(), batch.data() + first.size(), first.data());
          calibration_sample_[name] = first;
        }
      }
    }
    std::string tflite = tfl::convert_onnx_to_tflite(onnxio::load_model(tmp / onnxio::kModelFileName), convert,
                                                     (original.path / onnxio::kModelFileName).string());
    write_file_atomic(rewritten.path / options_.filename, tflite);
    source_ = original.path / onnxio::kModelFileName;
    if (options_.copy_assets && fs::exists(original.path / "assets")) copy_tree(original.path / "assets", rewritten.path / "assets");
    if (options_.copy_assets_extra && fs::exists(original.path / "assets.extra")) copy_tree(original.path / "assets.extra", rewritten.path / "assets.extra");
  }

  // Loads the new model in litepipe's interpreter, runs one input through its signature, and
  // compares with the source.
  void post_rewrite_validate(const ModelDescription& rewritten) override {
    auto interpreter = tfl::Interpreter::from_file(rewritten.path / options_.filename);
    tfl::SignatureRunner runner(*interpreter, options_.signature_key);
    onnxio::OnnxRunner onnx(source_);
    std::map<std::string, nn::Tensor> feeds;
    std::mt19937 rng(7);
    for (const auto& [name, index] : runner.signature().inputs) {
      std::vector<int64_t> shape(interpreter->tensor(index).shape_signature.begin(), interpreter->tensor(index).shape_signature.end());
      shape[0] = 1;
      nn::Tensor x(shape);
      // A representative input when there is one (quantized models are calibrated to it).
      if (full_integer_ && !calibration_sample_.empty() && calibration_sample_.count(name)) {
        const nn::Tensor& sample = calibration_sample_.at(name);
        std::copy(sample.data(), sample.data() + x.size(), x.data());
      } else {
        std::uniform_real_distribution<float> d(0.0f, 1.0f);
        for (int64_t k = 0; k < x.size(); ++k) x[k] = d(rng);
      }
      feeds[name] = x;
    }
    auto outputs = runner.run(feeds);
    auto expected = onnx.run(feeds);
    for (const auto& [name, e] : expected) {
      auto it = outputs.find(name);
      if (it == outputs.end()) fail("the rewritten model has no output '{}'", name);
      if (it->second.size() != e.size()) fail("output '{}' has {} values, the source model {}", name, it->second.size(), e.size());
      for (int64_t k = 0; k < e.size(); ++k) {
        float v = it->second[k];
        // Quantized weights move outputs (float16 ~1e-3, int8 more); float32 must agree to ~1e-4.
        float tolerance = dynamic_range_ || full_integer_ ? 1e-1f : float16_ ? 2e-2f : 1e-4f;
        if (!std::isfinite(v) || std::abs(v - e[k]) > tolerance) fail("output '{}'[{}] is {}, the source model gives {}", name, k, v, e[k]);
      }
    }
  }

 private:
  TFLiteRewriterOptions options_;
  bool float16_ = false;
  bool dynamic_range_ = false;
  bool full_integer_ = false;
  std::map<std::string, nn::Tensor> calibration_sample_;  // first example of the representative dataset
  fs::path source_;
};

}  // namespace

std::unique_ptr<BaseRewriter> create_rewriter(const std::string& rewriter_type, const std::string& name, const TFLiteRewriterOptions& options) {
  if (rewriter_type == TFLITE_REWRITER) return std::make_unique<TFLiteRewriter>(name, options);
  fail("Failed to find rewriter: {}", rewriter_type);
}

void rewrite_saved_model(const fs::path& src, const fs::path& dst, BaseRewriter& rewriter, ModelType rewritten_model_type) {
  if (fs::weakly_canonical(src) == fs::weakly_canonical(dst)) fail("Source path and destination path cannot match.");
  fs::create_directories(dst);
  rewriter.perform_rewrite({ModelType::SAVED_MODEL, src}, {rewritten_model_type, dst});
}

}  // namespace litepipe::rewriting
