#!/usr/bin/env bash
# Batch-1 latency of small .tflite models in litepipe's interpreter, alone and with a CPU hog (a
# busy process, as on a phone or a shared server), with 1 and 2 interpreter threads
# (`litepipe tflite benchmark --threads`). The goal: with the hog, p99 <= 3x p50 at the default
# (1 thread).
#   bash bench/latency_under_load.sh [RUNS] [MODEL.tflite...]     (after scripts/build.sh)
# Without models: the MNIST MLP and CNN, float32 and int8, written by build/bench/tflite_mutants --make.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-2000}
[ $# -gt 0 ] && shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/litepipe-latency.XXXXXX")
hog=""
trap '[ -n "$hog" ] && kill "$hog" 2>/dev/null; rm -rf "$tmp"' EXIT
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  for kind in mlp cnn mlp-int8 cnn-int8; do
    build/bench/tflite_mutants --make "$kind" "$tmp/$kind.tflite" >/dev/null
    models+=("$tmp/$kind.tflite")
  done
fi
echo "litepipe tflite benchmark, batch 1, $runs runs after 100 warmup; $(nproc) cores; OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-default}"
printf '%-14s %-9s %7s %10s %10s %10s %8s\n' model condition threads "p50 us" "p99 us" "mean us" p99/p50
for load in alone hog; do
  if [ "$load" = hog ]; then
    # One busy process: on 2 cores it takes the other core (or shares the interpreter's).
    (while :; do :; done) &
    hog=$!
  fi
  for model in "${models[@]}"; do
    for threads in 1 2; do
      line=$(build/litepipe tflite benchmark "$model" --runs "$runs" --warmup 100 --threads "$threads" | grep -m1 'latency us')
      p50=$(sed -E 's/.* p50 ([0-9.]+).*/\1/' <<<"$line")
      p99=$(sed -E 's/.* p99 ([0-9.]+).*/\1/' <<<"$line")
      mean=$(sed -E 's/.* mean ([0-9.]+).*/\1/' <<<"$line")
      printf '%-14s %-9s %7s %10s %10s %10s %8s\n' "$(basename "$model" .tflite)" "$load" "$threads" "$p50" "$p99" "$mean" \
        "$(awk -v a="$p99" -v b="$p50" 'BEGIN { printf "%.1f", a / b }')"
    done
  done
  if [ -n "$hog" ]; then kill "$hog"; wait "$hog" 2>/dev/null || true; hog=""; fi
done
