#!/usr/bin/env bash
# Command (1): install, build and run the MNIST pipeline (examples/mnist/pipeline.yaml), then
# print the models' headline metrics side by side (`litepipe metrics`) and the comparisons of the
# full model with the TFLite ones, with where their HTML reports are (`litepipe compare`).
# Extra arguments go to `litepipe run`, e.g. --no-cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
build/litepipe run examples/mnist/pipeline.yaml "$@"
echo
build/litepipe metrics --pipeline examples/mnist/pipeline.yaml
echo
build/litepipe compare --pipeline examples/mnist/pipeline.yaml
