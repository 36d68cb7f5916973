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
trap 'rm -f "$log" "$log.sum"' EXIT

ONEDNN_VERBOSE=1 "$bench_train" --model "$model" --batch "$batch" --optimizer "$optimizer" > "$log"
grep -vE '^(onednn|dnnl)_verbose' "$log" | grep -E 'epoch|threads' || true
epoch_s=$(sed -n 's/.* epoch 1: \([0-9.]*\) s.*/\1/p' "$log")
[ -n "$epoch_s" ] || { echo "onednn_profile: no epoch time in bench_train's output" >&2; exit 1; }

# oneDNN 2.x: onednn_verbose (dnnl_verbose before 2.5),exec,cpu,KIND,IMPL,PROP,MEMORY,ATTR,AUX,PROBLEM,MS
awk -F, '
  / epoch 1 trained/ { evaluating = 1 }
  ($1 == "onednn_verbose" || $1 == "dnnl_verbose") && $2 == "exec" {
    key = sprintf("%-5s %-12s %-20s %-17s %s", evaluating ? "eval" : "train", $4, $5, $6, $10)
    ms[key] += $NF; calls[key]++
  }
  END { for (k in ms) printf "%s\t%d\t%.1f\n", k, calls[k], ms[k] }' "$log" | sort -t $'\t' -k3,3gr > "$log.sum"

printf '\n%-5s %-12s %-20s %-17s %-52s %7s %9s %7s\n' phase primitive implementation propagation problem calls ms epoch%
awk -F'\t' -v epoch_s="$epoch_s" '
  {
    phase = substr($1, 1, 5)
    share = (phase == "eval ") ? "-" : sprintf("%6.1f%%", $3 / (epoch_s * 10))
    printf "%-110s %7d %9.1f %7s\n", $1, $2, $3, share
    if (phase == "eval ") infer += $3; else train += $3
  }
  END {
    printf "\ntraining epoch %.2f s: oneDNN primitives %.2f s (%.1f%%); the rest (litepipe code, gaps between primitives) %.2f s (%.1f%%)\n",
           epoch_s, train / 1000, train / (epoch_s * 10), epoch_s - train / 1000, 100 - train / (epoch_s * 10)
    printf "evaluation of the test set after the epoch: oneDNN primitives %.2f s\n", infer / 1000
  }' "$log.sum"
