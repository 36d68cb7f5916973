// The ONNX-op lowerings, one function per op family, and the table that maps ONNX op types to
// them. Each lowering checks what TFLite can express (layouts, attributes, constant operands) and
// fails naming the node and op otherwise.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "tflite/conversion/lowering.h"

namespace litepipe::tfl {
namespace {

// Identity and Dropout (inference): the same value under the output's name.
void identity(ConversionContext& cx, const onnx::NodeProto& n) { cx.alias(n, cx.value(n.input(0), "input")); }

void transpose(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  auto perm = cx.attr_ints(n, "perm", {});
  if (v.constant) cx.fail_node(n, "transposing a constant is not supported");
  if (v.shape.size() == 4 && !v.nchw && perm == std::vector<int64_t>{0, 3, 1, 2}) {
    v.nchw = true;  // same data; ONNX now sees it as NCHW
    return cx.alias(n, v);
  }
  if (v.shape.size() == 4 && v.nchw && perm == std::vector<int64_t>{0, 2, 3, 1}) {
    v.nchw = false;
    return cx.alias(n, v);
  }
  cx.fail_node(n, fmt::format("perm [{}] is not an NHWC/NCHW layout change", fmt::join(perm, ", ")));
}

void fully_connected(ConversionContext& cx, const onnx::NodeProto& n) {
  Value& a = cx.value(n.input(0), "input");
  Value& b = cx.value(n.input(1), "input");
  if (a.constant || !b.constant) cx.fail_node(n, "expects a computed input times constant weights");
  if (a.shape.size() != 2 || a.nchw) cx.fail_node(n, fmt::format("input must be 2-D, got rank {}", a.shape.size()));
  const Constant& w = *b.constant;
  if (w.dims.size() != 2) cx.fail_node(n, "weights must be 2-D");
  bool gemm = n.op_type() == "Gemm";
  if (gemm && cx.attr_i(n, "transA", 0)) cx.fail_node(n, "transA=1 is not supported");
  bool trans_b = gemm && cx.attr_i(n, "transB", 0);
  float alpha = gemm ? cx.attr_f(n, "alpha", 1.0f) : 1.0f, beta = gemm ? cx.attr_f(n, "beta", 1.0f) : 1.0f;
  int64_t units = trans_b ? w.dims[0] : w.dims[1], depth = trans_b ? w.dims[1] : w.dims[0];
  if (a.shape[1] != depth) cx.fail_node(n, fmt::format("input depth {} differs from the weights' {}", a.shape[1], depth));
  std::vector<float> weights(static_cast<size_t>(units * depth));  // [units, depth]
  for (int64_t o = 0; o < units; ++o)
    for (int64_t i = 0; i < depth; ++i)
      weights[static_cast<size_t>(o * depth + i)] = alpha * (trans_b ? w.values[static_cast<size_t>(o * depth + i)] : w.values[static_cast<size_t>(i * units + o)]);
  std::vector<int32_t> inputs = {a.tensor, cx.builder.add_const_float(n.output(0) + "/weights", weights, {units, depth}), -1};
  if (gemm && n.input_size() > 2 && !n.input(2).empty()) {
    Value& c = cx.value(n.input(2), "bias");
    if (!c.constant) cx.fail_node(n, "bias must be constant");
    std::vector<float> bias(static_cast<size_t>(units));
    for (int64_t o = 0; o < units; ++o) bias[static_cast<size_t>(o)] = beta * c.constant->values[c.constant->values.size() == 1 ? 0 : static_cast<size_t>(o)];
    inputs[2] = cx.builder.add_const_float(n.output(0) + "/bias", bias, {units});
  }
  int out = cx.new_output(n, {a.shape[0], units});
  ::tflite::FullyConnectedOptionsT o;
  cx.add_op(::tflite::BuiltinOperator_FULLY_CONNECTED, 1, inputs, {out}, ModelBuilder::options(o));
}

void unary(ConversionContext& cx, const onnx::NodeProto& n, ::tflite::BuiltinOperator op) {
  Value v = cx.value(n.input(0), "input");
  if (v.constant) cx.fail_node(n, "applied to a constant");
  int out = cx.new_output(n, v.shape, v.nchw);
  cx.add_op(op, 1, {v.tensor}, {out});
}

::tflite::ActivationFunctionType activation_type(ConversionContext& cx, const onnx::NodeProto& n) {
  if (n.op_type() == "Relu") return ::tflite::ActivationFunctionType_RELU;
  if (n.op_type() == "Tanh") return ::tflite::ActivationFunctionType_TANH;
  float lo = -INFINITY, hi = INFINITY;
  if (n.input_size() > 1 && !n.input(1).empty()) lo = cx.value(n.input(1), "min").constant->values.at(0);
  if (n.input_size() > 2 && !n.input(2).empty()) hi = cx.value(n.input(2), "max").constant->values.at(0);
  if (lo == 0.0f && hi == 6.0f) return ::tflite::ActivationFunctionType_RELU6;
  if (lo == 0.0f && std::isinf(hi)) return ::tflite::ActivationFunctionType_RELU;
  if (lo == -1.0f && hi == 1.0f) return ::tflite::ActivationFunctionType_RELU_N1_TO_1;
  cx.fail_node(n, fmt::format("Clip({}, {}) has no TFLite equivalent", lo, hi));
}

void activation(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  auto act = activation_type(cx, n);
  if (v.constant) cx.fail_node(n, "activation of a constant");
  if (auto* slot = cx.fusable_activation(v.tensor, n.input(0))) {
    *slot = act;
    return cx.alias(n, v);
  }
  ::tflite::BuiltinOperator op = act == ::tflite::ActivationFunctionType_RELU ? ::tflite::BuiltinOperator_RELU
                                 : act == ::tflite::ActivationFunctionType_RELU6 ? ::tflite::BuiltinOperator_RELU6
                                 : act == ::tflite::ActivationFunctionType_TANH ? ::tflite::BuiltinOperator_TANH
                                                                               : ::tflite::BuiltinOperator_RELU;
  if (act == ::tflite::ActivationFunctionType_RELU_N1_TO_1) cx.fail_node(n, "a standalone Clip(-1, 1) is not supported");
  unary(cx, n, op);
}


void softmax(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  int64_t axis = cx.attr_i(n, "axis", -1);
  if (axis < 0) axis += static_cast<int64_t>(v.shape.size());
  if (v.nchw || axis != static_cast<int64_t>(v.shape.size()) - 1) cx.fail_node(n, "softmax must be over the last (channel) axis");
  int out = cx.new_output(n, v.shape);
  ::tflite::SoftmaxOptionsT o;
  o.beta = 1.0f;
  cx.add_op(::tflite::BuiltinOperator_SOFTMAX, 1, {v.tensor}, {out}, ModelBuilder::options(o));
}

void conv(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  Value& wv = cx.value(n.input(1), "weights");
  if (!v.nchw || v.shape.size() != 4) cx.fail_node(n, "input must be a 4-D NCHW activation");
  if (!wv.constant) cx.fail_node(n, "weights must be constant");
  const Constant& w = *wv.constant;
  int64_t oc = w.dims[0], icg = w.dims[1], kh = w.dims[2], kw = w.dims[3], ic = v.shape[3];
  int64_t group = cx.attr_i(n, "group", 1);
  auto strides = cx.attr_ints(n, "strides", {1, 1}), dil = cx.attr_ints(n, "dilations", {1, 1}), pads = cx.attr_ints(n, "pads", {0, 0, 0, 0});
  auto padding = cx.padding_of(n, v.shape, {kh, kw}, strides, dil, pads);
  std::vector<float> bias;
  if (n.input_size() > 2 && !n.input(2).empty()) bias = cx.value(n.input(2), "bias").constant->values;
  int64_t oh = padding == ::tflite::Padding_SAME ? (v.shape[1] + strides[0] - 1) / strides[0] : (v.shape[1] - (kh - 1) * dil[0] - 1) / strides[0] + 1;
  int64_t ow = padding == ::tflite::Padding_SAME ? (v.shape[2] + strides[1] - 1) / strides[1] : (v.shape[2] - (kw - 1) * dil[1] - 1) / strides[1] + 1;
  // TFLite's DEPTHWISE_CONV_2D reads a third input whenever the op lists one: a bias-less depthwise
  // convolution gets zeros, as TFLite's converter gives it.
  if (bias.empty() && group != 1) bias.assign(static_cast<size_t>(oc), 0.0f);
  int bias_tensor = bias.empty() ? -1 : cx.builder.add_const_float(n.output(0) + "/bias", bias, {oc});
  if (group == 1) {
    if (icg != ic) cx.fail_node(n, fmt::format("weights expect {} input channels, input has {}", icg, ic));
    std::vector<float> ohwi(w.values.size());
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t i = 0; i < ic; ++i)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x)
            ohwi[static_cast<size_t>(((o * kh + y) * kw + x) * ic + i)] = w.values[static_cast<size_t>(((o * ic + i) * kh + y) * kw + x)];
    int filter = cx.builder.add_const_float(n.output(0) + "/filter", ohwi, {oc, kh, kw, ic});
    int out = cx.new_output(n, {v.shape[0], oh, ow, oc}, true);
    ::tflite::Conv2DOptionsT o;
    o.padding = padding;
    o.stride_h = static_cast<int32_t>(strides[0]);
    o.stride_w = static_cast<int32_t>(strides[1]);
    o.dilation_h_factor = static_cast<int32_t>(dil[0]);
    o.dilation_w_factor = static_cast<int32_t>(dil[1]);
    cx.add_op(::tflite::BuiltinOperator_CONV_2D, 1, {v.tensor, filter, bias_tensor}, {out}, ModelBuilder::options(o));
  } else if (group == ic && icg == 1) {
    std::vector<float> filter(static_cast<size_t>(kh * kw * oc));  // [1, kh, kw, oc]
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t x = 0; x < kw; ++x) filter[static_cast<size_t>((y * kw + x) * oc + o)] = w.values[static_cast<size_t>((o * kh + y) * kw + x)];
    int f = cx.builder.add_const_float(n.output(0) + "/filter", filter, {1, kh, kw, oc});
    int out = cx.new_output(n, {v.shape[0], oh, ow, oc}, true);
    ::tflite::DepthwiseConv2DOptionsT o;
    o.padding = padding;
    o.stride_h = static_cast<int32_t>(strides[0]);
    o.stride_w = static_cast<int32_t>(strides[1]);
    o.depth_multiplier = static_cast<int32_t>(oc / ic);
    o.dilation_h_factor = static_cast<int32_t>(dil[0]);
    o.dilation_w_factor = static_cast<int32_t>(dil[1]);
    cx.add_op(::tflite::BuiltinOperator_DEPTHWISE_CONV_2D, dil[0] > 1 || dil[1] > 1 ? 2 : 1, {v.tensor, f, bias_tensor}, {out}, ModelBuilder::options(o));
  } else {
    cx.fail_node(n, fmt::format("group={} is neither a plain nor a depthwise convolution", group));
  }
}

