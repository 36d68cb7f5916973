#!/usr/bin/env bash
# Where a training epoch's time goes: bench_train once with oneDNN's verbose log on, summed per
# primitive (kind, implementation oneDNN picked, propagation, problem) and as a share of the epoch.
# What no primitive accounts for is litepipe's own code (max pooling, optimizer, glue) and the
# gaps between primitives. The log's timing adds a little to every primitive call.
#   bash bench/onednn_profile.sh [MODEL] [BATCH] [OPTIMIZER]    (default: cnn 128 adam; after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-cnn} batch=${2:-128} optimizer=${3:-adam}
bench_train=${BENCH_TRAIN:-build/bench/bench_train}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
[ -x "$bench_train" ] || { echo "onednn_profile: $bench_train not built (scripts/build.sh)" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT

ONEDNN_VERBOSE=1 "$bench_train" --model "$model" --batch "$batch" --optimizer "$optimizer" > "$log"
grep -v '^dnnl_verbose' "$log" | grep -E 'epoch|threads|oneDNN' || true
epoch_s=$(sed -n 's/.* epoch 1: \([0-9.]*\) s.*/\1/p' "$log")
[ -n "$epoch_s" ] || { echo "onednn_profile: no epoch time in bench_train's output" >&2; exit 1; }

# oneDNN 2.x: dnnl_verbose,exec,cpu,KIND,IMPL,PROP,MEMORY,ATTR,AUX,PROBLEM,MS
awk -F, -v epoch_s="$epoch_s" '
  / epoch 1 trained/ { evaluating = 1 }
  $1 == "dnnl_verbose" && $2 == "exec" {
    key = sprintf("%-5s %-14s %-22s %-17s %s", evaluating ? "eval" : "train", $4, $5, $6, $10)
    ms[key] += $NF; calls[key]++
    if (evaluating) total_infer += $NF; else total_train += $NF
  }
  END {
    printf "\n%-5s %-14s %-22s %-17s %-44s %8s %9s %7s\n", "phase", "primitive", "implementation", "propagation", "problem", "calls", "ms", "epoch%"
    n = asorti(ms, keys, "@val_num_desc")
    for (i = 1; i <= n; i++) {
      k = keys[i]
      share = (k ~ /^eval/) ? "-" : sprintf("%6.1f%%", ms[k] / (epoch_s * 1000) * 100)
      printf "%-106s %8d %9.1f %7s\n", k, calls[k], ms[k], share
    }
    printf "\ntraining epoch %.2f s: oneDNN primitives %.2f s (%.1f%%), the rest (litepipe code, gaps) %.2f s (%.1f%%)\n",
           epoch_s, total_train / 1000, total_train / (epoch_s * 10), epoch_s - total_train / 1000, 100 - total_train / (epoch_s * 10)
    printf "evaluation of the test set (after the epoch): oneDNN primitives %.2f s\n", total_infer / 1000
  }' "$log"
