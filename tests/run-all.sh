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
#     once), once without the shm caches, and in the ASan build of
#     MEMDBG=1.  Not in the ASan build of MEMDBG=0: what ASan adds to the
#     heavy cases is a check of every access the library makes under
#     threads, processes and exhaustion; MEMDBG=0 changes what the
#     library does there only by leaving out the record and its checks,
#     and that code (every backend, without records) runs under ASan in
#     the other suites of that build, and under the heavy cases in
#     m2-d0-futex and m0-d0-pthread.
#   server_cfgs (server_of below): the server drivers too (tests/it_*.sh
#     that start srproxy: runtime, RPC, srmemctl, sipp, map, metrics).
#     They pick every backend at run time with -x/-X, so they run where
#     the build changes what they test: all six with MEMDBG=1 and
#     MEMDBG=0 (call sites or none), LOCK=pthread, and the ASan build of
#     MEMDBG=1.  The ASan build of MEMDBG=0 runs it_metrics only: the
#     server's own code differs with MEMDBG in two places, the sites of
#     core/rpc/metrics.c, which it_metrics alone reaches, and
#     core/rpc/m_shm.c's "sites_known", which check_rpc reaches in every
#     build (shm.summary in process); the rest of what differs is the
#     library (no records), which runs under ASan in that build's Check
#     suites and under the same server traffic in m2-d0-futex.  srmemctl
#     is not built with MEMDBG at all.
#   it_sip at full size (1,000 users, 5,000 calls at 1,000 calls/s per
#     backend) in m2-d1-futex, the configuration `make test` builds by
#     default; elsewhere a CI size (200 users, 1,000 calls at the same
#     rate): every scenario still runs on every backend (REGISTER and
#     ul.dump, UAC/UAS calls, the error answers, pkg nearly full, the
#     unregister to the exact baseline, the whole malformed corpus); what
#     the full size adds is volume, which does not depend on the build.
#     SIP_USERS/SIP_CALLS set in the environment size every run.
#   The kill storm: storm_cfgs below.
# The pipeline: configuration i+1 builds while configuration i runs its
# Check runner, library drivers, kill storm and the server drivers of
# beside_drivers (none of them times anything: their waits are bounds of
# seconds on what takes milliseconds, a Check case may take up to its
# timeout, 30 s by default); then, once that build is done,
# configuration i's other server drivers run alone: run beside builds
# they failed (sipp's 1,000 calls/s timed out, it_metrics' lock wait was
# not seen) on the 2 cores, and it_srmemctl and it_rpc wait on 1 s
# intervals.  A build never runs beside another build of srmem, so shared
# objects are made once.  Builds beside tests run at nice 10: the tests
# come first, the build takes what CPU they leave.  From the first
# configuration with neither heavy cases nor server drivers on (their
# builds are a mem.o and links, their tests one Check runner), the fuzz
# targets' build (clang, build/<tag>/fuzz/) and build-switches.sh (builds
# of its own, in a copy of the tree) run in the background at nice 10
# too; the fuzz targets run at the end, alone (one per CPU at a time).
# `make test` in one configuration runs everything, at full size.
# Each configuration builds in its own build/<tag>/ folder; "time:" lines
# give each one's build seconds (beside the previous configuration's
# tests), its tests' seconds beside the next build and its server
# drivers' seconds alone; each driver's PASS line its own.
# Ends with "total: N passed, N failed" over everything.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
MAKE=${MAKE:-make}
jobs=$(nproc 2>/dev/null || echo 2)
passed=0 failed=0 bad=""
# The CI size of it_sip (see above); SIP_USERS/SIP_CALLS in the
# environment size every configuration's run instead.
sip_ci="SIP_USERS=${SIP_USERS:-200} SIP_CALLS=${SIP_CALLS:-1000}"
sip_full="SIP_USERS=${SIP_USERS:-1000} SIP_CALLS=${SIP_CALLS:-5000}"
all_drivers="runtime rpc srmemctl sip map metrics"
# The server drivers that may run beside a build: every wait of theirs is
# a bound of seconds on what takes milliseconds.  The others run alone:
# sipp's rate, it_metrics' lock wait, it_srmemctl's leak seeded half-way
# through a 1 s interval, it_rpc's wait for a worker's publish (1 s).
beside_drivers="runtime map"

