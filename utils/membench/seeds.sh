#!/bin/sh
# seeds.sh - one membench command over seeds 1..N: the spread of a figure
# that is deterministic for a seed (W6 and W6s utilisation), where runs of
# one seed would all agree.
#
#   sh utils/membench/seeds.sh BINDIR N MEMBENCH-ARGS...
#   e.g. sh utils/membench/seeds.sh build/m2-d0-futex/membench 12 \
#            --alloc tlsf,fm,qm --workload w6 --runs 1
#
# Seed s runs `BINDIR/membench --json --seed s MEMBENCH-ARGS` (JSON lines
# kept in $OUT, default a new folder under /tmp).  Printed per workload: a
# Markdown table with one row per allocator, the mean, lowest and highest
# utilisation over the seeds (each seed's median), the mean of the worst
# rounds, and the library's error reports over all seeds.  Exit status 1
# when a membench invocation failed (a run failed or the library reported
# an error), after the table.
set -e
[ $# -ge 3 ] || { echo "usage: $0 BINDIR N MEMBENCH-ARGS..." >&2; exit 2; }
bindir=$1 n=$2
shift 2
out=${OUT:-$(mktemp -d /tmp/membench-seeds.XXXXXX)}
mkdir -p "$out"
s=1 status=0 files=""
while [ "$s" -le "$n" ]; do
	"$bindir/membench" --json --seed "$s" "$@" > "$out/seed$s.json" ||
		{ status=1; echo "seed $s: membench failed (see stderr)"; }
	files="$files $out/seed$s.json"
	s=$((s + 1))
done
echo "seeds 1..$n; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
awk -v n="$n" -f "$(dirname "$0")/jsonl.awk" -f "$(dirname "$0")/seeds.awk" $files
exit $status
