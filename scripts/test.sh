#!/usr/bin/env bash
# Command (2): install, build and run the whole test suite, twice:
#  1. the Release build (build/, what command (1) runs) under ctest;
#  2. the same suite built by clang with AddressSanitizer + UndefinedBehaviorSanitizer
#     (-fno-sanitize-recover: any report fails the test) in build-check/, which also holds the
#     libFuzzer targets (one instrumented build for both), then every fuzz target replays its
#     saved findings and runs LITEPIPE_FUZZ_SECONDS (default 10) as a smoke test.
# LITEPIPE_SANITIZERS=0 skips step 2 (e.g. a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
(cd build && ctest --output-on-failure -j"$(nproc)")

if [ "${LITEPIPE_SANITIZERS:-1}" = 0 ]; then
  echo "test: LITEPIPE_SANITIZERS=0: the sanitizer build and the fuzz smoke test are skipped"
  exit 0
fi
# Kept within the time of the first build: -O1 (ASan's recommendation) with line tables only,
# a unity build (16 sources per translation unit), no benchmarks.
CC=clang CXX=clang++ cmake -S . -B build-check -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=16 -DLITEPIPE_BUILD_FUZZERS=ON -DLITEPIPE_BUILD_BENCH=OFF >/dev/null
cmake --build build-check -j"$(nproc)"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
(cd build-check && ctest --output-on-failure -j"$(nproc)")
LITEPIPE_FUZZ_BUILD_DIR=build-check bash scripts/fuzz.sh "${LITEPIPE_FUZZ_SECONDS:-10}"