void pool(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  if (!v.nchw || v.shape.size() != 4) cx.fail_node(n, "input must be a 4-D NCHW activation");
  auto kernel = cx.attr_ints(n, "kernel_shape", {}), strides = cx.attr_ints(n, "strides", {1, 1}), pads = cx.attr_ints(n, "pads", {0, 0, 0, 0});
  if (cx.attr_i(n, "ceil_mode", 0)) cx.fail_node(n, "ceil_mode=1 is not supported");
  bool max = n.op_type() == "MaxPool";
  auto padding = cx.padding_of(n, v.shape, kernel, strides, {1, 1}, pads);
  if (!max && padding == ::tflite::Padding_SAME && cx.attr_i(n, "count_include_pad", 0)) cx.fail_node(n, "count_include_pad=1 differs from TFLite's average pool");
  int64_t oh = padding == ::tflite::Padding_SAME ? (v.shape[1] + strides[0] - 1) / strides[0] : (v.shape[1] - kernel[0]) / strides[0] + 1;
  int64_t ow = padding == ::tflite::Padding_SAME ? (v.shape[2] + strides[1] - 1) / strides[1] : (v.shape[2] - kernel[1]) / strides[1] + 1;
  int out = cx.new_output(n, {v.shape[0], oh, ow, v.shape[3]}, true);
  ::tflite::Pool2DOptionsT o;
  o.padding = padding;
  o.stride_h = static_cast<int32_t>(strides[0]);
  o.stride_w = static_cast<int32_t>(strides[1]);
  o.filter_height = static_cast<int32_t>(kernel[0]);
  o.filter_width = static_cast<int32_t>(kernel[1]);
  cx.add_op(max ? ::tflite::BuiltinOperator_MAX_POOL_2D : ::tflite::BuiltinOperator_AVERAGE_POOL_2D, 1, {v.tensor}, {out}, ModelBuilder::options(o));
}

