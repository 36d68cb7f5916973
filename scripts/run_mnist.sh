#!/usr/bin/env bash
# Command (1): install, build and run the MNIST pipeline (examples/mnist/pipeline.yaml).
# Extra arguments go to `litepipe run`, e.g. --no-cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec build/litepipe run examples/mnist/pipeline.yaml "$@"
