// FULLY_CONNECTED: y = x W^T + b, W [units, depth], x viewed as [rows, depth]. Three Evals:
// float32; hybrid (dynamic range: int8 weights, float activations, the input quantized per row
// at run time, as TFLite's hybrid kernel); int8 (TFLite's per-channel int8 kernel, requantized with
// ruy's single rounding). Matrix products through oneDNN.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tflite/runtime/kernels/gemm.h"
#include "tflite/runtime/kernels/kernel_util.h"
#include "tflite/runtime/kernels/kernels.h"
#include "tflite/runtime/kernels/requantizer.h"

namespace litepipe::tfl::kernels {
namespace {

using ::tflite::ActivationFunctionType;

enum class Path { Float, Hybrid, Int8 };

struct FullyConnectedData : OpData {
  // Init (options and what the types fix)
  ActivationFunctionType activation = ::tflite::ActivationFunctionType_NONE;
  bool keep_num_dims = false;
  bool asymmetric_inputs = false;  // hybrid: quantize inputs asymmetrically (else symmetric)
  Path path = Path::Float;
  std::vector<float> row_sums;  // hybrid: sum of each unit's int8 weights
  // Prepare
  int64_t rows = 0, units = 0, depth = 0;
  size_t quantized = 0, scales = 0, offsets = 0, acc = 0;  // scratch buffers
  OpContext::QuantParams x{}, y{};
  Requantizer requantize;
  Int8Primitive matmul;
};

std::unique_ptr<OpData> init(OpContext& ctx) {
  ctx.expect_counts(2, 3, 1);
  auto d = std::make_unique<FullyConnectedData>();
  const auto options = options_or_default<::tflite::FullyConnectedOptionsT>(ctx);
  d->activation = fused_activation(ctx, options.fused_activation_function);
  if (options.weights_format != ::tflite::FullyConnectedOptionsWeightsFormat_DEFAULT) {
    ctx.fail("weights_format {} is not supported (only DEFAULT)", static_cast<int>(options.weights_format));
  }
  d->keep_num_dims = options.keep_num_dims;
  d->asymmetric_inputs = options.asymmetric_quantize_inputs;
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor& y = ctx.output();
  const Tensor* b = ctx.optional_input(2);
  if (x.type == DType::Float32 && w.type == DType::Float32) {
    d->path = Path::Float;
  } else if (x.type == DType::Float32 && w.type == DType::Int8) {
    d->path = Path::Hybrid;
    if (!w.constant) ctx.fail("hybrid weights '{}' must be constant", w.name);
    if (w.scale.size() != 1 || (!w.zero_point.empty() && w.zero_point[0] != 0)) {
      ctx.fail("hybrid weights '{}' must be per-tensor symmetric int8 (1 scale, zero point 0), has {} scales", w.name, w.scale.size());
    }
    ctx.expect_rank(w, 2, "weights");
    const int64_t units = w.shape[0], depth = w.shape[1];
    d->row_sums.assign(static_cast<size_t>(units), 0.0f);
    for (int64_t r = 0; r < units; ++r) {
      int64_t sum = 0;
      for (int64_t c = 0; c < depth; ++c) sum += w.as<int8_t>()[r * depth + c];
      d->row_sums[static_cast<size_t>(r)] = static_cast<float>(sum);
    }
  } else if (x.type == DType::Int8) {
    d->path = Path::Int8;
    check_int8_filter(ctx, w, 0);
    d->x = ctx.int8_params(x, "input");
    d->y = ctx.int8_params(y, "output");
    int8_activation_range(ctx, d->activation, d->y);
    if (b) ctx.expect_type(*b, DType::Int32, "bias");
  } else {
    ctx.fail("input '{}' is {} with {} weights '{}'; expected float32 input with float32 or int8 weights, or int8 with int8", x.name,
             dtype_name(x.type), dtype_name(w.type), w.name);
  }
  if (d->path != Path::Int8) {
    ctx.expect_type(y, DType::Float32, "output");
    if (b) ctx.expect_type(*b, DType::Float32, "bias");
  }
  return d;
}

void eval_float(OpContext& ctx);
void eval_hybrid(OpContext& ctx);
void eval_int8(OpContext& ctx);

void prepare(OpContext& ctx) {
  auto& d = ctx.data<FullyConnectedData>();
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  Tensor& y = ctx.output();
  ctx.expect_rank(w, 2, "weights");
  d.units = w.shape[0];
  d.depth = w.shape[1];
  if (d.units < 1 || d.depth < 1) ctx.fail("weights '{}' have shape [{}]; expected [units >= 1, depth >= 1]", w.name, fmt::join(w.shape, ", "));
  if (x.elements() % d.depth != 0) {
    ctx.fail("input '{}' [{}] ({} values) is not a multiple of the weights' depth {} (weights '{}' [{}])", x.name, fmt::join(x.shape, ", "), x.elements(),
             d.depth, w.name, fmt::join(w.shape, ", "));
  }
  d.rows = x.elements() / d.depth;
  if (const Tensor* b = ctx.optional_input(2); b && b->elements() != d.units) {
    ctx.fail("bias '{}' has {} values; the weights '{}' have {} units", b->name, b->elements(), w.name, d.units);
  }
  if (d.keep_num_dims) {
    if (x.shape.empty() || x.shape.back() != d.depth) ctx.fail("keep_num_dims needs the input's last dimension to be the weights' depth {}", d.depth);
    std::vector<int64_t> shape(x.shape.begin(), x.shape.end());
    shape.back() = d.units;
    ctx.set_output_shape(y, shape);
  } else {
    ctx.set_output_shape(y, {d.rows, d.units});
  }
  switch (d.path) {
    case Path::Float:
      ctx.node().eval = eval_float;
      break;
    case Path::Hybrid:
      d.quantized = ctx.request_scratch(ctx.scratch_bytes(d.rows * d.depth, 1, "quantized input"));
      d.scales = ctx.request_scratch(ctx.scratch_bytes(d.rows, sizeof(float), "input scales"));
      d.offsets = ctx.request_scratch(ctx.scratch_bytes(d.rows, sizeof(int32_t), "input offsets"));
      d.acc = ctx.request_scratch(ctx.scratch_bytes(d.rows * d.units, sizeof(int32_t), "accumulators"));
      ctx.node().eval = eval_hybrid;
      break;
    case Path::Int8: {
      auto [lo, hi] = int8_activation_range(ctx, d.activation, d.y);
      d.requantize.set(channel_multipliers(ctx, w, d.units, 0, d.x, d.y), int32_bias(ctx, d.units), true, d.y.zero_point, lo, hi);
      d.acc = ctx.request_scratch(ctx.scratch_bytes(d.rows * d.units, sizeof(int32_t), "accumulators"));
      using namespace dnnl;
      memory::desc src({d.rows, d.depth}, memory::data_type::s8, memory::format_tag::ab);
      memory::desc user_weights({d.depth, d.units}, memory::data_type::s8, memory::format_tag::ba);  // TFLite's [units, depth]
      memory::desc packed({d.depth, d.units}, memory::data_type::s8, memory::format_tag::any);
      memory::desc dst({d.rows, d.units}, memory::data_type::s32, memory::format_tag::ab);
      d.matmul.plan<dnnl::matmul>(
          [&](const primitive_attr& attr) { return matmul::primitive_desc(matmul::desc(src, packed, dst), attr, nn::cpu_engine()); }, src, user_weights, dst,
          d.x.zero_point, w, d.rows * d.units * d.depth);
      ctx.node().eval = eval_int8;
      break;
    }
  }
}

void fill_bias(const FullyConnectedData& d, const Tensor* b, float* out) {
  for (int64_t r = 0; r < d.rows; ++r) {
    if (b) std::memcpy(out + r * d.units, b->as<float>(), static_cast<size_t>(d.units) * sizeof(float));
    else std::memset(out + r * d.units, 0, static_cast<size_t>(d.units) * sizeof(float));
  }
}

void eval_float(OpContext& ctx) {
  const auto& d = ctx.data<FullyConnectedData>();
  float* out = ctx.output().as<float>();
  fill_bias(d, ctx.optional_input(2), out);
  gemm_f32_nt(d.rows, d.units, d.depth, ctx.input(0).as<float>(), ctx.input(1).as<float>(), out);
  apply_activation(out, d.rows * d.units, d.activation);
}

// As TFLite computes it: output = bias + (w . q - row_sum * offset) * (input_scale * weight_scale),
// one input quantization per batch row; an all-zero input leaves the bias.
void eval_hybrid(OpContext& ctx) {
  const auto& d = ctx.data<FullyConnectedData>();
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  float* out = ctx.output().as<float>();
  fill_bias(d, ctx.optional_input(2), out);
  const float* xd = x.as<float>();
  const int64_t count = d.rows * d.depth;
  if (!std::all_of(xd, xd + count, [](float v) { return v == 0.0f; })) {
    // Quantize every row, then one int8 x int8 -> int32 GEMM (exact, so any order of summation
    // gives TFLite's dot products), then TFLite's float epilogue per element.
    auto* q = ctx.scratch<int8_t>(d.quantized);
    auto* scales = ctx.scratch<float>(d.scales);
    auto* offsets = ctx.scratch<int32_t>(d.offsets);
    auto* acc = ctx.scratch<int32_t>(d.acc);
    for (int64_t r = 0; r < d.rows; ++r) quantize_hybrid_input(xd + r * d.depth, d.depth, d.asymmetric_inputs, q + r * d.depth, &scales[r], &offsets[r]);
    gemm_s8_nt(d.rows, d.units, d.depth, q, 0, w.as<int8_t>(), acc, int64_t{1} << 23);
    for (int64_t r = 0; r < d.rows; ++r) {
      const float scale = scales[r] * w.scale[0];
      const auto batch_offset = static_cast<float>(offsets[r]);
      for (int64_t u = 0; u < d.units; ++u) {
        const int32_t dot = qmath::float_to_int32(static_cast<float>(acc[r * d.units + u]) - d.row_sums[static_cast<size_t>(u)] * batch_offset);
        out[r * d.units + u] += static_cast<float>(dot) * scale;
      }
    }
  }
  apply_activation(out, d.rows * d.units, d.activation);
}

void eval_int8(OpContext& ctx) {
  auto& d = ctx.data<FullyConnectedData>();
  const Tensor& x = ctx.input(0);
  auto* acc = ctx.scratch<int32_t>(d.acc);
  if (d.matmul.primitive) {
    d.matmul.execute(x.data, acc);
  } else {
    gemm_s8_nt(d.rows, d.units, d.depth, x.as<int8_t>(), static_cast<int8_t>(d.x.zero_point), ctx.input(1).as<int8_t>(), acc, int64_t{1} << 22);
  }
  d.requantize.run(acc, d.rows, d.units, ctx.output().as<int8_t>());
}

}  // namespace

const Kernel& fully_connected() {
  // Version 9 is the hybrid kernel with asymmetric_quantize_inputs; 8 (shuffled/sparse weights) and
  // 7 (int16 activations) are refused by the model check and Prepare's type checks.
  static const Kernel kernel{"FULLY_CONNECTED", 9, init, prepare};
  return kernel;
}

}  // namespace litepipe::tfl::kernels
