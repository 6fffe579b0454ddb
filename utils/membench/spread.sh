#!/bin/sh
# spread.sh - the same membench command, invoked N times, and its figures
# side by side: how far one invocation's medians are from another's.
#
#   sh utils/membench/spread.sh [--seeds] BINDIR N MEMBENCH-ARGS...
#   e.g. sh utils/membench/spread.sh build/m2-d0-futex/membench 3 \
#            --alloc tlsf,tlsf-lock,fm,mimalloc --workload w3 --runs 5
#        sh utils/membench/spread.sh --seeds build/m2-d0-futex/membench 12 \
#            --alloc tlsf,fm,qm --workload w6 --runs 1
#
# Each invocation is `BINDIR/membench --json MEMBENCH-ARGS`, its JSON lines
# kept in $OUT (default: a new folder under /tmp), with the load average
# before and after.  Printed: the command, then per workload a Markdown
# table with one row per allocator and parameter (W3's P, W4's pairs):
# the throughput median of every invocation, its ratio to P = 1 (W3) and
# to the same backend's global-lock mode (tlsf / tlsf-lock ...), each as
# "inv1 / inv2 / inv3", and faults, voluntary and involuntary context
# switches per million ops (medians, every invocation), and the library's
# error reports per cell.
#
# --seeds: invocation i runs with `--seed i`, for figures that are
# deterministic for a seed (W6, W6s utilisation), and the table gives per
# allocator the mean, lowest and highest over the seeds (seeds.awk).
#
# Exit status 1 when an invocation failed (a run failed or the library
# reported an error: membench's own status), after the tables.
set -e
summary=spread.awk seeds=0
[ "${1:-}" = --seeds ] && { summary=seeds.awk seeds=1; shift; }
[ $# -ge 3 ] || { echo "usage: $0 [--seeds] BINDIR N MEMBENCH-ARGS..." >&2; exit 2; }
bindir=$1 n=$2
shift 2
out=${OUT:-$(mktemp -d /tmp/membench-spread.XXXXXX)}
mkdir -p "$out"
echo "command: $bindir/membench $*  (x$n invocations$([ $seeds = 0 ] || echo ", --seed 1..$n"); JSON in $out)"
i=1 status=0 files=""
while [ "$i" -le "$n" ]; do
	l0=$(cut -d' ' -f1-3 /proc/loadavg)
	ok="" seed=""
	[ $seeds = 0 ] || seed="--seed $i"
	# shellcheck disable=SC2086
	"$bindir/membench" --json $seed "$@" > "$out/inv$i.json" ||
		{ status=1; ok=" (failed: see stderr)"; }
	echo "invocation $i${seed:+ ($seed)}: load average before $l0, after $(cut -d' ' -f1-3 /proc/loadavg)$ok"
	files="$files $out/inv$i.json"
	i=$((i + 1))
done
echo
awk -v n="$n" -f "$(dirname "$0")/jsonl.awk" -f "$(dirname "$0")/$summary" $files
exit $status
