#!/bin/sh
# Configure, build and run every test; the last line is "N passed, N failed".
# Usage: scripts/test.sh [BUILD_DIR]   (default: build)
# Exits non-zero if anything fails. Set CKPT_TEST_SANITIZE=0 to skip the
# ASan+UBSan pass.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}

if [ -f "$dir/build.ninja" ]; then
	meson configure "$dir" -Dwerror=true >/dev/null
else
	meson setup "$dir" -Dwerror=true >/dev/null
fi
ninja -C "$dir"

status=0
meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
python3 scripts/test-summary.py "$dir/meson-logs/testlog.json" >"$dir/summary.txt"
cat "$dir/summary.txt"
exit $status
