#pragma once
// The converter's graph passes over the model its lowerings built.
#include "tflite/conversion/model_builder.h"

namespace litepipe::tfl {

// A chain of scalar MUL / ADD (e.g. the Transform's scale_by_min_max on the raw input) feeding a
// FULLY_CONNECTED or CONV_2D (SAME-padded: a pure scale), possibly through RESHAPEs, folded into that op's
// weights and bias.
void fold_scalar_affine_into_linear_ops(ModelBuilder& builder);
// Dynamic range: FULLY_CONNECTED / CONV_2D weights with at least 1024 values become symmetric
// int8 for TFLite's hybrid kernels.
void quantize_weights_for_hybrid_kernels(ModelBuilder& builder);
// float16 weights: each float32 constant becomes float16 plus a DEQUANTIZE (v3) that runs first.
void store_weights_as_float16(ModelBuilder& builder);
// Tensors no operator, input or output uses are dropped (their buffers emptied), as are unused
// operator codes.
void remove_unused_tensors(ModelBuilder& builder);

}  // namespace litepipe::tfl
