#include "nn/dnnl_util.h"

namespace litepipe::nn {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  // One stream per thread: Evaluator workers run primitives side by side.
  static thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

}  // namespace litepipe::nn
