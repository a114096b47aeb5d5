#!/bin/sh
# The performance benchmark of issue 7 (not part of the test run).
# Usage: scripts/bench.sh   (after scripts/install-deps.sh; needs /dev/fuse)
# Builds build/ if needed, generates its own data (~13 GB of disk at peak,
# deleted afterwards), prints a table and writes bench-results.json.
# Environment: see the docstring of scripts/bench.py (BENCH_ROUNDS, ...).
set -eu
cd "$(dirname "$0")/.."
if [ -f build/build.ninja ]; then
	meson configure build -Dwerror=true >/dev/null
else
	meson setup build -Dwerror=true >/dev/null
fi
ninja -C build fs/ckptfs tests/ckpt-gen tests/bench/ceiling >/dev/null
exec python3 scripts/bench.py "$@"
