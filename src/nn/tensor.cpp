#include "nn/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "core/error.h"

namespace litepipe::nn {
namespace {

// Tensor buffers are recycled: a training step allocates the same activation and gradient sizes
// as the step before, and memory fresh from the system costs a page fault per 4 KiB on first
// touch. A freed buffer waits in the free list for the next tensor that fits it: one of its size
// if there is one, else the smallest at most kMaxSlack times larger (an inference batch's later,
// smaller activations then reuse the earlier ones' buffers instead of adding to the peak). The
// list holds at most kMaxFreeBytes, beyond which buffers go back to the system.
class BufferPool {
 public:
  struct Buffer {
    float* data;
    size_t capacity;  // bytes
  };
  Buffer get(size_t bytes) {
    {
      std::lock_guard lock(mutex_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first / kMaxSlack <= bytes) {
        Buffer b{static_cast<float*>(it->second.back()), it->first};
        it->second.pop_back();
        if (it->second.empty()) free_.erase(it);
        free_bytes_ -= b.capacity;
        return b;
      }
      ++system_allocations_;
    }
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    return {static_cast<float*>(p), bytes};
  }
  void put(const Buffer& b) {
    {
      std::lock_guard lock(mutex_);
      if (free_bytes_ + b.capacity <= kMaxFreeBytes) {
        free_[b.capacity].push_back(b.data);
        free_bytes_ += b.capacity;
        return;
      }
    }
    std::free(b.data);
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
  static constexpr size_t kMaxSlack = 4;
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;  // by capacity, for the smallest that fits
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
  BufferPool::Buffer buffer = buffer_pool().get(bytes);
  data_ = std::shared_ptr<float>(buffer.data, [buffer](float*) { buffer_pool().put(buffer); });
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