// A global pooling of an NCHW activation -> `op` (MEAN or REDUCE_MAX) over height and width,
// keeping them so that the ONNX [N, C, 1, 1] view holds.
void global_pool(ConversionContext& cx, const onnx::NodeProto& n, ::tflite::BuiltinOperator op) {
  Value v = cx.value(n.input(0), "input");
  if (!v.nchw || v.shape.size() != 4) cx.fail_node(n, "input must be a 4-D NCHW activation");
  int axes = cx.builder.add_const_int32(n.output(0) + "/axes", {1, 2});
  int out = cx.new_output(n, {v.shape[0], 1, 1, v.shape[3]}, true);
  ::tflite::ReducerOptionsT o;
  o.keep_dims = true;
  cx.add_op(op, 1, {v.tensor, axes}, {out}, ModelBuilder::options(o));
}

void global_average_pool(ConversionContext& cx, const onnx::NodeProto& n) { global_pool(cx, n, ::tflite::BuiltinOperator_MEAN); }

// GlobalMaxPool -> REDUCE_MAX; the Flatten that follows (GlobalMaxPooling2D's export) then drops
// the kept axes in the op instead (see reshape).
void global_max_pool(ConversionContext& cx, const onnx::NodeProto& n) { global_pool(cx, n, ::tflite::BuiltinOperator_REDUCE_MAX); }

// A Flatten (axis 1) that is the only reader of a kept-dims REDUCE_MAX [N, 1, 1, C]: the op drops
// the axes itself, giving one REDUCE_MAX with keep_dims false, as TFLite's converter writes Keras's
// GlobalMaxPooling2D.
bool flatten_into_reduce_max(ConversionContext& cx, const onnx::NodeProto& n, const Value& v) {
  if (n.op_type() != "Flatten" || cx.attr_i(n, "axis", 1) != 1 || v.tensor < 0 || v.shape.size() != 4 || v.shape[1] != 1 || v.shape[2] != 1) return false;
  if (cx.consumers[n.input(0)] != 1 || cx.graph_outputs.count(n.input(0))) return false;
  auto it = cx.producer.find(v.tensor);
  if (it == cx.producer.end()) return false;
  auto& op = *cx.builder.graph().operators[it->second];
  auto* o = op.builtin_options.AsReducerOptions();
  if (cx.builder.builtin(op) != ::tflite::BuiltinOperator_REDUCE_MAX || !o || !o->keep_dims) return false;
  o->keep_dims = false;
  auto& t = *cx.builder.graph().tensors[static_cast<size_t>(v.tensor)];
  t.shape = {t.shape[0], t.shape[3]};
  if (!t.shape_signature.empty()) t.shape_signature = {t.shape_signature[0], t.shape_signature[3]};
  Value flat;
  flat.tensor = v.tensor;
  flat.shape = {v.shape[0], v.shape[3]};
  cx.alias(n, flat);
  return true;
}

