#!/bin/sh
# run.sh FUZZ_BUILD TARGET... - run each libFuzzer target for FUZZ_SECONDS
# (default 30) on a work copy of its corpus, FUZZ_JOBS of them at a time
# (default: one per CPU), then print one line per target (runs, corpus
# size, crashes) and "fuzz: N passed, N failed".
# The corpus in the repository (tests/fuzz/<corpus>/) is only read: new
# inputs go to FUZZ_BUILD/work/<target>/, crashes to
# FUZZ_BUILD/crash-<target>-*.  A crash fails the run: fix it, then keep
# the input as tests/fuzz/<corpus>/crash-<what> so that check_fuzz replays
# it in every configuration.
set -u
build=$1
shift
secs=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
here=$(cd "$(dirname "$0")" && pwd)
passed=0 failed=0

# Run target $1 for secs seconds; its exit status goes to $build/$1.rc.
run_one() {
	corpus=${1%%-*}         # alloc-fm -> alloc
	mkdir -p "$build/work/$1"
	"$build/fuzz-$1" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
	    -max_len=4096 -print_final_stats=1 \
	    -artifact_prefix="$build/crash-$1-" "$build/work/$1" "$here/$corpus" \
	    > "$build/$1.log" 2>&1
	echo $? > "$build/$1.rc"
}

# The line of target $1, which has run.
report_one() {
	log=$build/$1.log
	rc=$(cat "$build/$1.rc" 2>/dev/null || echo 1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	units=$(ls "$build/work/$1" | wc -l)
	if [ "$rc" -eq 0 ]; then
		echo "PASS: fuzz $1: ${secs} s, ${runs:-?} runs, $units new inputs, 0 crashes"
		passed=$((passed + 1))
	else
		echo "FAIL: fuzz $1 (exit $rc; log follows)"
		grep -E 'ERROR|SUMMARY|==[0-9]+==|^ *#[0-9]+ |Test unit written|step|abort' \
		    "$log" | head -n 40 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
	rm -f "$build/$1.rc"
}

# FUZZ_JOBS targets at a time (default: one per CPU): each still runs
# its secs seconds, and the lines come in the order of the arguments.
batch="" n=0
for t in "$@"; do
	run_one "$t" &
	batch="$batch $t" n=$((n + 1))
	if [ "$n" -ge "$jobs" ]; then
		wait
		for b in $batch; do report_one "$b"; done
		batch="" n=0
	fi
done
wait
for b in $batch; do report_one "$b"; done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
