#!/usr/bin/env bash
# Training speed and memory: litepipe (build/bench/bench_train) vs PyTorch (Debian's python3-torch,
# bench/torch_peer.py), same architectures, batch, optimizer, data (Fashion-MNIST 60k/10k) and
# 2 threads. PyTorch is set up as its users would: an optimized BLAS (refused otherwise: on
# Debian's reference libblas every Linear layer crawls and the ratio means nothing), OpenBLAS on
# one thread under PyTorch's OpenMP threads, channels_last for the CNN.
#
# Each configuration runs RUNS times, the two sides alternated (and which goes first alternated),
# and reports the best first-epoch time of each: training only, the data already float tensors in
# memory on both sides. Also: peak RSS, first-epoch test accuracy, the CNN's GFLOP/s against
# oneDNN's sgemm at 4096^3 on the same threads (the machine's ceiling).
#   bash bench/compare_torch.sh [RUNS]      (RUNS default 3; after scripts/build.sh)
# Other processes on the machine skew every number: the load average is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
bench_train=${BENCH_TRAIN:-build/bench/bench_train}
python=${TORCH_PYTHON:-/usr/bin/python3}   # Debian's python3-torch is in the system Python
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=1
threads=$OMP_NUM_THREADS
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

[ -x "$bench_train" ] || { echo "compare_torch: $bench_train not built (scripts/build.sh)" >&2; exit 1; }
"$python" -c "import torch" 2>/dev/null || { echo "compare_torch: $python has no torch (scripts/install.sh installs python3-torch)" >&2; exit 1; }

load_before=$(cut -d' ' -f1 /proc/loadavg)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
peer_config=$("$python" bench/torch_peer.py --config-only --threads "$threads")
blas=$(sed -n 's/.* BLAS \([a-z]*\) .*/\1/p' <<<"$peer_config")
case "$blas" in
  openblas | mkl | blis) ;;
  *)
    echo "$peer_config" >&2
    echo "compare_torch: PyTorch runs on the '$blas' BLAS, not an optimized one: no ratio is reported." >&2
    echo "  Install OpenBLAS (apt-get install libopenblas0-pthread, in scripts/install.sh) so libblas.so.3 is OpenBLAS." >&2
    exit 1
    ;;
esac

"$bench_train" --sgemm-ceiling --size 4096 >"$out/ceiling.txt"
cat "$out/ceiling.txt"
ceiling=$(sed -n 's/.*: \([0-9.]*\) GFLOP\/s.*/\1/p' "$out/ceiling.txt")
echo "$peer_config"

configs=("mlp 40 rmsprop" "cnn 128 adam" "cnn 40 rmsprop")
for r in $(seq 1 "$runs"); do
  for c in "${configs[@]}"; do
    read -r model batch opt <<<"$c"
    tag="$model-b$batch-$opt"
    ours=("$bench_train" --model "$model" --batch "$batch" --optimizer "$opt" --epochs 1)
    theirs=("$python" bench/torch_peer.py --model "$model" --batch "$batch" --optimizer "$opt" --epochs 1 --threads "$threads")
    if ((r % 2)); then order=(ours theirs); else order=(theirs ours); fi
    for side in "${order[@]}"; do
      if [ "$side" = ours ]; then "${ours[@]}" >"$out/$tag-litepipe-$r.txt"; else "${theirs[@]}" >"$out/$tag-torch-$r.txt"; fi
    done
    # The configuration lines once, then each run's epoch line.
    if [ "$r" = 1 ]; then grep -h "^litepipe config\|^litepipe $model:" "$out/$tag-litepipe-1.txt"; grep -h "^torch $model:" "$out/$tag-torch-1.txt"; fi
    echo "run $r $tag: $(grep -h "epoch 1:" "$out/$tag-litepipe-$r.txt") | $(grep -h "epoch 1:" "$out/$tag-torch-$r.txt")"
  done
done
load_after=$(cut -d' ' -f1 /proc/loadavg)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Summary: best-of-RUNS epoch time per side, the largest peak RSS and the accuracy range over runs.
echo
printf "%-18s %10s %10s %7s %7s | %9s %9s %6s %6s | %-15s %-15s\n" configuration "litepipe s" "PyTorch s" ratio goal \
  "RSS lp" "RSS torch" ratio goal "accuracy lp" "accuracy torch"
for c in "${configs[@]}"; do
  read -r model batch opt <<<"$c"
  tag="$model-b$batch-$opt"
  goal=0.67; [ "$model" = mlp ] && goal=0.3
  cat "$out/$tag"-litepipe-*.txt | awk -v tag="$tag" -v goal="$goal" -v ceiling="$ceiling" -v torch_files="$(ls "$out/$tag"-torch-*.txt | tr '\n' ' ')" '
    function scan(line, side) {
      if (line ~ /epoch 1:/) {
        split(line, f, ": "); t = f[2] + 0
        if (!(side in best) || t < best[side]) best[side] = t
        a = line; sub(/.*test accuracy /, "", a); a = substr(a, 1, 6) + 0
        if (!(side in amin) || a < amin[side]) amin[side] = a
        if (!(side in amax) || a > amax[side]) amax[side] = a
      }
      if (line ~ /peak RSS/) { m = line; sub(/.*peak RSS /, "", m); m += 0; if (m > rss[side]) rss[side] = m }
      if (line ~ /FLOPs per epoch/) { g = line; sub(/.*epoch: /, "", g); gflop = g + 0 }
    }
    { scan($0, "lp") }
    END {
      n = split(torch_files, files, " ")
      for (i = 1; i <= n; ++i) while ((getline line < files[i]) > 0) scan(line, "torch")
      ratio = best["lp"] / best["torch"]; rratio = rss["lp"] / rss["torch"]
      printf "%-18s %10.2f %10.2f %6.2fx %6s%s | %6.0f MiB %5.0f MiB %5.2fx %5s%s | %.4f-%.4f   %.4f-%.4f\n", tag, best["lp"],
             best["torch"], ratio, "<=" goal, (ratio <= goal ? " " : "!"), rss["lp"], rss["torch"], rratio, "<=0.6",
             (rratio <= 0.6 ? " " : "!"), amin["lp"], amax["lp"], amin["torch"], amax["torch"]
      if (tag ~ /^cnn/) {
        printf "%-18s litepipe %.1f GFLOP/s = %.0f%% of the sgemm ceiling %.1f GFLOP/s (goal >= 60%%); PyTorch %.1f GFLOP/s (%.0f GFLOP per epoch)\n",
               "", gflop / best["lp"], 100 * gflop / best["lp"] / ceiling, ceiling, gflop / best["torch"], gflop
      }
    }'
done
echo "(best of $runs runs, first epoch, $threads threads; '!' marks a goal not met)"
# OpenMP's threads wait for each other at every primitive: a busy machine slows runs many-fold.
awk -v a="$load_before" -v b="$load_after" -v cpus="$(nproc)" 'BEGIN {
  if (a > 0.6 * cpus || b > 0.6 * cpus) printf "WARNING: taken under load (load average %.2f before, %.2f after, %d CPUs): not reliable\n", a, b, cpus }'
