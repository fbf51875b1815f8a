#!/bin/sh
# fuzz.sh replay BUILD TARGET...   replay corpora and crashes (make check)
# fuzz.sh run SECONDS TARGET...    run libFuzzer on each target, both builds
#                                  (FUZZ_RUNS=N: N executions each instead)
set -eu
mode=$1; arg=$2; shift 2
case $mode in
replay)
	n=0
	for t in "$@"; do
		for v in replay replay-plain; do
			out=$("$arg/$v/fuzz/$t" tests/fuzz/corpus/$t tests/fuzz/crashes/$t) || {
				echo "fuzz-replay: $t ($v) failed"; exit 1; }
			n=$((n + ${out%% *}))
		done
	done
	echo "fuzz-replay: $# targets, both builds, $n inputs replayed"
	;;
run)
	mkdir -p build/fuzz-work
	for t in "$@"; do
		for v in libfuzzer libfuzzer-plain; do
			work=build/fuzz-work/$v-$t
			mkdir -p "$work/corpus" "$work/crashes"
			echo "== $t ($v, ${arg}s)"
			# New inputs go to the work corpus; the committed one seeds it.
			seeds=; [ -d "tests/fuzz/corpus/$t" ] && seeds=tests/fuzz/corpus/$t
			# shellcheck disable=SC2086
			# FUZZ_RUNS=N: stop after N executions instead of after a time.
			limit=-max_total_time="$arg"
			[ -n "${FUZZ_RUNS:-}" ] && limit=-runs="$FUZZ_RUNS"
			"build/$v/fuzz/$t" "$limit" -print_final_stats=1 \
			    -artifact_prefix="$work/crashes/" "$work/corpus" \
			    $seeds 2>"$work/log" || {
				tail -30 "$work/log"
				echo "fuzz: $t ($v) found a crash: $work/crashes"
				exit 1; }
			grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb' \
			    "$work/log" | sed "s/^/   /"
		done
	done
	;;
esac
