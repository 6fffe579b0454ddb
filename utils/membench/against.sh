#!/bin/sh
# against.sh - two builds of membench side by side: the same command run
# alternately with an old and a new build, a ratio per round, the median.
#
#   sh utils/membench/against.sh OLD_BINDIR NEW_BINDIR N MEMBENCH-ARGS...
#   e.g. sh utils/membench/against.sh /tmp/old/build/m2-d0-futex/membench \
#            build/m2-d0-futex/membench 7 --alloc fm,qm,tlsf --workload w2 --runs 1
#
# Round i runs `OLD/membench --json ARGS` and `NEW/membench --json ARGS`,
# old first in odd rounds and new first in even ones, so that drift of a
# shared host hits both alike; JSON lines are kept in $OUT.  Printed per
# workload, allocator, P and metric: the median over rounds of each build
# and the median of the per-round ratios, "speed-up" = old / new for
# times (ns) and new / old for throughputs (ops_per_s, W4's msgs_per_s), plain medians for
# the rest (overhead, faults and context switches per Mop), with the load
# average before the first and after the last round.  A membench that
# fails (a run failed, or the library reported an error) is named, its
# stderr kept in $OUT, and the exit status is 1, after the tables.
set -e
[ $# -ge 4 ] || { echo "usage: $0 OLD_BINDIR NEW_BINDIR N MEMBENCH-ARGS..." >&2; exit 2; }
old=$1 new=$2 n=$3
shift 3
out=${OUT:-$(mktemp -d /tmp/membench-against.XXXXXX)}
mkdir -p "$out"
echo "command: membench --json $*  (old $old, new $new, $n rounds; JSON in $out)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
i=1 status=0
while [ "$i" -le "$n" ]; do
	if [ $((i % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
	for b in $order; do
		eval dir=\$$b
		"$dir/membench" --json "$@" > "$out/$b.$i.json" 2> "$out/$b.$i.err" ||
			{ status=1; echo "round $i, $b build: membench failed (stderr in $out/$b.$i.err)"; }
	done
	i=$((i + 1))
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
awk -f "$(dirname "$0")/jsonl.awk" -f "$(dirname "$0")/rounds.awk" -f "$(dirname "$0")/against.awk" "$out"/old.*.json "$out"/new.*.json
exit $status
