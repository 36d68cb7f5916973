// Resize (opset 13), mode nearest, on 4-D [N, C, H, W] inputs: each output coordinate is mapped
// back to the input by coordinate_transformation_mode, then rounded by nearest_mode and clamped,
// as the ONNX specification defines. The scales or sizes must be constants: they are read and
// checked at load. The per-axis source indices are computed once per input shape and kept.
#include <algorithm>
#include <array>
#include <cmath>

#include "onnx/runtime/kernels/kernels.h"

namespace litepipe::onnxio::runtime::kernels {
namespace {

enum class Coordinates { HalfPixel, PytorchHalfPixel, AlignCorners, Asymmetric, TfHalfPixelForNn };
enum class Rounding { RoundPreferFloor, RoundPreferCeil, Floor, Ceil };

constexpr int64_t kMaxElements = int64_t{1} << 28;  // of the output: scales come from the file

struct ResizeData : OpData {
  Coordinates coordinates = Coordinates::HalfPixel;
  Rounding rounding = Rounding::RoundPreferFloor;
  bool by_sizes = false;
  std::array<double, 4> scales{1, 1, 1, 1};
  std::array<int64_t, 4> sizes{};
};

struct ResizeScratch : NodeScratch {
  Shape input_shape, dims;
  std::array<std::vector<int64_t>, 4> source;  // per axis: the input index of each output index
};

template <typename E, size_t N>
E named(PrepareContext& ctx, const char* attribute, const char* def, const std::array<std::pair<const char*, E>, N>& names) {
  const std::string value = ctx.attr_string(attribute, def);
  for (const auto& [name, e] : names)
    if (value == name) return e;
  std::string known;
  for (const auto& [name, e] : names) known += (known.empty() ? "'" : ", '") + std::string(name) + "'";
  ctx.fail("attribute {} is '{}'; supported: {}", attribute, value, known);
}

std::unique_ptr<OpData> prepare(PrepareContext& ctx) {
  auto d = std::make_unique<ResizeData>();
  if (const std::string mode = ctx.attr_string("mode", "nearest"); mode != "nearest") {
    ctx.fail("attribute mode is '{}'; only 'nearest' is supported", mode);
  }
  d->coordinates = named<Coordinates, 5>(ctx, "coordinate_transformation_mode", "half_pixel",
                                         {{{"half_pixel", Coordinates::HalfPixel},
                                           {"pytorch_half_pixel", Coordinates::PytorchHalfPixel},
                                           {"align_corners", Coordinates::AlignCorners},
                                           {"asymmetric", Coordinates::Asymmetric},
                                           {"tf_half_pixel_for_nn", Coordinates::TfHalfPixelForNn}}});
  d->rounding = named<Rounding, 4>(ctx, "nearest_mode", "round_prefer_floor",
                                   {{{"round_prefer_floor", Rounding::RoundPreferFloor},
                                     {"round_prefer_ceil", Rounding::RoundPreferCeil},
                                     {"floor", Rounding::Floor},
                                     {"ceil", Rounding::Ceil}}});
  auto constant = [&](size_t i, const char* name) -> const Tensor* {
    if (!ctx.has_input(i)) return nullptr;
    const Tensor* t = ctx.constant_input(i);
    if (!t) ctx.fail("{} must be a constant (an initializer)", name);
    return t->size() > 0 ? t : nullptr;  // an empty tensor stands for an absent input
  };
  const Tensor* scales = constant(2, "scales");
  const Tensor* sizes = constant(3, "sizes");
  if ((scales == nullptr) == (sizes == nullptr)) ctx.fail("expects either scales or sizes (one of them non-empty)");
  if (scales) {
    if (scales->size() != 4) ctx.fail("scales has {} values; a 4-D [N, C, H, W] input needs 4", scales->size());
    for (int64_t i = 0; i < 4; ++i) {
      const float v = (*scales)[i];
      if (!(v > 0.0f && std::isfinite(v))) ctx.fail("scale {} on axis {} is not a positive number", v, i);
      d->scales[static_cast<size_t>(i)] = v;
    }
  } else {
    d->by_sizes = true;
    if (sizes->size() != 4) ctx.fail("sizes has {} values; a 4-D [N, C, H, W] input needs 4", sizes->size());
    for (int64_t i = 0; i < 4; ++i) {
      const float v = (*sizes)[i];
      if (!(v >= 1.0f && v <= static_cast<float>(kMaxElements)) || v != std::floor(v)) ctx.fail("size {} on axis {} is not a whole number in [1, {}]", v, i, kMaxElements);
      d->sizes[static_cast<size_t>(i)] = static_cast<int64_t>(v);
    }
  }
  return d;
}

// The input coordinate of output coordinate `out` (ONNX's coordinate_transformation_mode).
double input_coordinate(Coordinates mode, double out, double scale, int64_t in_length, int64_t out_length) {
  switch (mode) {
    case Coordinates::HalfPixel: return (out + 0.5) / scale - 0.5;
    case Coordinates::PytorchHalfPixel: return out_length > 1 ? (out + 0.5) / scale - 0.5 : 0.0;
    case Coordinates::AlignCorners:
      return out_length == 1 ? 0.0 : out * static_cast<double>(in_length - 1) / static_cast<double>(out_length - 1);
    case Coordinates::Asymmetric: return out / scale;
    case Coordinates::TfHalfPixelForNn: return (out + 0.5) / scale;
  }
  return 0.0;
}

// ONNX's nearest_mode: how a coordinate between two input pixels picks one.
double nearest(Rounding mode, double x) {
  const double below = std::floor(x);
  switch (mode) {
    case Rounding::RoundPreferFloor: return x == below + 0.5 ? below : std::round(x);
    case Rounding::RoundPreferCeil: return x == below + 0.5 ? below + 1.0 : std::round(x);
    case Rounding::Floor: return below;
    case Rounding::Ceil: return std::ceil(x);
  }
  return below;
}

// Output shape and source indices for input shape `in`.
void plan(const Node& node, const ResizeData& d, ResizeScratch& s, const Shape& in) {
  s.dims.resize(4);
  int64_t elements = 1;
  for (size_t a = 0; a < 4; ++a) {
    const double out = d.by_sizes ? static_cast<double>(d.sizes[a]) : std::floor(static_cast<double>(in[a]) * d.scales[a]);
    if (!(out <= static_cast<double>(kMaxElements))) node.fail("the output has more than {} values on axis {}", kMaxElements, a);
    s.dims[a] = static_cast<int64_t>(out);
    if (__builtin_mul_overflow(elements, s.dims[a], &elements) || elements > kMaxElements) node.fail("the output has more than {} values", kMaxElements);
    if (s.dims[a] > 0 && in[a] == 0) node.fail("cannot resize the empty axis {} of {}", a, nn::shape_string(in));
    const double scale = d.by_sizes ? static_cast<double>(s.dims[a]) / static_cast<double>(in[a]) : d.scales[a];
    auto& source = s.source[a];
    source.resize(static_cast<size_t>(s.dims[a]));
    for (int64_t o = 0; o < s.dims[a]; ++o) {
      const double x = nearest(d.rounding, input_coordinate(d.coordinates, static_cast<double>(o), scale, in[a], s.dims[a]));
      source[static_cast<size_t>(o)] = static_cast<int64_t>(std::clamp(x, 0.0, static_cast<double>(in[a] - 1)));
    }
  }
  s.input_shape = in;
}

void eval(const Node& node, Frame& frame) {
  const auto& d = node.op_data<ResizeData>();
  const Tensor& x = frame.input(node, 0);
  if (x.rank() != 4) node.fail("expects a 4-D input [N, C, H, W], got {}", nn::shape_string(x.shape()));
  auto& s = frame.scratch<ResizeScratch>(node);
  if (s.input_shape != x.shape()) plan(node, d, s, x.shape());
  float* out = frame.output(node, s.dims).data();
  const float* in = x.data();
  const int64_t ic = x.dim(1), ih = x.dim(2), iw = x.dim(3);
  const auto &sn = s.source[0], &sc = s.source[1], &sh = s.source[2], &sw = s.source[3];
  for (int64_t n = 0; n < s.dims[0]; ++n)
    for (int64_t c = 0; c < s.dims[1]; ++c) {
      const float* plane = in + (sn[static_cast<size_t>(n)] * ic + sc[static_cast<size_t>(c)]) * ih * iw;
      for (int64_t h = 0; h < s.dims[2]; ++h) {
        const float* row = plane + sh[static_cast<size_t>(h)] * iw;
        for (int64_t w = 0; w < s.dims[3]; ++w) *out++ = row[sw[static_cast<size_t>(w)]];
      }
    }
}

}  // namespace

const Kernel& resize() {
  static const Kernel kernel{"Resize", 1, prepare, eval};
  return kernel;
}

}  // namespace litepipe::onnxio::runtime::kernels
