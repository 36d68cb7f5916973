#!/usr/bin/env bash
# The SDK: install litepipe into a fresh prefix, build examples/module_template out of tree with
# find_package(litepipe), and check the module exports run_fn.
#   bash tests/sdk_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1; src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -x "$work/prefix/bin/litepipe"
"$work/prefix/bin/litepipe" --help >/dev/null
cp -r "$src/examples/module_template" "$work/module"
cmake -S "$work/module" -B "$work/module/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/module/build" -j2 >/dev/null
nm -D --defined-only "$work/module/build/libmy_module.so" | grep -qw run_fn
echo "module built against the installed SDK"
