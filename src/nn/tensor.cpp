#include "nn/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

#include "core/error.h"

namespace litepipe::nn {
namespace {

// Tensor buffers are recycled: a training step allocates the same activation and gradient sizes
// as the step before, and memory fresh from the system costs a page fault per 4 KiB on first
// touch. A freed buffer waits in a free list of its size for the next tensor of that size; the
// lists hold at most kMaxFreeBytes, beyond which buffers go back to the system.
class BufferPool {
 public:
  float* get(size_t bytes) {
    {
      std::lock_guard lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        free_bytes_ -= bytes;
        return static_cast<float*>(p);
      }
      ++system_allocations_;
    }
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return static_cast<float*>(p);
  }
  void put(void* p, size_t bytes) {
    {
      std::lock_guard lock(mutex_);
      if (free_bytes_ + bytes <= kMaxFreeBytes) {
        free_[bytes].push_back(p);
        free_bytes_ += bytes;
        return;
      }
    }
    std::free(p);
  }
  uint64_t system_allocations() {
    std::lock_guard lock(mutex_);
    return system_allocations_;
  }
  void release() {
    std::lock_guard lock(mutex_);
    for (auto& [bytes, buffers] : free_)
      for (void* p : buffers) std::free(p);
    free_.clear();
    free_bytes_ = 0;
  }

 private:
  static constexpr size_t kMaxFreeBytes = size_t{256} << 20;
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t free_bytes_ = 0;
  uint64_t system_allocations_ = 0;
};

// Never destroyed: tensors held by other static objects may be freed after it would have been.
BufferPool& buffer_pool() {
  static BufferPool* pool = new BufferPool;
  return *pool;
}

}  // namespace

uint64_t tensor_buffer_system_allocations() { return buffer_pool().system_allocations(); }
void release_free_tensor_buffers() { buffer_pool().release(); }

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

Tensor::Tensor(Shape shape, float fill_value) : Tensor(std::move(shape), NoFill{}) { std::fill_n(data_.get(), size_, fill_value); }

Tensor Tensor::uninitialized(Shape shape) { return Tensor(std::move(shape), NoFill{}); }

Tensor::Tensor(Shape shape, NoFill) : shape_(std::move(shape)), size_(shape_size(shape_)) {
  for (int64_t d : shape_)
    if (d < 0) fail("tensor: negative dimension in shape {}", shape_string(shape_));
  size_t bytes = (static_cast<size_t>(std::max<int64_t>(size_, 1)) * sizeof(float) + 63) / 64 * 64;
  data_ = std::shared_ptr<float>(buffer_pool().get(bytes), [bytes](float* q) { buffer_pool().put(q, bytes); });
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
