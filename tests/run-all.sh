#!/bin/sh
# run-all.sh - what CI runs: the suite of every configuration
#   MEMMNG 0,1,2 x MEMDBG 0,1 x LOCK futex,pthread
# then every backend without the per-process shm caches, the sanitizer builds (ASan+UBSan), the build-switch tests,
# and a bounded libFuzzer run of every fuzz target (make fuzz, clang;
# FUZZ_SECONDS per target, 20 here).
# The server drivers (tests/it_*.sh that start srproxy: runtime, RPC,
# srmemctl, sipp) pick every backend at run time with -x/-X, so they run
# where the build changes what they test: MEMDBG=1 and MEMDBG=0 (call sites
# or none), LOCK=pthread, and both sanitizer builds; elsewhere the Check
# suites and the library's drivers run.
# Each configuration builds in its own build/<tag>/ folder.
# Ends with "total: N passed, N failed" over everything.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
MAKE=${MAKE:-make}
jobs=$(nproc 2>/dev/null || echo 2)
passed=0 failed=0 bad=""

server_cfgs=" MEMMNG=2 MEMDBG=1 LOCK=futex | MEMMNG=2 MEMDBG=0 LOCK=futex | MEMMNG=1 MEMDBG=1 LOCK=pthread | MEMMNG=2 MEMDBG=1 SAN=asan,ubsan | MEMMNG=2 MEMDBG=0 SAN=asan,ubsan "
# The kill storm (it_killstorm.sh: 60 trials per backend, 180 in all,
# about 10-25 s) picks every backend at run time too; it runs where the
# build changes what it tests: MEMDBG=1 and MEMDBG=0 (records or none),
# and LOCK=pthread.  `make stress` runs 1,000 per backend
# (doc/RELIABILITY.md, "Kill storm").
storm_cfgs=" MEMMNG=2 MEMDBG=1 LOCK=futex | MEMMNG=0 MEMDBG=0 LOCK=futex | MEMMNG=1 MEMDBG=1 LOCK=pthread "

run_cfg() {
	tag="$*"
	case "$server_cfgs" in
	*" $tag "*) server=1 ;;
	*) server=0 ;;
	esac
	case "$storm_cfgs" in
	*" $tag "*) storm=1 ;;
	*) storm=0 ;;
	esac
	log=$(mktemp)
	echo "=== $tag"
	if ! $MAKE -s -j"$jobs" tests-build "$@" > "$log" 2>&1; then
		cat "$log"
		echo "FAIL: build of $tag"
		failed=$((failed + 1)) bad="$bad [$tag: build]"
		rm -f "$log"
		return
	fi
	SERVER_TESTS=$server KILLSTORM=$storm $MAKE -s test "$@" > "$log" 2>&1
	grep -E '^(FAIL|PASS|[0-9]+%: Checks|total:)|:[EF]:' "$log"
	line=$(grep -E '^total: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		tail -n 30 "$log"
		failed=$((failed + 1)) bad="$bad [$tag: no result]"
	else
		p=$(echo "$line" | cut -d' ' -f2) f=$(echo "$line" | cut -d' ' -f4)
		passed=$((passed + p)) failed=$((failed + f))
		[ "$f" -eq 0 ] || bad="$bad [$tag]"
	fi
	rm -f "$log"
}

for lock in futex pthread; do
	for mm in 0 1 2; do
		for dbg in 0 1; do
			run_cfg MEMMNG=$mm MEMDBG=$dbg LOCK=$lock
		done
	done
done
for mm in 0 1 2; do
	run_cfg MEMMNG=$mm MEMDBG=1 SHM_CACHE=0
done
for dbg in 1 0; do
	ASAN_OPTIONS=detect_leaks=1 run_cfg MEMMNG=2 MEMDBG=$dbg SAN=asan,ubsan
done

echo "=== build switches"
if sh tests/build-switches.sh; then
	passed=$((passed + 1)); echo "PASS: build-switches"
else
	failed=$((failed + 1)); bad="$bad [build-switches]"; echo "FAIL: build-switches"
fi

echo "=== fuzz (libFuzzer, ${FUZZ_SECONDS:-20} s per target)"
if command -v clang >/dev/null 2>&1; then
	log=$(mktemp)
	if FUZZ_SECONDS=${FUZZ_SECONDS:-20} $MAKE -s -j"$jobs" fuzz > "$log" 2>&1; then
		passed=$((passed + 1)); echo "PASS: fuzz"
	else
		failed=$((failed + 1)); bad="$bad [fuzz]"; echo "FAIL: fuzz"
	fi
	grep -E '^(PASS|FAIL): fuzz |^    ' "$log"
	rm -f "$log"
else
	failed=$((failed + 1)); bad="$bad [fuzz: no clang]"
	echo "FAIL: fuzz: clang is not installed (make deps)"
fi

[ -z "$bad" ] || echo "failing:$bad"
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
