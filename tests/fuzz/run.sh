#!/bin/sh
# run.sh FUZZ_BUILD TARGET... - run each libFuzzer target for FUZZ_SECONDS
# (default 30) on a work copy of its corpus, then print one line per
# target (runs, corpus size, crashes) and "fuzz: N passed, N failed".
# The corpus in the repository (tests/fuzz/<corpus>/) is only read: new
# inputs go to FUZZ_BUILD/work/<target>/, crashes to
# FUZZ_BUILD/crash-<target>-*.  A crash fails the run: fix it, then keep
# the input as tests/fuzz/<corpus>/crash-<what> so that check_fuzz replays
# it in every configuration.
set -u
build=$1
shift
secs=${FUZZ_SECONDS:-30}
here=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0
for t in "$@"; do
	corpus=${t%%-*}         # alloc-fm -> alloc
	work=$build/work/$t
	mkdir -p "$work"
	log=$build/$t.log
	"$build/fuzz-$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
	    -max_len=4096 -print_final_stats=1 \
	    -artifact_prefix="$build/crash-$t-" "$work" "$here/$corpus" \
	    > "$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	units=$(ls "$work" | wc -l)
	if [ "$rc" -eq 0 ]; then
		echo "PASS: fuzz $t: ${secs} s, ${runs:-?} runs, $units new inputs, 0 crashes"
		passed=$((passed + 1))
	else
		echo "FAIL: fuzz $t (exit $rc; log follows)"
		grep -E 'ERROR|SUMMARY|==[0-9]+==|^ *#[0-9]+ |Test unit written|step|abort' \
		    "$log" | head -n 40 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
