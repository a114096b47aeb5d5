#!/bin/sh
# Configure, build and run every test, twice: a normal build (build/) and an
# ASan+UBSan build with leak detection (build-asan/). The last line is
# "N passed, N failed" over both; exits non-zero if anything fails.
# Usage: scripts/test.sh            CKPT_TEST_SANITIZE=0 skips the second pass.
set -eu
cd "$(dirname "$0")/.."

configure() { # DIR [meson options...]
	dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" -Dwerror=true "$@" >/dev/null
	else
		meson setup "$dir" -Dwerror=true "$@" >/dev/null
	fi
	ninja -C "$dir"
}

status=0
logs=""
configure build
meson test -C build --print-errorlogs --num-processes 2 || status=1
logs="build/meson-logs/testlog.json"

if [ "${CKPT_TEST_SANITIZE:-1}" != 0 ]; then
	configure build-asan -Db_sanitize=address,undefined -Dbuildtype=debug
	# the sanitized programs start ~10x slower: thinner sweeps and load
	CKPT_MUTATION_FLIPS=150 CKPT_MUTATION_TRUNC_STEP=4 CKPT_LOAD_SECONDS=10 \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --print-errorlogs --num-processes 2 \
		--timeout-multiplier 4 || status=1
	logs="$logs build-asan/meson-logs/testlog.json"
fi

# shellcheck disable=SC2086
python3 scripts/test-summary.py $logs
exit $status
