#pragma once
// TFX's model rewriting API (tfx.components.trainer.rewriting) in C++: a rewriter validates the
// original model, rewrites it, and validates the result; the TFLite rewriter converts a serving
// model (litepipe's SavedModel: a folder with model.onnx) into a `tflite` file, which carries the
// model's class names (if it has any) as TFLite Support metadata (see tflite/metadata.h).
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/tensor.h"
#include "tflite/conversion/quantizer.h"

namespace litepipe::rewriting {

enum class ModelType { ANY_MODEL = 1, SAVED_MODEL = 2, TFLITE_MODEL = 3, TFJS_MODEL = 4 };

struct ModelDescription {
  ModelType model_type;
  std::filesystem::path path;
};

class BaseRewriter {
 public:
  explicit BaseRewriter(std::string name) : name_(std::move(name)) {}
  virtual ~BaseRewriter() = default;
  const std::string& name() const { return name_; }
  // Pre-validation, rewrite, post-validation; a failure names the step and the models.
  void perform_rewrite(const ModelDescription& original, const ModelDescription& rewritten);

 protected:
  virtual void pre_rewrite_validate(const ModelDescription& original) = 0;
  virtual void rewrite(const ModelDescription& original, const ModelDescription& rewritten) = 0;
  virtual void post_rewrite_validate(const ModelDescription& rewritten) = 0;

 private:
  std::string name_;
};

inline constexpr const char* TFLITE_REWRITER = "TFLiteRewriter";

// TFX's TFLiteRewriter options and defaults.
struct TFLiteRewriterOptions {
  std::string filename = "tflite";
  bool copy_assets = true;
  bool copy_assets_extra = true;
  // tf.lite.Optimize names: {"DEFAULT"} turns quantization on; with supported type "float16"
  // the weights are stored as float16.
  std::vector<std::string> quantization_optimizations = {};
  std::vector<std::string> quantization_supported_types = {};
  // Full-integer int8 (with quantization_optimizations DEFAULT): calibrated on the batches the
  // representative dataset returns (by signature input name, raw features as the serving
  // signature takes them).
  bool quantization_enable_full_integer = false;
  std::function<std::vector<tfl::RepresentativeBatch>()> representative_dataset = {};
  // litepipe's addition: int8 model inputs and outputs instead of float32 ones around the
  // int8 graph (TFLite's inference_input_type / inference_output_type = int8).
  bool quantization_int8_input_output = false;
  // Per-tensor instead of per-channel int8 weights for FULLY_CONNECTED (TFLite's
  // _experimental_disable_per_channel_quantization_for_dense_layers), for runtimes without
  // per-channel dense kernels (TFLite Micro, ArmNN 20.08).
  bool quantization_disable_per_channel_for_dense_layers = false;
  std::string signature_key = "serving_default";
};

std::unique_ptr<BaseRewriter> create_rewriter(const std::string& rewriter_type, const std::string& name,
                                              const TFLiteRewriterOptions& options = {});

// Rewrites the SavedModel at `src` into `dst` (src == dst is an error).
void rewrite_saved_model(const std::filesystem::path& src, const std::filesystem::path& dst, BaseRewriter& rewriter,
                         ModelType rewritten_model_type = ModelType::ANY_MODEL);

}  // namespace litepipe::rewriting
