#!/usr/bin/env bash
# Issue 3's performance goals: litepipe vs PyTorch (Debian's python3-torch), same architecture,
# batch 40, optimizer, data (Fashion-MNIST 60k/10k) and 2 threads, run one after the other.
#   bash bench/compare_torch.sh [EPOCHS]      (after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1}
export OMP_NUM_THREADS=2
for model in mlp cnn; do
  build/bench/bench_train --model "$model" --epochs "$epochs" | tee "/tmp/litepipe-bench-$model.txt"
  /usr/bin/python3 bench/torch_peer.py --model "$model" --epochs "$epochs" --threads 2 | tee "/tmp/torch-bench-$model.txt"
  ours=$(grep -m1 "epoch 1:" "/tmp/litepipe-bench-$model.txt" | sed 's/.*: \([0-9.]*\) s.*/\1/')
  theirs=$(grep -m1 "epoch 1:" "/tmp/torch-bench-$model.txt" | sed 's/.*: \([0-9.]*\) s.*/\1/')
  awk -v a="$ours" -v b="$theirs" -v m="$model" 'BEGIN { printf "%s: first epoch litepipe %.2f s / PyTorch %.2f s = %.2fx\n", m, a, b, a / b }'
done
