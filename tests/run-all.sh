#!/bin/sh
# run-all.sh - what CI runs: the suite of every configuration
#   MEMMNG 0,1,2 x MEMDBG 0,1 x LOCK futex,pthread
# then every backend without the per-process shm caches, the sanitizer builds (ASan+UBSan), the build-switch tests,
# and a bounded libFuzzer run of every fuzz target (make fuzz, clang;
# FUZZ_SECONDS per target, 10 here: check_fuzz replays the kept corpus in
# every configuration).
#
# What runs where.  MEMMNG only picks the default backend (mem/mem.c):
# the three backends are built into every configuration, and the suites
# loop over all three.  So the three MEMMNG builds of one MEMDBG x LOCK
# run the same code but for that default, and share their objects (the
# Makefile's build/obj-*).  MEMDBG, LOCK, SHM_CACHE=0 and the sanitizers
# do change the code.
#   Everywhere (all 17): the Check suites but the cases tagged heavy
#     (memtest.h t_heavy): conformance, with the heap checker after every
#     step, on every backend; the unit, misuse, damage, write-after-free,
#     cache, lock, parser and RPC suites, the fuzz corpus replay; and the
#     library's drivers (it_diag, it_example, it_valgrind).
#   heavy_cfgs: the heavy cases too (threads, multiproc, model, owner,
#     livecheck, lockstats, exhaust shm_full, oom: several processes or
#     threads, sleeps, long loops; seconds each), once per MEMDBG x LOCK
#     (the MEMMNG of each differs, so each default backend runs them
#     once), once without the shm caches, and in both sanitizer builds.
#   server_cfgs: the server drivers too (tests/it_*.sh that start srproxy:
#     runtime, RPC, srmemctl, sipp, map, metrics).  They pick every
#     backend at run time with -x/-X, so they run where the build changes
#     what they test: MEMDBG=1 and MEMDBG=0 (call sites or none),
#     LOCK=pthread, and both sanitizer builds.  They run in the
#     foreground: run beside the next configurations' builds and Check
#     runs they failed (sipp's 1,000 calls/s timed out, it_metrics' lock
#     wait was not seen) on the 2 cores.
# `make test` in one configuration runs everything.
# Each configuration builds in its own build/<tag>/ folder; "time:" lines
# give each one's build and test seconds.
# Ends with "total: N passed, N failed" over everything.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
MAKE=${MAKE:-make}
jobs=$(nproc 2>/dev/null || echo 2)
passed=0 failed=0 bad=""

heavy_cfgs=" MEMMNG=2 MEMDBG=1 LOCK=futex | MEMMNG=2 MEMDBG=0 LOCK=futex | MEMMNG=1 MEMDBG=1 LOCK=pthread | MEMMNG=0 MEMDBG=0 LOCK=pthread | MEMMNG=1 MEMDBG=1 SHM_CACHE=0 | MEMMNG=2 MEMDBG=1 SAN=asan,ubsan | MEMMNG=2 MEMDBG=0 SAN=asan,ubsan "
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
	case "$heavy_cfgs" in
	*" $tag "*) unset CK_EXCLUDE_TAGS ;;
	*) CK_EXCLUDE_TAGS=heavy; export CK_EXCLUDE_TAGS ;;
	esac
	log=$(mktemp)
	echo "=== $tag${CK_EXCLUDE_TAGS:+ (not the heavy cases)}"
	t0=$(date +%s)
	if ! $MAKE -s -j"$jobs" tests-build "$@" > "$log" 2>&1; then
		cat "$log"
		echo "FAIL: build of $tag"
		failed=$((failed + 1)) bad="$bad [$tag: build]"
		rm -f "$log"
		return
	fi
	t1=$(date +%s)
	SERVER_TESTS=$server KILLSTORM=$storm $MAKE -s test "$@" > "$log" 2>&1
	echo "time: $tag: build $((t1 - t0)) s, tests $(($(date +%s) - t1)) s"
	count "$tag" "$log"
}

# count TAG LOG: print LOG's results, add its closing line to the totals.
count() {
	grep -E '^(FAIL|PASS|[0-9]+%: Checks|total:)|:[EF]:' "$2"
	line=$(grep -E '^total: [0-9]+ passed, [0-9]+ failed$' "$2" | tail -n 1)
	if [ -z "$line" ]; then
		tail -n 30 "$2"
		failed=$((failed + 1)) bad="$bad [$1: no result]"
	else
		p=$(echo "$line" | cut -d' ' -f2) f=$(echo "$line" | cut -d' ' -f4)
		passed=$((passed + p)) failed=$((failed + f))
		[ "$f" -eq 0 ] || bad="$bad [$1]"
	fi
	rm -f "$2"
}

start=$(date +%s)
run_cfg MEMMNG=2 MEMDBG=1 LOCK=futex
run_cfg MEMMNG=2 MEMDBG=0 LOCK=futex
run_cfg MEMMNG=1 MEMDBG=1 LOCK=pthread
for dbg in 1 0; do
	ASAN_OPTIONS=detect_leaks=1 run_cfg MEMMNG=2 MEMDBG=$dbg SAN=asan,ubsan
done
run_cfg MEMMNG=0 MEMDBG=0 LOCK=futex
run_cfg MEMMNG=0 MEMDBG=1 LOCK=futex
run_cfg MEMMNG=1 MEMDBG=0 LOCK=futex
run_cfg MEMMNG=1 MEMDBG=1 LOCK=futex
run_cfg MEMMNG=0 MEMDBG=0 LOCK=pthread
run_cfg MEMMNG=0 MEMDBG=1 LOCK=pthread
run_cfg MEMMNG=1 MEMDBG=0 LOCK=pthread
run_cfg MEMMNG=2 MEMDBG=0 LOCK=pthread
run_cfg MEMMNG=2 MEMDBG=1 LOCK=pthread
for mm in 0 1 2; do
	run_cfg MEMMNG=$mm MEMDBG=1 SHM_CACHE=0
done
unset CK_EXCLUDE_TAGS

echo "=== build switches"
t0=$(date +%s)
if sh tests/build-switches.sh; then
	passed=$((passed + 1)); echo "PASS: build-switches"
else
	failed=$((failed + 1)); bad="$bad [build-switches]"; echo "FAIL: build-switches"
fi
echo "time: build switches: $(($(date +%s) - t0)) s"

echo "=== fuzz (libFuzzer, ${FUZZ_SECONDS:-10} s per target)"
t0=$(date +%s)
if command -v clang >/dev/null 2>&1; then
	log=$(mktemp)
	if FUZZ_SECONDS=${FUZZ_SECONDS:-10} $MAKE -s -j"$jobs" fuzz > "$log" 2>&1; then
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
echo "time: fuzz: $(($(date +%s) - t0)) s"
echo "time: all: $(($(date +%s) - start)) s"

[ -z "$bad" ] || echo "failing:$bad"
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
