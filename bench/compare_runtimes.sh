#!/usr/bin/env bash
# Batch-1 latency (p50) of .tflite models in litepipe's interpreter, the real TensorFlow Lite
# runtime (WebAssembly, SIMD and plain builds, under Node) and ArmNN (CpuRef), in one run, with
# each runtime's ratio to litepipe.   bash bench/compare_runtimes.sh MODEL.tflite [MODEL.tflite ...]
set -uo pipefail  # a runtime that cannot run a model prints n/a
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
litepipe="${LITEPIPE:-$root/build/litepipe}"
printf '%-44s %12s %14s %14s %14s\n' model "litepipe us" "TFLite simd" "TFLite plain" "ArmNN CpuRef"
for model in "$@"; do
  ours=$("$litepipe" tflite benchmark "$model" --runs 2000 | sed -n 's/.* p50 \([0-9.]*\) .*/\1/p')
  simd=$(node "$here/tflite_latency.js" "$model" simd 2000 | sed -n 's/.*p50 \([0-9.]*\) us.*/\1/p')
  plain=$(node "$here/tflite_latency.js" "$model" plain 1000 | sed -n 's/.*p50 \([0-9.]*\) us.*/\1/p')
  armnn=$( (/usr/bin/python3 "$here/armnn_latency.py" "$model" 100 2>/dev/null || true) | tail -1 | sed -n 's/.*"p50_us": \([0-9.]*\).*/\1/p')
  ratio() { [ -n "$1" ] && awk -v a="$1" -v b="$ours" 'BEGIN { printf "%.1f (%.1fx)", a, a / b }' || echo "n/a"; }
  printf '%-44s %12s %14s %14s %14s\n' "$model" "$ours" "$(ratio "$simd")" "$(ratio "$plain")" "$(ratio "$armnn")"
done