// Pad (mode constant, value 0, constant pads) -> PAD with int32 paddings [rank, 2] in TFLite's
// axis order: ZeroPadding2D. Other values would need PADV2; the batch axis is not padded.
void pad(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  if (v.constant) cx.fail_node(n, "padding a constant is not supported");
  if (auto* mode = cx.attr(n, "mode"); mode && mode->s() != "constant") cx.fail_node(n, fmt::format("mode '{}' is not supported (only constant)", mode->s()));
  if (n.input_size() < 2 || n.input(1).empty()) cx.fail_node(n, "expects the pads as its second input (opset 11 and later)");
  Value& p = cx.value(n.input(1), "pads");
  if (!p.constant) cx.fail_node(n, "pads must be constant");
  if (n.input_size() > 2 && !n.input(2).empty()) {
    Value& c = cx.value(n.input(2), "constant_value");
    if (!c.constant || c.constant->values.size() != 1 || c.constant->values[0] != 0.0f) {
      cx.fail_node(n, "constant_value must be a constant 0 (TFLite's PAD pads with zeros)");
    }
  }
  const size_t rank = v.shape.size();
  const std::vector<float>& pads = p.constant->values;
  if (pads.size() != 2 * rank) cx.fail_node(n, fmt::format("pads has {} values; a rank-{} input needs {}", pads.size(), rank, 2 * rank));
  // The ONNX axis of each TFLite axis: an NCHW view is stored NHWC.
  std::vector<size_t> onnx_axis(rank);
  for (size_t d = 0; d < rank; ++d) onnx_axis[d] = v.nchw ? std::vector<size_t>{0, 2, 3, 1}[d] : d;
  std::vector<int32_t> paddings;
  Shape shape = v.shape;
  for (size_t d = 0; d < rank; ++d) {
    const float before = pads[onnx_axis[d]], after = pads[rank + onnx_axis[d]];
    if (!(before >= 0 && after >= 0 && before < 65536 && after < 65536) || before != std::floor(before) || after != std::floor(after)) {
      cx.fail_node(n, fmt::format("pads on axis {} are {} and {}; expected whole numbers in [0, 65536) (cropping is not supported)", onnx_axis[d], before, after));
    }
    if (d == 0 && (before != 0 || after != 0)) cx.fail_node(n, "padding the batch axis is not supported");
    paddings.push_back(static_cast<int32_t>(before));
    paddings.push_back(static_cast<int32_t>(after));
    if (d > 0) shape[d] += static_cast<int64_t>(before) + static_cast<int64_t>(after);
  }
  std::vector<uint8_t> bytes(paddings.size() * 4);
  std::memcpy(bytes.data(), paddings.data(), bytes.size());
  int paddings_tensor = cx.builder.add_tensor(n.output(0) + "/paddings", {static_cast<int64_t>(rank), 2}, ::tflite::TensorType_INT32, &bytes);
  int out = cx.new_output(n, shape, v.nchw);
  // op_version.cc: float PAD is version 1, version 4 beyond 4 dimensions.
  cx.add_op(::tflite::BuiltinOperator_PAD, rank > 4 ? 4 : 1, {v.tensor, paddings_tensor}, {out}, ModelBuilder::options(::tflite::PadOptionsT{}));
}

// Resize (mode nearest, constant whole-number scales on an NCHW image: UpSampling2D) ->
// RESIZE_NEAREST_NEIGHBOR to a constant size. With whole-number scales the asymmetric/floor and
// TF half-pixel conventions pick the same pixels; the flags say which convention the file asked for.
void resize(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  if (!v.nchw || v.shape.size() != 4) cx.fail_node(n, "input must be a 4-D NCHW activation");
  auto text = [&](const char* name, const char* def) { const auto* a = cx.attr(n, name); return a ? a->s() : std::string(def); };
  if (text("mode", "nearest") != "nearest") cx.fail_node(n, fmt::format("mode '{}' is not supported (only nearest)", text("mode", "nearest")));
  const std::string transform = text("coordinate_transformation_mode", "half_pixel"), rounding = text("nearest_mode", "round_prefer_floor");
  if (rounding != "floor" || (transform != "asymmetric" && transform != "tf_half_pixel_for_nn")) {
    cx.fail_node(n, fmt::format("coordinate_transformation_mode '{}' with nearest_mode '{}' has no TFLite equivalent "
                                "(asymmetric or tf_half_pixel_for_nn, with floor)", transform, rounding));
  }
  if (n.input_size() < 3 || n.input(2).empty() || (n.input_size() > 3 && !n.input(3).empty())) cx.fail_node(n, "expects constant scales (not sizes)");
  Value& s = cx.value(n.input(2), "scales");
  if (!s.constant || s.constant->values.size() != 4) cx.fail_node(n, "scales must be 4 constant values");
  const std::vector<float>& scales = s.constant->values;
  if (scales[0] != 1.0f || scales[1] != 1.0f) cx.fail_node(n, "only the height and width may be scaled");
  Shape shape = v.shape;
  std::vector<int32_t> size;
  for (int axis = 0; axis < 2; ++axis) {
    const float f = scales[static_cast<size_t>(2 + axis)];
    if (!(f >= 1.0f && f <= 4096.0f) || f != std::floor(f)) cx.fail_node(n, fmt::format("scale {} is not a whole number in [1, 4096]", f));
    shape[static_cast<size_t>(1 + axis)] *= static_cast<int64_t>(f);
    size.push_back(static_cast<int32_t>(shape[static_cast<size_t>(1 + axis)]));
  }
  int size_tensor = cx.builder.add_const_int32(n.output(0) + "/size", size);
  int out = cx.new_output(n, shape, true);
  ::tflite::ResizeNearestNeighborOptionsT o;
  o.half_pixel_centers = transform == "tf_half_pixel_for_nn";
  // op_version.cc: half_pixel_centers is version 3.
  cx.add_op(::tflite::BuiltinOperator_RESIZE_NEAREST_NEIGHBOR, o.half_pixel_centers ? 3 : 1, {v.tensor, size_tensor}, {out}, ModelBuilder::options(o));
}