# The configurations in the order they run: each of the seven that
# compile a new set of objects (build/obj-*) builds beside the tests of
# one that runs the heavy cases (the longest); the second one is not
# m2-d0-futex: it_benchfull, in the first one's tests, builds
# build/m2-d0-futex itself, so that folder is not built beside it.
cfgs="MEMMNG=2 MEMDBG=1 LOCK=futex
MEMMNG=2 MEMDBG=1 SAN=asan,ubsan
MEMMNG=2 MEMDBG=0 LOCK=futex
MEMMNG=1 MEMDBG=1 LOCK=pthread
MEMMNG=2 MEMDBG=0 SAN=asan,ubsan
MEMMNG=0 MEMDBG=0 LOCK=pthread
MEMMNG=1 MEMDBG=1 SHM_CACHE=0
MEMMNG=0 MEMDBG=0 LOCK=futex
MEMMNG=0 MEMDBG=1 LOCK=futex
MEMMNG=1 MEMDBG=0 LOCK=futex
MEMMNG=1 MEMDBG=1 LOCK=futex
MEMMNG=0 MEMDBG=1 LOCK=pthread
MEMMNG=1 MEMDBG=0 LOCK=pthread
MEMMNG=2 MEMDBG=0 LOCK=pthread
MEMMNG=2 MEMDBG=1 LOCK=pthread
MEMMNG=0 MEMDBG=1 SHM_CACHE=0
MEMMNG=2 MEMDBG=1 SHM_CACHE=0"
# RUN_ALL_CFGS="SWITCHES;SWITCHES..." runs those configurations instead
# (to try this script; CI runs them all).
[ -z "${RUN_ALL_CFGS:-}" ] || cfgs=$(echo "$RUN_ALL_CFGS" | tr ';' '\n')
heavy_cfgs=" MEMMNG=2 MEMDBG=1 LOCK=futex | MEMMNG=2 MEMDBG=0 LOCK=futex | MEMMNG=1 MEMDBG=1 LOCK=pthread | MEMMNG=0 MEMDBG=0 LOCK=pthread | MEMMNG=1 MEMDBG=1 SHM_CACHE=0 | MEMMNG=2 MEMDBG=1 SAN=asan,ubsan "
# server_cfgs: TAG = the server drivers it runs (names without it_).
server_of() {
	case "$*" in
	"MEMMNG=2 MEMDBG=1 LOCK=futex" | "MEMMNG=2 MEMDBG=0 LOCK=futex" | \
	"MEMMNG=1 MEMDBG=1 LOCK=pthread" | "MEMMNG=2 MEMDBG=1 SAN=asan,ubsan")
		echo "$all_drivers" ;;
	"MEMMNG=2 MEMDBG=0 SAN=asan,ubsan")
		echo "metrics" ;;
	esac
}
# The kill storm (it_killstorm.sh: 60 trials per backend, 180 in all,
# about 10-25 s) picks every backend at run time too; it runs where the
# build changes what it tests: MEMDBG=1 and MEMDBG=0 (records or none),
# and LOCK=pthread.  `make stress` runs 1,000 per backend
# (doc/RELIABILITY.md, "Kill storm").  The kill sweep (it_killsweep.sh:
# 8 sequences per backend, about 20 s each, mostly waits for a dead
# owner) runs in the same configurations.
storm_cfgs=" MEMMNG=2 MEMDBG=1 LOCK=futex | MEMMNG=0 MEMDBG=0 LOCK=futex | MEMMNG=1 MEMDBG=1 LOCK=pthread "

# build_start SWITCHES...: build a configuration in the background;
# build_wait collects it: 0 when it built, its log shown when it did not.
bpid="" blog="" btag="" bsecs=0
build_start() {
	btag="$*" blog=$(mktemp)
	# shellcheck disable=SC2086
	{ t=$(date +%s)
	  nice -n 10 $MAKE -s -j"$jobs" tests-build "$@" > "$blog" 2>&1
	  echo "$? $(($(date +%s) - t))" > "$blog.rc"; } &
	bpid=$!
}
build_wait() {
	wait "$bpid"
	rc=1 bsecs=0
	read -r rc bsecs < "$blog.rc" 2>/dev/null
	if [ "$rc" -ne 0 ]; then
		echo "=== $btag"
		cat "$blog"
		echo "FAIL: build of $btag"
		failed=$((failed + 1)) bad="$bad [$btag: build]"
	fi
	rm -f "$blog" "$blog.rc"
	return "$rc"
}

# run_tests SWITCHES...: the tests of a built configuration: the Check
# runner, the library's drivers and the kill storm first (beside the
# next configuration's build, started by the caller), then, once that
# build is done, the server drivers alone.
run_tests() {
	tag="$*"
	case "$storm_cfgs" in
	*" $tag "*) storm=1 ;;
	*) storm=0 ;;
	esac
	case "$heavy_cfgs" in
	*" $tag "*) unset CK_EXCLUDE_TAGS ;;
	*) CK_EXCLUDE_TAGS=heavy; export CK_EXCLUDE_TAGS ;;
	esac
	case "$tag" in
	*SAN=*asan*) asan=ASAN_OPTIONS=detect_leaks=1 ;;
	*) asan= ;;
	esac
	# shellcheck disable=SC2016
	dir=$($MAKE -s --no-print-directory \
		--eval 'ci-build-dir: ; @echo $(BUILD)' ci-build-dir "$@")
	echo "=== $tag${CK_EXCLUDE_TAGS:+ (not the heavy cases)}"
	srv=0 some=""
	for d in $(server_of "$@"); do
		case " $beside_drivers " in
		*" $d "*) srv=1 some="$some $d" ;;
		esac
	done
	log=$(mktemp)
	# shellcheck disable=SC2086
	env $asan SERVER_TESTS=$srv SERVER_DRIVERS="$some" KILLSTORM=$storm \
		sh tests/run.sh "$dir" > "$log" 2>&1
	count "$tag" "$log"
}
run_server() {
	tag="$*"
	drivers=""
	for d in $(server_of "$@"); do
		case " $beside_drivers " in
		*" $d "*) ;;
		*) drivers="$drivers $d" ;;
		esac
	done
	[ -n "$drivers" ] || return 0
	drivers=${drivers# }
	sip=$sip_ci
	[ "$tag" != "MEMMNG=2 MEMDBG=1 LOCK=futex" ] || sip=$sip_full
	log=$(mktemp)
	# shellcheck disable=SC2086
	env $asan $sip SERVER_TESTS=only SERVER_DRIVERS="$drivers" \
		sh tests/run.sh "$dir" > "$log" 2>&1
	echo "server drivers ($drivers; $sip):"
	count "$tag" "$log"
}

