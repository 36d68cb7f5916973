#pragma once
// An ONNX graph resolved for running (what OnnxRunner executes), structured as litepipe's TFLite
// interpreter:
// - load: initializers read with their sizes checked before anything is allocated; every value
//   gets a slot; each node's kernel is resolved once (op_resolver.cpp) and prepared (attributes
//   parsed into its OpData and checked, constant inputs precomputed); every node input must be
//   computed by an earlier node, so the graph is acyclic;
// - run: each node's eval in order, over a Frame of slots. Frames are kept between calls (one per
//   concurrent caller), so intermediate buffers, oneDNN memory handles and primitives are reused
//   without a lock while kernels run; buffers that leave a call (graph outputs, and what they are
//   views of) are new on every call.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "onnx/runtime/kernel.h"

namespace litepipe::onnxio::runtime {

class Graph {
 public:
  Graph(const onnx::ModelProto& model, const std::string& origin);
  ~Graph();

  const std::vector<std::string>& input_names() const { return input_names_; }
  const std::vector<std::string>& output_names() const { return output_names_; }
  // Thread-safe: each call runs on a Frame of its own.
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& feeds) const;

 private:
  std::unique_ptr<Frame> acquire_frame() const;
  void release_frame(std::unique_ptr<Frame> frame) const;

  std::string origin_;
  std::vector<std::string> input_names_, output_names_;
  std::vector<int> input_slots_, output_slots_;
  std::vector<Node> nodes_;
  std::vector<Tensor> initial_values_;  // per slot: the initializers, empty elsewhere
  std::vector<char> reusable_;          // per slot: its buffer never leaves a call
  mutable std::mutex frames_mutex_;     // guards idle_frames_ only
  mutable std::vector<std::unique_ptr<Frame>> idle_frames_;
};

// The kernel for an ONNX op type of the default domain, or nullptr.
const Kernel* find_kernel(const std::string& op_type);

// An initializer as a float tensor (int64 shape constants become exact floats); its size is
// checked against its data before anything is allocated.
Tensor tensor_from_proto(const onnx::TensorProto& t, const std::string& origin);

}  // namespace litepipe::onnxio::runtime
