#!/usr/bin/env bash
# Command (1): install, build and run the MNIST pipeline (examples/mnist/pipeline.yaml), then
# print both models' headline metrics side by side (`litepipe metrics`).
# Extra arguments go to `litepipe run`, e.g. --no-cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
build/litepipe run examples/mnist/pipeline.yaml "$@"
echo
build/litepipe metrics --pipeline examples/mnist/pipeline.yaml
