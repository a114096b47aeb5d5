#!/bin/sh
# Run every libFuzzer target (or the TARGETs named) for SECONDS (default 60)
# each, with ASan+UBSan.
# Usage: scripts/fuzz.sh [SECONDS [TARGET...]]
#
# Builds with clang in ../build-fuzz, or $CKPT_FUZZ_BUILD (outside the source
# tree: the clang-tidy target would otherwise scan its generated files). Each target
# runs on a scratch copy of tests/fuzz/corpus/<name>/ (libFuzzer writes new
# inputs into its first corpus directory) plus, for the table targets, the
# fixtures as seeds; the repository is never written. Findings (crash-*,
# leak-*, timeout-*, oom-*) are kept in ../build-fuzz/findings/<name>/.
# Prints executions and coverage per target; exits non-zero on any finding.
# Needs clang and libclang-rt-14-dev (scripts/install-deps.sh).
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-sstable bundle v1 state slicekey graph map targets roundtrip}
src=$(pwd)
build=${CKPT_FUZZ_BUILD:-$src/../build-fuzz}
fixtures=${CKPT_FIXTURES:-$src/../shared/fixtures}
graphs=${CKPT_GRAPHS:-$src/../shared/graphs}

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$build" >/dev/null

export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
work=$build/fuzz-work
rm -rf "$work"
for name in $targets; do
	corpus=$work/$name/corpus
	found=$build/findings/$name
	mkdir -p "$corpus" "$found"
	cp "$src/tests/fuzz/corpus/$name/"* "$corpus/" 2>/dev/null || true
	case $name in
	sstable | bundle | v1)
		if [ -d "$fixtures" ]; then
			# every file of every fixture: tables, data shards, text; the
			# fuzzer keeps what adds coverage
			find "$fixtures" -type f -size -2M | while read -r f; do
				cp "$f" "$corpus/fixture-$(echo "$f" | cksum | cut -d' ' -f1)"
			done
		fi
		;;
	graph)
		# the real graphs as seeds (copied to the scratch corpus only)
		if [ -d "$graphs" ]; then
			find "$graphs" -type f -size -2M | while read -r f; do
				cp "$f" "$corpus/graph-$(echo "$f" | cksum | cut -d' ' -f1)"
			done
		fi
		;;
	esac
	log=$work/$name/log
	rc=0
	(cd "$work/$name" && "$build/tests/fuzz/fuzz_$name" "$corpus" \
		-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$found/" -print_final_stats=1 \
		>"$log" 2>&1) || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	if [ "$rc" -ne 0 ] || ls "$found" | grep -q .; then
		status=1
		echo "fuzz_$name: FINDING (exit $rc), see $log and $found"
		grep -E 'ERROR|runtime error|SUMMARY' "$log" | head -n 5 || true
	else
		echo "fuzz_$name: ok, ${execs:-?} executions, cov ${cov:-?}, ft ${ft:-?}"
	fi
done
exit $status