# count TAG LOG: print LOG's results, add its closing line to the totals.
count() {
	grep -E '^(FAIL|PASS|[0-9]+%: Checks|total:|time: Check)|:[EF]:' "$2"
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

# extras_start: the fuzz targets' build, then build-switches.sh, in the
# background at nice 10; extras_wait collects both results.
xpid="" xlog=$(mktemp) swlog=$(mktemp)
extras_start() {
	# shellcheck disable=SC2086
	{ t=$(date +%s)
	  if command -v clang >/dev/null 2>&1; then
		nice -n 10 $MAKE -s -j"$jobs" fuzz-build > "$xlog" 2>&1
		echo "$? $(($(date +%s) - t))" > "$xlog.rc"
	  fi
	  t=$(date +%s)
	  nice -n 10 sh tests/build-switches.sh > "$swlog" 2>&1
	  echo "$? $(($(date +%s) - t))" > "$swlog.rc"; } &
	xpid=$!
}

start=$(date +%s)
# The pipeline: configuration i's tests run while configuration i+1
# builds; that build is waited for before i's server drivers.
n=$(echo "$cfgs" | wc -l)
cfg() { echo "$cfgs" | sed -n "${1}p"; }
# shellcheck disable=SC2046
build_start $(cfg 1)
build_wait; ok=$?
i=1
while [ $i -le "$n" ]; do
	cur=$(cfg $i) cur_ok=$ok cur_build=$bsecs
	next=$(cfg $((i + 1)))
	# shellcheck disable=SC2086
	[ -z "$next" ] || build_start $next
	[ -n "$xpid" ] || [ -n "$(server_of "$cur")" ] ||
		case "$heavy_cfgs" in *" $cur "*) ;; *) extras_start ;; esac
	t0=$(date +%s) t1=$t0
	if [ "$cur_ok" -eq 0 ]; then
		# shellcheck disable=SC2086
		run_tests $cur
		t1=$(date +%s)
	fi
	ok=0
	if [ -n "$next" ]; then build_wait; ok=$?; fi
	t2=$(date +%s)
	if [ "$cur_ok" -eq 0 ]; then
		# shellcheck disable=SC2086
		run_server $cur
		echo "time: $cur: build $cur_build s, tests $((t1 - t0)) s beside the next build, server drivers $(($(date +%s) - t2)) s alone"
	fi
	i=$((i + 1))
done

[ -n "$xpid" ] || extras_start
wait "$xpid"
echo "=== build switches (beside the last configurations)"
rc=1 secs=0
read -r rc secs < "$swlog.rc" 2>/dev/null
if [ "$rc" = 0 ]; then
	passed=$((passed + 1)); echo "PASS: build-switches"
else
	failed=$((failed + 1)); bad="$bad [build-switches]"
	cat "$swlog"; echo "FAIL: build-switches"
fi
echo "time: build switches: $secs s (beside the tests)"

echo "=== fuzz (libFuzzer, ${FUZZ_SECONDS:-10} s per target)"
t0=$(date +%s)
if command -v clang >/dev/null 2>&1; then
	rc=1 secs=0
	read -r rc secs < "$xlog.rc" 2>/dev/null
	echo "time: fuzz build: $secs s (beside the tests)"
	log=$(mktemp)
	if [ "$rc" = 0 ] &&
		FUZZ_SECONDS=${FUZZ_SECONDS:-10} $MAKE -s -j"$jobs" fuzz > "$log" 2>&1; then
		passed=$((passed + 1)); echo "PASS: fuzz"
	else
		failed=$((failed + 1)); bad="$bad [fuzz]"; echo "FAIL: fuzz"
		cat "$xlog"
	fi
	grep -E '^(PASS|FAIL): fuzz |^    ' "$log"
	rm -f "$log"
else
	failed=$((failed + 1)); bad="$bad [fuzz: no clang]"
	echo "FAIL: fuzz: clang is not installed (make deps)"
fi
echo "time: fuzz: $(($(date +%s) - t0)) s"
rm -f "$xlog" "$xlog.rc" "$swlog" "$swlog.rc"
echo "time: all: $(($(date +%s) - start)) s"

[ -z "$bad" ] || echo "failing:$bad"
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
