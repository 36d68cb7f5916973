#include "nn/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"

namespace litepipe::nn {

int64_t shape_size(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Tensor::Tensor(Shape shape, float fill_value) : shape_(std::move(shape)), size_(shape_size(shape_)) {
  for (int64_t d : shape_)
    if (d < 0) fail("tensor: negative dimension in shape {}", shape_string(shape_));
  size_t bytes = (static_cast<size_t>(std::max<int64_t>(size_, 1)) * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  data_ = std::shared_ptr<float>(static_cast<float*>(p), [](float* q) { std::free(q); });
  std::fill_n(data_.get(), size_, fill_value);
}

Tensor Tensor::from(Shape shape, const std::vector<float>& values) {
  Tensor t(std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.size()) {
    fail("tensor: {} values for shape {}", values.size(), shape_string(t.shape()));
  }
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_size(shape) != size_) fail("tensor: cannot reshape {} to {}", shape_string(shape_), shape_string(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  Shape s = shape_;
  int64_t row = s.empty() ? 1 : size_ / std::max<int64_t>(s[0], 1);
  s[0] = end - begin;
  Tensor t(s);
  std::memcpy(t.data(), data() + begin * row, static_cast<size_t>((end - begin) * row) * sizeof(float));
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(shape_);
  std::memcpy(t.data(), data(), static_cast<size_t>(size_) * sizeof(float));
  return t;
}

void Tensor::fill(float value) { std::fill_n(data(), size_, value); }

}  // namespace litepipe::nn
