#!/bin/sh
# indirection.sh [RUNS] - what calling the backend through the pool's
# function table costs, on W2 (sip-mix, BENCH.md sizes).
#
# Builds the library and the membench worker twice into a temporary folder,
# both with -O2 -flto: once as shipped (every backend call goes through
# pool->be), once with -DMEM_DIRECT=1 (the pool's backend pinned to MEMMNG's
# table, which link-time optimisation turns into direct calls).  Then runs
# W2 for that backend RUNS times (default 7), alternating the two builds,
# and prints the median ns/op of each and their ratio.
#   MEMMNG=0|1|2 (default 2) and MEMDBG=0|1 (default 1) pick the build.
set -eu
runs=${1:-7}
top=$(cd "$(dirname "$0")/../.." && pwd)
mm=${MEMMNG:-2}
dbg=${MEMDBG:-1}
name=$(echo "fm qm tlsf" | cut -d' ' -f$((mm + 1)))
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
flags="-std=gnu11 -O2 -flto -DMEMMNG=$mm -DMEMDBG=$dbg -DSHM_CACHE=1 -DLOCK_FUTEX=1"

build() {   # build NAME EXTRA-FLAGS
	mkdir -p "$tmp/$1"
	for f in "$top"/mem/*.c; do
		$cc $flags $2 -c "$f" -o "$tmp/$1/$(basename "$f" .c).o"
	done
	$cc $flags $2 -I"$top/mem" -o "$tmp/$1/worker" \
		"$top"/utils/membench/worker.c "$top"/utils/membench/workloads.c \
		"$top"/utils/membench/team.c "$top"/utils/membench/ring.c \
		"$top"/utils/membench/timer.c "$top"/utils/membench/alloc_srmem.c \
		"$tmp/$1"/*.o -lpthread
}

build table ""
build direct "-DMEM_DIRECT=1"
for i in $(seq "$runs"); do
	for b in table direct; do
		"$tmp/$b/worker" w2 "$name" | awk -v b="$b" \
			'$2 == "ns_per_op" { print b, $3 }' >> "$tmp/results"
	done
done
med() { grep "^$1 " "$tmp/results" | cut -d' ' -f2 | sort -g |
	awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
t=$(med table)
d=$(med direct)
echo "W2 $name MEMDBG=$dbg, median of $runs: through the table $t ns/op, direct $d ns/op"
awk -v t="$t" -v d="$d" 'BEGIN { printf "indirection cost: %+.1f%%\n", (t / d - 1) * 100 }'
