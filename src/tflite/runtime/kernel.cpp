#include "tflite/runtime/kernel.h"

namespace litepipe::tfl {

void OpContext::expect_counts(size_t min_inputs, size_t max_inputs, size_t outputs) const {
  const size_t n = node_.inputs.size();
  if (n < min_inputs || n > max_inputs) {
    if (min_inputs == max_inputs) fail("has {} inputs, expected {}", n, min_inputs);
    fail("has {} inputs, expected {} to {}", n, min_inputs, max_inputs);
  }
  if (node_.outputs.size() != outputs) fail("has {} outputs, expected {}", node_.outputs.size(), outputs);
}

void OpContext::expect_type(const Tensor& t, DType want, const char* role) const {
  if (t.type != want) fail("{} '{}' is {}, expected {}", role, t.name, dtype_name(t.type), dtype_name(want));
}

void OpContext::expect_rank(const Tensor& t, size_t rank, const char* role) const {
  if (t.shape.size() != rank) fail("{} '{}' has rank {} ([{}]), expected {}", role, t.name, t.shape.size(), fmt::join(t.shape, ", "), rank);
}

OpContext::QuantParams OpContext::int8_params(const Tensor& t, const char* role) const {
  expect_type(t, DType::Int8, role);
  if (t.scale.size() != 1) fail("{} '{}' must be quantized per tensor (1 scale), has {} scales", role, t.name, t.scale.size());
  // The model check made the scale finite and positive and the zero point an int8 value.
  return {t.scale[0], static_cast<int32_t>(t.zero_point.empty() ? 0 : t.zero_point[0])};
}

void OpContext::set_output_shape(Tensor& t, const std::vector<int64_t>& dims) const {
  if (dims.size() > kMaxTensorRank) fail("output '{}' would have rank {}; at most {}", t.name, dims.size(), kMaxTensorRank);
  int64_t count = 1;
  for (int64_t d : dims) {
    auto next = checked_mul(count, d);
    if (!next) fail("output '{}' would have shape [{}]: a negative dimension or more than {} elements", t.name, fmt::join(dims, ", "), kMaxTensorElements);
    count = *next;
  }
  t.shape.assign(dims.begin(), dims.end());
}

size_t OpContext::request_scratch(size_t bytes) const {
  node_.scratch_bytes.push_back(bytes);
  return node_.scratch_bytes.size() - 1;
}

size_t OpContext::scratch_bytes(int64_t count, size_t element_size, const char* what) const {
  auto bytes = checked_mul(count, static_cast<int64_t>(element_size), std::numeric_limits<int64_t>::max() / 4);
  if (!bytes) fail("its {} would need {} values of {} bytes", what, count, element_size);
  return static_cast<size_t>(*bytes);
}

}  // namespace litepipe::tfl
