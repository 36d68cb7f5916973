#pragma once
// The interpreter's tensors: TensorFlow Lite's element types, and shape arithmetic that cannot
// overflow. Every shape a Tensor holds has non-negative dimensions whose product is at most
// kMaxTensorElements (TFLite's kernels index flat sizes with int); the model check enforces it for
// the shapes in the file, resize_input for callers' shapes, and OpContext::set_output_shape for
// the shapes kernels compute.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace litepipe::tfl {

// TensorFlow Lite's TensorType values.
enum class DType : int8_t { Float32 = 0, Float16 = 1, Int32 = 2, UInt8 = 3, Int64 = 4, String = 5, Bool = 6, Int16 = 7, Int8 = 9 };
const char* dtype_name(DType t);
size_t dtype_size(DType t);

inline constexpr int64_t kMaxTensorElements = std::numeric_limits<int32_t>::max();
inline constexpr size_t kMaxTensorRank = 8;

// a * b, or nullopt when either is negative or the product exceeds `limit`.
inline std::optional<int64_t> checked_mul(int64_t a, int64_t b, int64_t limit = kMaxTensorElements) {
  if (a < 0 || b < 0) return std::nullopt;
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product) || product > limit) return std::nullopt;
  return product;
}
// a + b for non-negative values, or nullopt when the sum exceeds `limit`.
inline std::optional<int64_t> checked_add(int64_t a, int64_t b, int64_t limit = kMaxTensorElements) {
  if (a < 0 || b < 0) return std::nullopt;
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum) || sum > limit) return std::nullopt;
  return sum;
}

// The number of elements of `shape`: nullopt when a dimension is negative, the rank exceeds
// kMaxTensorRank, or the product exceeds kMaxTensorElements.
template <typename Dim>
std::optional<int64_t> element_count(const std::vector<Dim>& shape) {
  if (shape.size() > kMaxTensorRank) return std::nullopt;
  int64_t n = 1;
  for (Dim d : shape) {
    auto next = checked_mul(n, static_cast<int64_t>(d));
    if (!next) return std::nullopt;
    n = *next;
  }
  return n;
}

struct Tensor {
  std::string name;
  DType type = DType::Float32;
  std::vector<int32_t> shape;
  std::vector<int32_t> shape_signature;  // -1 = dynamic
  std::vector<float> scale;              // quantization (empty: none)
  std::vector<int64_t> zero_point;
  int32_t quantized_dimension = 0;
  bool constant = false;
  uint8_t* data = nullptr;  // constant buffer, or a slot of the arena (null until planned)

  // The product of the dimensions; an Error naming the tensor if the shape breaks the invariant
  // above (which only code writing `shape` directly can do).
  int64_t elements() const;
  size_t bytes() const { return static_cast<size_t>(elements()) * dtype_size(type); }
  template <typename T>
  T* as() const { return reinterpret_cast<T*>(data); }
};

}  // namespace litepipe::tfl
