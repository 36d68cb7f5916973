#!/usr/bin/env bash
# Builds litepipe's libFuzzer targets (fuzz/: clang, libFuzzer, ASan + UBSan) in build-fuzz/ and
# runs each one for SECONDS (default 10: CI's smoke test) on a copy of its seed corpus
# fuzz/corpus/<target>/ with its dictionary fuzz/<target>.dict, after replaying every input saved
# under fuzz/regressions/<target>/ (the findings so far; each must no longer crash).
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#   bash scripts/fuzz.sh 600 tflite onnx        # a longer run of two targets
#
# Targets: tflite onnx tfrecord idx csv example eval_config pipeline_yaml (default: all).
# Exits non-zero on any finding (crash, sanitizer report, uncaught exception, leak, timeout, out of
# memory); the input is kept as build-fuzz/findings/<target>/crash-* (or timeout-*, oom-*, leak-*):
# reproduce with build-fuzz/fuzz/<target>_fuzzer <file>, then copy it into
# fuzz/regressions/<target>/ so that every later run replays it.
# Environment: LITEPIPE_FUZZ_BUILD_DIR (default build-fuzz), LITEPIPE_FUZZ_JOBS (build jobs,
# default nproc), LITEPIPE_FUZZ_ARGS (more libFuzzer flags, e.g. "-jobs=2 -workers=2").
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(tflite onnx tfrecord idx csv example eval_config pipeline_yaml)
seconds=${1:-10}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${ALL_TARGETS[@]}")
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: $0 [SECONDS] [TARGET...]   (targets: ${ALL_TARGETS[*]})" >&2
  exit 2
fi
for t in "${targets[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t' (targets: ${ALL_TARGETS[*]})" >&2; exit 2; }
done
command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (bash scripts/install.sh installs clang and libclang-rt-14-dev)" >&2; exit 2; }

build=${LITEPIPE_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${LITEPIPE_FUZZ_JOBS:-$(nproc)}
echo "fuzz: building ${targets[*]} in $build (clang, libFuzzer, ASan + UBSan)"
# A build directory already configured for fuzzing (the test script's sanitizer build, which also
# holds the test suite) is used as it is; otherwise one is configured with the fuzzers only.
if ! grep -qs '^LITEPIPE_BUILD_FUZZERS:BOOL=ON' "$build/CMakeCache.txt"; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLITEPIPE_BUILD_FUZZERS=ON \
    -DLITEPIPE_BUILD_TESTS=OFF -DLITEPIPE_BUILD_BENCH=OFF >/dev/null
fi
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "${t}_fuzzer"); done
nice cmake --build "$build" -j"$jobs" "${build_targets[@]}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/litepipe-fuzz.XXXXXX")
# The targets write each input to a scratch file for the APIs that take a path: in memory where
# /dev/shm is, removed at exit with the corpus copies.
scratch=$(mktemp -d /dev/shm/litepipe-fuzz.XXXXXX 2>/dev/null || { mkdir -p "$tmp/scratch" && echo "$tmp/scratch"; })
trap 'rm -rf "$tmp" "$scratch"' EXIT
export LITEPIPE_FUZZ_TMPDIR="$scratch"
export OMP_NUM_THREADS=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}abort_on_error=1:detect_leaks=1:symbolize=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}print_stacktrace=1:halt_on_error=1"

failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/${t}_fuzzer"
  findings="$build/findings/$t"
  mkdir -p "$findings"
  # 1. Replay the saved findings: each runs once and must not crash any more.
  regressions=()
  if [ -d "fuzz/regressions/$t" ]; then
    while IFS= read -r -d '' f; do regressions+=("$f"); done < <(find "fuzz/regressions/$t" -type f ! -name '*.md' -print0 | sort -z)
  fi
  if [ ${#regressions[@]} -gt 0 ]; then
    echo "fuzz: $t: replaying ${#regressions[@]} regression input(s) from fuzz/regressions/$t"
    still=0
    for f in "${regressions[@]}"; do
      # (in a subshell, so that bash's "Aborted" notice goes to the log too)
      if ! (nice "$bin" -timeout=25 -rss_limit_mb=2048 "$f") >"$tmp/$t.regression.log" 2>&1; then
        # The first line that says what went wrong, then the stack's frames in litepipe.
        why=$(grep -m1 -E 'runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|what\(\)' "$tmp/$t.regression.log" || true)
        echo "fuzz: $t: still fails: $f"
        echo "    ${why:-exit status != 0}"
        grep -E '^ +#[0-9]+ 0x[0-9a-f]+ in .* /.*/(src|fuzz)/' "$tmp/$t.regression.log" | head -n 4 | sed -E 's/^ +/      /' || true
        still=$((still + 1))
      fi
    done
    if [ "$still" -gt 0 ]; then
      failed+=("$t ($still regression input(s))")
      summary+=("$(printf '%-14s %d of %d regression inputs still fail' "$t" "$still" "${#regressions[@]}")")
      continue
    fi
  fi
  # 2. Fuzz for $seconds on a copy of the seed corpus (new inputs stay out of the repository).
  corpus="$tmp/corpus-$t"
  mkdir -p "$corpus"
  cp -r "fuzz/corpus/$t/." "$corpus/" 2>/dev/null || true
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "fuzz: $t: ${seconds}s on fuzz/corpus/$t ($(find "fuzz/corpus/$t" -type f | wc -l) seeds)"
  # shellcheck disable=SC2086  # LITEPIPE_FUZZ_ARGS is a list of flags
  if (nice "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$findings/" "${dict[@]}" ${LITEPIPE_FUZZ_ARGS:-} "$corpus") >"$tmp/$t.log" 2>&1; then
    status=ok
  else
    status=FINDING
    failed+=("$t")
    echo "fuzz: $t: FINDING (input under $findings/):"
    grep -v '^#[0-9]' "$tmp/$t.log" | tail -n 80
  fi
  # Figures: libFuzzer's last status line (coverage) and its final stats (speed).
  last=$(grep -E '^#[0-9]+' "$tmp/$t.log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$tmp/$t.log" | tail -n 1)
  speed=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$tmp/$t.log" | tail -n 1)
  summary+=("$(printf '%-14s %-8s runs %-9s exec/s %-7s cov %-6s ft %s' "$t" "$status" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}")")
done

echo "fuzz: summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]} (new inputs under $build/findings/<target>/)" >&2
  exit 1
fi
echo "fuzz: no findings"
