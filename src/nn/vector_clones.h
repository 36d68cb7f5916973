#pragma once
// LITEPIPE_VECTOR_CLONES: a hot loop of litepipe's own (max pooling, optimizer updates) compiled for
// AVX-512 and AVX2 besides baseline x86-64, the widest the processor runs picked when the library
// loads (GCC's function multi-versioning); the library still runs on any x86-64. Each clone gives
// the same results: the loops are element-wise, and -ffp-contract=off (src/CMakeLists.txt) keeps
// a * b + c unfused.
// Not under the sanitizers, whose start-up the clones' load-time resolvers would run ahead of.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_UNDEFINED__)
#define LITEPIPE_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LITEPIPE_VECTOR_CLONES
#endif
