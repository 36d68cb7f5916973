#!/usr/bin/env bash
# The MNIST pipeline in the three modes of the scale-out issue: (a) locally, (b) as one Slurm job
# per component on a one-node cluster with the metadata on a PostgreSQL server (both started by
# the benchmark on loopback, stopped after), (c) locally with the Trainers on `mpirun -np 2`.
# Prints each mode's wall time, each Evaluator's accuracy, and whether the data components'
# outputs equal (a)'s.   bash bench/scale_out.sh [--train-steps N] [--pipeline FILE]
# (after bash scripts/build.sh; needs the packages of scripts/install.sh: slurm-wlm, munge,
# postgresql, openmpi-bin)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="${LITEPIPE_BUILD:-$root/build}"
for f in "$build/litepipe" "$build/bench/bench_scale_out"; do
  [ -x "$f" ] || { echo "$f: not built; run bash scripts/build.sh first" >&2; exit 1; }
done
work="$(mktemp -d "${TMPDIR:-/tmp}/litepipe-scale-out-XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$build/bench/bench_scale_out" --litepipe "$build/litepipe" --pipeline "$root/examples/mnist/pipeline.yaml" --work "$work" "$@"