void reshape(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  if (v.constant) cx.fail_node(n, "reshaping a constant is not supported");
  if (flatten_into_reduce_max(cx, n, v)) return;
  int64_t total = 1;
  for (size_t d = 1; d < v.shape.size(); ++d) total *= v.shape[d];
  if (v.nchw && v.shape[1] * v.shape[2] != 1) cx.fail_node(n, "flattening an NCHW activation would reorder values (transpose to NHWC first)");
  Shape target;
  if (n.op_type() == "Flatten") {
    if (cx.attr_i(n, "axis", 1) != 1) cx.fail_node(n, "only axis=1 is supported");
    target = {v.shape[0], total};
  } else {
    Value& s = cx.value(n.input(1), "shape");
    if (!s.constant) cx.fail_node(n, "shape must be constant");
    int64_t known = 1, unknown = -1;
    for (size_t i = 0; i < s.constant->values.size(); ++i) {
      auto d = static_cast<int64_t>(s.constant->values[i]);
      if (i == 0) { target.push_back(v.shape[0]); continue; }  // the batch
      if (d == 0) d = v.shape[i];
      if (d == -1) unknown = static_cast<int64_t>(i);
      else known *= d;
      target.push_back(d);
    }
    if (unknown > 0) target[static_cast<size_t>(unknown)] = total / std::max<int64_t>(known, 1);
  }
  std::vector<int32_t> shape_values;
  for (int64_t d : target) shape_values.push_back(static_cast<int32_t>(d));
  int shape_tensor = cx.builder.add_const_int32(n.output(0) + "/shape", shape_values);
  int out = cx.new_output(n, target);
  ::tflite::ReshapeOptionsT o;
  o.new_shape = shape_values;
  cx.add_op(::tflite::BuiltinOperator_RESHAPE, 1, {v.tensor, shape_tensor}, {out}, ModelBuilder::options(o));
}

void batch_norm(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  auto c = [&](int i) { return cx.value(n.input(i), "batch norm parameter").constant->values; };
  std::vector<float> gamma = c(1), beta = c(2), mean = c(3), var = c(4);
  float eps = cx.attr_f(n, "epsilon", 1e-5f);
  std::vector<float> scale(gamma.size()), shift(gamma.size());
  for (size_t i = 0; i < gamma.size(); ++i) {
    scale[i] = gamma[i] / std::sqrt(var[i] + eps);
    shift[i] = beta[i] - mean[i] * scale[i];
  }
  // Fold into the conv / fully connected op that produced the input.
  auto it = cx.producer.find(v.tensor);
  if (it != cx.producer.end() && cx.consumers[n.input(0)] == 1 && !cx.graph_outputs.count(n.input(0))) {
    auto& op = cx.builder.graph().operators[it->second];
    auto builtin = cx.builder.model().operator_codes[op->opcode_index]->builtin_code;
    bool conv = builtin == ::tflite::BuiltinOperator_CONV_2D, fc = builtin == ::tflite::BuiltinOperator_FULLY_CONNECTED,
         dw = builtin == ::tflite::BuiltinOperator_DEPTHWISE_CONV_2D;
    if ((conv || fc || dw) && cx.fusable_activation(v.tensor, n.input(0))) {
      auto& filter = cx.builder.graph().tensors[static_cast<size_t>(op->inputs[1])];
      auto& data = cx.builder.model().buffers[filter->buffer]->data;
      auto* w = reinterpret_cast<float*>(data.data());
      size_t count = data.size() / 4, channels = scale.size();
      for (size_t i = 0; i < count; ++i) w[i] *= scale[dw ? i % channels : i / (count / channels)];
      std::vector<float> bias(channels, 0.0f);
      if (op->inputs[2] >= 0) {
        auto& b = cx.builder.model().buffers[cx.builder.graph().tensors[static_cast<size_t>(op->inputs[2])]->buffer]->data;
        std::memcpy(bias.data(), b.data(), b.size());
      }
      for (size_t i = 0; i < channels; ++i) bias[i] = bias[i] * scale[i] + shift[i];
      op->inputs[2] = cx.builder.add_const_float(n.output(0) + "/folded_bias", bias, {static_cast<int64_t>(channels)});
      return cx.alias(n, v);
    }
  }
  int64_t channels = static_cast<int64_t>(scale.size());
  int s = cx.builder.add_const_float(n.output(0) + "/scale", scale, {channels});
  int b = cx.builder.add_const_float(n.output(0) + "/shift", shift, {channels});
  Value scaled;
  scaled.shape = v.shape;
  scaled.nchw = v.nchw;
  scaled.tensor = cx.builder.add_tensor(n.output(0) + "/scaled", v.shape, ::tflite::TensorType_FLOAT32);
  ::tflite::MulOptionsT mo;
  cx.add_op(::tflite::BuiltinOperator_MUL, 1, {v.tensor, s}, {scaled.tensor}, ModelBuilder::options(mo));
  int out = cx.new_output(n, v.shape, v.nchw);
  ::tflite::AddOptionsT ao;
  cx.add_op(::tflite::BuiltinOperator_ADD, 1, {scaled.tensor, b}, {out}, ModelBuilder::options(ao));
}

