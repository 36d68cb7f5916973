#include "nn/dnnl_util.h"

#include <cstdlib>

namespace litepipe::nn {
namespace {

// oneDNN's int8 kernels for AMX tiles pay a tile configuration on every call, which the small
// products of batch-1 inference never earn back (a 1x1 int8 convolution of a 14x14x16 image: 40 us
// with AMX, 5 us with AVX-512 VNNI here); float kernels do not use AMX. So oneDNN stops at AVX-512
// VNNI unless ONEDNN_MAX_CPU_ISA says otherwise. It must be set before oneDNN generates any kernel:
// hence at load time.
const bool kIsaCapped = [] {
  if (std::getenv("ONEDNN_MAX_CPU_ISA") != nullptr) return false;
  try {
    dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx512_core_vnni);
    return true;
  } catch (const dnnl::error&) {
    return false;  // a kernel was generated already: keep oneDNN's choice
  }
}();

}  // namespace

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
