#pragma once
// A dense float32 tensor: shape + 64-byte aligned buffer shared between copies (a handle, like a
// NumPy array view). Activations are NHWC, as Keras's channels_last.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace litepipe::nn {

using Shape = std::vector<int64_t>;

int64_t shape_size(const Shape& shape);
std::string shape_string(const Shape& shape);

// How many tensor buffers were taken from the system rather than reused from freed tensors
// (a training step in its steady state takes none).
uint64_t tensor_buffer_system_allocations();
// Gives the buffers waiting for reuse back to the system: when the sizes change (training ends,
// evaluation at another batch size starts), so the old sizes do not add to the peak memory.
void release_free_tensor_buffers();

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape, float fill = 0.0f);
  // Values left as the buffer holds them: for outputs that a kernel overwrites in full (a pass over
  // memory saved per activation).
  static Tensor uninitialized(Shape shape);
  static Tensor from(Shape shape, const std::vector<float>& values);

  const Shape& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  float& operator[](int64_t i) { return data_.get()[i]; }
  float operator[](int64_t i) const { return data_.get()[i]; }

  // Same buffer, another shape of the same size.
  Tensor reshaped(Shape shape) const;
  // Rows [begin, end) of the first dimension, copied.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  Tensor clone() const;
  void fill(float value);

 private:
  struct NoFill {};
  Tensor(Shape shape, NoFill);
  Shape shape_;
  int64_t size_ = 0;
  std::shared_ptr<float> data_;
};

}  // namespace litepipe::nn