// x * HardSigmoid(x) with Keras's hard_swish constants -> HARD_SWISH.
bool hard_swish(ConversionContext& cx, const onnx::NodeProto& n) {
  if (n.op_type() != "Mul" || n.input_size() != 2) return false;
  for (int gate = 0; gate < 2; ++gate) {
    auto it = cx.hard_sigmoid_of.find(n.input(gate));
    if (it == cx.hard_sigmoid_of.end() || it->second != n.input(1 - gate)) continue;
    Value v = cx.value(it->second, "input");
    int out = cx.new_output(n, v.shape, v.nchw);
    cx.add_op(::tflite::BuiltinOperator_HARD_SWISH, 1, {v.tensor}, {out});
    return true;
  }
  return false;
}

void hard_sigmoid(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  const float alpha = cx.attr_f(n, "alpha", 0.2f), beta = cx.attr_f(n, "beta", 0.5f);
  if (v.constant || std::abs(alpha - 1.0f / 6.0f) > 1e-7f || beta != 0.5f || cx.consumers[n.output(0)] != 1 || cx.graph_outputs.count(n.output(0))) {
    cx.fail_node(n, "HardSigmoid is supported as hard_swish: x * HardSigmoid(x, alpha=1/6, beta=0.5), read by that Mul only");
  }
  cx.hard_sigmoid_of[n.output(0)] = n.input(0);
}

// Sqrt is lowered with the Div that reads it: TFLite has no int8 DIV, and x * RSQRT(v) is how
// TensorFlow's converter writes a normalization (tf.nn.batch_normalization, LayerNormalization).
void square_root(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  if (v.constant || cx.consumers[n.output(0)] != 1 || cx.graph_outputs.count(n.output(0))) {
    cx.fail_node(n, "Sqrt is supported as a divisor of a computed tensor: x / Sqrt(v), read by that Div only (TFLite MUL by RSQRT)");
  }
  cx.sqrt_of[n.output(0)] = n.input(0);
}

// Div(x, Sqrt(v)) -> RSQRT(v), MUL(x, that).
bool divide_by_sqrt(ConversionContext& cx, const onnx::NodeProto& n) {
  if (n.op_type() != "Div" || n.input_size() != 2) return false;
  auto it = cx.sqrt_of.find(n.input(1));
  if (it == cx.sqrt_of.end()) return false;
  Value x = cx.value(n.input(0), "input");
  Value v = cx.value(it->second, "input");
  if (x.constant || x.nchw != v.nchw) cx.fail_node(n, "expects a computed dividend in the layout of the Sqrt's input");
  const int inverse = cx.builder.add_tensor(n.output(0) + "/rsqrt", v.shape, ::tflite::TensorType_FLOAT32);
  cx.add_op(::tflite::BuiltinOperator_RSQRT, 1, {v.tensor}, {inverse});
  int out = cx.new_output(n, cx.broadcast(n, x.shape, v.shape), x.nchw);
  cx.add_op(::tflite::BuiltinOperator_MUL, 1, {x.tensor, inverse}, {out}, ModelBuilder::options(::tflite::MulOptionsT{}));
  return true;
}

