#!/usr/bin/env bash
# Installs dependencies (idempotent) and builds litepipe in ./build (Release).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
