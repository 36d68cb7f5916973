#pragma once
// Full-integer (int8) post-training quantization of a float32 TFLite model, as TFLite's converter
// does it with a representative dataset: the float model runs on the representative inputs to
// record each activation's range; activations become asymmetric int8, conv / fully connected
// weights symmetric per-channel int8, biases int32 (scale = input scale x weight scale), softmax
// outputs scale 1/256 and zero point -128.
#include <map>
#include <string>
#include <vector>

#include "nn/tensor.h"

namespace litepipe::tfl {

// One batch of representative inputs, by signature input name (e.g. "image_floats").
using RepresentativeBatch = std::map<std::string, nn::Tensor>;

struct FullIntegerOptions {
  std::string signature_key = "serving_default";
  // false: float32 inputs/outputs around the int8 graph (QUANTIZE first, DEQUANTIZE last), as
  // TFLite's default inference_input_type / inference_output_type; true: int8 inputs and outputs.
  bool int8_input_output = false;
  // Fully connected weights per output channel (true) or per tensor (TFLite's default for dense layers).
  bool per_channel_fully_connected = true;
};

// Min / max of every float activation tensor (by tensor index) over the representative batches.
struct ActivationRanges {
  std::map<int, std::pair<float, float>> by_tensor;
};
ActivationRanges calibrate(const std::string& float_model, const std::vector<RepresentativeBatch>& batches,
                           const std::string& signature_key, const std::string& origin);

// The full-integer model. Ops without an int8 kernel, or tensors the dataset never reached, are
// errors naming the operator / tensor.
std::string quantize_full_integer(const std::string& float_model, const std::vector<RepresentativeBatch>& batches,
                                  const FullIntegerOptions& options, const std::string& origin);

}  // namespace litepipe::tfl