void binary(ConversionContext& cx, const onnx::NodeProto& n) {
  if (hard_swish(cx, n) || divide_by_sqrt(cx, n)) return;
  Value& a = cx.value(n.input(0), "input");
  Value& b = cx.value(n.input(1), "input");
  const std::string& op = n.op_type();
  auto apply = [&](float x, float y) { return op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : x / y; };
  if (a.constant && b.constant) {  // constant folding (scalars and equal shapes)
    const Constant &x = *a.constant, &y = *b.constant;
    Constant r = x.values.size() >= y.values.size() ? x : y;
    for (size_t i = 0; i < r.values.size(); ++i) {
      r.values[i] = apply(x.values[x.values.size() == 1 ? 0 : i], y.values[y.values.size() == 1 ? 0 : i]);
    }
    Value v;
    v.constant = r;
    return cx.alias(n, v);
  }
  ::tflite::BuiltinOperator code = op == "Add" ? ::tflite::BuiltinOperator_ADD : op == "Sub" ? ::tflite::BuiltinOperator_SUB
                                   : op == "Mul" ? ::tflite::BuiltinOperator_MUL : ::tflite::BuiltinOperator_DIV;
  const Value& computed = a.constant ? b : a;
  int ta = a.constant ? cx.constant_operand(n, a, b) : a.tensor;
  int tb = b.constant ? cx.constant_operand(n, b, a) : b.tensor;
  if (!a.constant && !b.constant && a.nchw != b.nchw) cx.fail_node(n, "operands have different layouts");
  // The output has the broadcast shape of both operands (numpy rules; a dynamic batch stays -1).
  Shape shape = computed.shape;
  if (!computed.nchw) {
    const Shape& sa = a.constant ? a.constant->dims : a.shape;
    const Shape& sb = b.constant ? b.constant->dims : b.shape;
    shape.assign(std::max(sa.size(), sb.size()), 1);
    for (size_t i = 0; i < shape.size(); ++i) {
      int64_t da = i < sa.size() ? sa[sa.size() - 1 - i] : 1, db = i < sb.size() ? sb[sb.size() - 1 - i] : 1;
      if (da != db && da != 1 && db != 1 && da >= 0 && db >= 0) cx.fail_node(n, fmt::format("shapes do not broadcast ({} and {})", da, db));
      shape[shape.size() - 1 - i] = da == 1 ? db : db == 1 ? da : std::min(da, db);
    }
  }
  int out = cx.new_output(n, shape, computed.nchw);
  ::tflite::BuiltinOptionsUnion u;
  if (code == ::tflite::BuiltinOperator_ADD) u = ModelBuilder::options(::tflite::AddOptionsT{});
  else if (code == ::tflite::BuiltinOperator_SUB) u = ModelBuilder::options(::tflite::SubOptionsT{});
  else if (code == ::tflite::BuiltinOperator_MUL) u = ModelBuilder::options(::tflite::MulOptionsT{});
  else u = ModelBuilder::options(::tflite::DivOptionsT{});
  cx.add_op(code, 1, {ta, tb}, {out}, std::move(u));
}

// IsNaN(x) -> NOT_EQUAL(x, x): NaN is the only value unequal to itself.
void is_nan(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  if (v.constant) cx.fail_node(n, "applied to a constant");
  int out = cx.new_output(n, v.shape, v.nchw, ::tflite::TensorType_BOOL);
  cx.add_op(::tflite::BuiltinOperator_NOT_EQUAL, 1, {v.tensor, v.tensor}, {out}, ModelBuilder::options(::tflite::NotEqualOptionsT{}));
}

// Where(c, a, b) -> SELECT_V2(c, a, b), which broadcasts all three as ONNX does (SELECT needs
// equal shapes); constant operands become float32 tensors.
void where(ConversionContext& cx, const onnx::NodeProto& n) {
  if (n.input_size() != 3) cx.fail_node(n, fmt::format("expects 3 inputs, got {}", n.input_size()));
  Value& c = cx.value(n.input(0), "condition");
  Value& a = cx.value(n.input(1), "input");
  Value& b = cx.value(n.input(2), "input");
  if (!c.boolean) cx.fail_node(n, "the condition must be a computed boolean tensor (e.g. IsNaN's output)");
  for (const Value* v : {&a, &b}) {
    if (!v->constant && v->nchw != c.nchw) cx.fail_node(n, "operands have different layouts");
  }
  int ta = a.constant ? cx.constant_operand(n, a, c) : a.tensor;
  int tb = b.constant ? cx.constant_operand(n, b, c) : b.tensor;
  auto shape_of = [&](const Value& v, int t) {
    return v.constant ? Shape(cx.builder.graph().tensors[static_cast<size_t>(t)]->shape.begin(), cx.builder.graph().tensors[static_cast<size_t>(t)]->shape.end()) : v.shape;
  };
  Shape shape = cx.broadcast(n, cx.broadcast(n, c.shape, shape_of(a, ta)), shape_of(b, tb));
  int out = cx.new_output(n, shape, c.nchw);
  cx.add_op(::tflite::BuiltinOperator_SELECT_V2, 1, {c.tensor, ta, tb}, {out}, ModelBuilder::options(::tflite::SelectV2OptionsT{}));
}

void concat(ConversionContext& cx, const onnx::NodeProto& n) {
  std::vector<int32_t> inputs;
  Value first = cx.value(n.input(0), "input");
  int64_t axis = cx.attr_i(n, "axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(first.shape.size());
  int64_t tfl_axis = first.nchw ? std::vector<int64_t>{0, 3, 1, 2}[static_cast<size_t>(axis)] : axis;
  Shape shape = first.shape;
  shape[static_cast<size_t>(tfl_axis)] = 0;
  for (const auto& name : n.input()) {
    Value& v = cx.value(name, "input");
    if (v.constant || v.nchw != first.nchw) cx.fail_node(n, "inputs must be computed tensors of one layout");
    inputs.push_back(v.tensor);
    shape[static_cast<size_t>(tfl_axis)] += v.shape[static_cast<size_t>(tfl_axis)];
  }
  int out = cx.new_output(n, shape, first.nchw);
  ::tflite::ConcatenationOptionsT o;
  o.axis = static_cast<int32_t>(tfl_axis);
  cx.add_op(::tflite::BuiltinOperator_CONCATENATION, 1, inputs, {out}, ModelBuilder::options(o));
}

// Cast of a computed float tensor to an integer type -> CAST to int32 (TFLite's index type): how
// an Embedding's float ids become GATHER's indices.
void cast(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  const int64_t to = cx.attr_i(n, "to", 0);
  if (v.constant || v.boolean || v.int32) cx.fail_node(n, "only a computed float32 tensor can be cast");
  if (to != onnx::TensorProto::INT64 && to != onnx::TensorProto::INT32) {
    cx.fail_node(n, fmt::format("cast to ONNX type {} is not supported (only to INT32 / INT64 indices)", to));
  }
  int out = cx.new_output(n, v.shape, v.nchw, ::tflite::TensorType_INT32);
  cx.values[n.output(0)].int32 = true;
  ::tflite::CastOptionsT o;
  o.in_data_type = ::tflite::TensorType_FLOAT32;
  o.out_data_type = ::tflite::TensorType_INT32;
  cx.add_op(::tflite::BuiltinOperator_CAST, 1, {v.tensor}, {out}, ModelBuilder::options(o));
}

// Gather(constant table, computed int32 ids) along axis 0 -> GATHER: an Embedding's lookup.
void gather(ConversionContext& cx, const onnx::NodeProto& n) {
  Value& table = cx.value(n.input(0), "data");
  Value ids = cx.value(n.input(1), "indices");
  if (!table.constant || ids.constant || !ids.int32) cx.fail_node(n, "expects a constant table and computed integer indices (a Cast's output)");
  if (cx.attr_i(n, "axis", 0) != 0) cx.fail_node(n, "only axis 0 is supported");
  if (table.constant->dims.empty()) cx.fail_node(n, "the table must have rank >= 1");
  Shape shape = ids.shape;
  shape.insert(shape.end(), table.constant->dims.begin() + 1, table.constant->dims.end());
  int params = cx.tensor_of(table, n.output(0) + "/table");
  int out = cx.new_output(n, shape);
  cx.add_op(::tflite::BuiltinOperator_GATHER, 1, {params, ids.tensor}, {out}, ModelBuilder::options(::tflite::GatherOptionsT{}));
}

// ReduceMean / ReduceMax over constant axes (the attribute, opset < 18) of a non-NCHW tensor ->
// MEAN / REDUCE_MAX (e.g. GlobalAveragePooling1D's mean, GlobalMaxPooling1D's maximum over the steps).
void reduce(ConversionContext& cx, const onnx::NodeProto& n) {
  Value v = cx.value(n.input(0), "input");
  if (v.constant || v.nchw) cx.fail_node(n, "expects a computed tensor that is not an NCHW activation (use GlobalAveragePool / GlobalMaxPool)");
  const auto rank = static_cast<int64_t>(v.shape.size());
  std::vector<int64_t> axes = cx.attr_ints(n, "axes", {});
  if (axes.empty()) cx.fail_node(n, "axes must be given (reducing every axis is not supported)");
  std::vector<bool> reduce(static_cast<size_t>(rank), false);
  for (int64_t& a : axes) {
    if (a < 0) a += rank;
    if (a <= 0 || a >= rank) cx.fail_node(n, fmt::format("axis {} is out of range or the batch axis", a));
    reduce[static_cast<size_t>(a)] = true;
  }
  const bool keep = cx.attr_i(n, "keepdims", 1) != 0;
  Shape shape;
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduce[static_cast<size_t>(d)]) shape.push_back(v.shape[static_cast<size_t>(d)]);
    else if (keep) shape.push_back(1);
  }
  std::vector<int32_t> axis_values(axes.begin(), axes.end());
  int axes_tensor = cx.builder.add_const_int32(n.output(0) + "/axes", axis_values);
  int out = cx.new_output(n, shape);
  ::tflite::ReducerOptionsT o;
  o.keep_dims = keep;
  cx.add_op(n.op_type() == "ReduceMax" ? ::tflite::BuiltinOperator_REDUCE_MAX : ::tflite::BuiltinOperator_MEAN, 1, {v.tensor, axes_tensor}, {out},
            ModelBuilder::options(o));
}

void sigmoid(ConversionContext& cx, const onnx::NodeProto& n) { unary(cx, n, ::tflite::BuiltinOperator_LOGISTIC); }

}  // namespace

Lowering find_lowering(const std::string& op_type) {
  static const std::pair<const char*, Lowering> table[] = {
      {"Identity", identity},   {"Dropout", identity},          {"IsNaN", is_nan},
      {"Cast", cast},           {"Gather", gather},             {"ReduceMean", reduce},          {"ReduceMax", reduce},
      {"HardSigmoid", hard_sigmoid}, {"Sqrt", square_root},
      {"Where", where},         {"Transpose", transpose},       {"Gemm", fully_connected},
      {"MatMul", fully_connected}, {"Relu", activation},        {"Clip", activation},
      {"Tanh", activation},     {"Sigmoid", sigmoid},           {"Softmax", softmax},
      {"Conv", conv},           {"MaxPool", pool},              {"AveragePool", pool},
      {"GlobalAveragePool", global_average_pool}, {"GlobalMaxPool", global_max_pool}, {"Pad", pad}, {"Resize", resize},
      {"Flatten", reshape}, {"Reshape", reshape},
      {"BatchNormalization", batch_norm}, {"Add", binary},     {"Sub", binary},
      {"Mul", binary},          {"Div", binary},                {"Concat", concat},
  };
  for (const auto& [name, lowering] : table)
    if (op_type == name) return lowering;
  return nullptr;
}

}  // namespace litepipe::tfl
