#!/bin/sh
# bench-full.sh - every generated table and plot of doc/PERFORMANCE.md,
# from a fresh clone, with one command (`make bench-full`).
#
#   sh utils/membench/bench-full.sh [--quick] [--builds "d1 d0"]
#                                   [--doc FILE] [--out DIR]
#
# Builds what it measures: the default build (MEMMNG=2 MEMDBG=1, tag
# m2-d1-futex) and the release build (MEMDBG=0, m2-d0-futex), each with
# membench and the worker of every system allocator that is installed
# (`make deps` installs jemalloc, mimalloc, tcmalloc and gnuplot), and
# tests/prog_figures.  Then runs, in each build, every BENCH.md workload at
# its documented size: W1, W2, W5 (median of 5 runs), W6 and W6s (one run:
# they are deterministic for a seed), and W3 and W4 as three separate
# invocations of one command each (spread.sh: the spread between
# invocations, with faults, context switches and library errors per cell);
# in the release build also W6 over seeds 1..12 and W6s over 1..8
# (spread.sh --seeds); then the per-fragment overhead and the populate
# figures (prog_figures); W2 and W1 with the pkg pool in 2 MiB pages
# against 4 KiB ones, beside jemalloc (at its defaults, and told to use
# huge pages); W3 and the populate figures with 2 MiB shm
# pages against 4 KiB ones (setting shmem_enabled to advise for that
# section when it is not and the user may: huge_pages below),
# and the two plots (gnuplot) from the release build's W3 and W5.
# Then issue 14's before/after: commit 4ce4f3f's library, built in a
# temporary git worktree (removed after) with this tree's membench driver
# and workers, against each build side by side (against.sh, rounds
# alternating): W2 and W1 for fm, qm and tlsf in both builds (and W2 with
# both builds' pkg pools in 4 KiB pages, MEMBENCH_PKG_HUGE_PAGES=0: this
# tree asks for 2 MiB ones by default, 4ce4f3f has none), W3 with the
# caches off (fm-lock, qm-lock, tlsf-lock, P = 2, 4, 8) in the release
# build twice: as each build ships (this tree's workers map the segment
# in at start, shm_populate; 4ce4f3f has no populate, its workers fault
# pages in as they go, some inside the lock), and with both builds'
# workers faulting (MEMBENCH_SHM_POPULATE=0: what the lock and the heap
# alone buy); 4 KiB pages in both (MEMBENCH_SHM_HUGE_PAGES=0); a table
# per backend with issue 14's goals (beforeafter.awk).  Last, "against the targets":
# every goal of issues 12 and 14 next to the figure this run measured for
# it, read from the JSON of the sections above (targets.awk).
#
# Every section's text goes between the markers
#   <!-- bench-full:NAME begin -->  ...  <!-- bench-full:NAME end -->
# in FILE (default doc/PERFORMANCE.md; with --quick a copy of it in DIR),
# the plots beside FILE, with the exact command above its
# tables and the load average before and after it; everything outside the
# markers is left as it is.  A section the run made with no markers in
# FILE is an error (nothing is written); markers the run did not make
# (another --builds) keep their text.  Raw outputs (Markdown, JSON, the
# workers' stderr) stay in DIR (default build/bench-full).
#
# Exit status 1 when a command failed: a membench run failed or printed a
# library error report (doc/PERFORMANCE.md is still written, the failure
# visible in its tables' "library errors" column); 2 on bad usage or a
# missing tool.
#
# Time: 11 to 23 minutes (644 s on 2026-12-02 on one machine, 1,391 s
# the same day on a slower one with the huge-page section, 1,323 s on
# 2026-12-03 with the pkg huge-page sections, 1,030 s on
# 2026-12-01) on a fresh clone, host otherwise idle (figures of the
# 1,030 s run): the
# before/after step 168 s (5 rounds of W2 and W1 at
# --scale 0.5 in both builds, W3 at 0.25 in the release build, the two
# 4ce4f3f builds), W3 about 270 s per build (3 invocations x 5 runs x
# P = 1, 2, 4, 8 of tlsf, tlsf-lock, mimalloc and the harness); a loaded host
# takes several times longer (W2 alone: 5 minutes at load 14 against ~30
# s quiet).  Each section states its own time, the machine section the
# total.  Every membench run is bounded by its --timeout (900 s).
# --quick runs the same sections at scale 0.002, one run each, with fewer
# allocators, the before/after in 2 rounds (a test of the plumbing, not
# figures: tests/it_benchfull.sh):
# under a minute at load 15, less on a quiet host.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
MAKE=${MAKE:-make}
quick=0 builds="d1 d0" doc="" out=build/bench-full
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--builds) builds=$2; shift ;;
	--doc) doc=$2; shift ;;
	--out) out=$2; shift ;;
	*) echo "usage: $0 [--quick] [--builds \"d1 d0\"] [--doc FILE] [--out DIR]" >&2
		exit 2 ;;
	esac
	shift
done
mkdir -p "$out" || exit 2
outabs=$(cd "$out" && pwd)
# --quick without --doc writes into a copy (its figures are no figures).
if [ -z "$doc" ] && [ $quick = 1 ]; then
	cp doc/PERFORMANCE.md "$out/PERFORMANCE.md" || exit 2
	doc=$out/PERFORMANCE.md
fi
doc=${doc:-doc/PERFORMANCE.md}
[ -f "$doc" ] || { echo "bench-full: $doc: no such file" >&2; exit 2; }
command -v gnuplot >/dev/null 2>&1 ||
	{ echo "bench-full: gnuplot is missing: apt-get install gnuplot-nox (make deps)" >&2; exit 2; }
for b in $builds; do
	case $b in d0|d1) ;; *) echo "bench-full: --builds takes d1 and d0" >&2; exit 2 ;; esac
done
docdir=$(dirname "$doc")
sec=$out/sections
rm -rf "$sec"
mkdir -p "$sec" || exit 2
mb=utils/membench
# What each section runs.  --quick: scale 0.002, one run, fewer
# allocators, and W3/W4 workers that do not populate the 512 MiB segment
# (MEMBENCH_SHM_POPULATE=0: most of a tiny run's time); the same sections.
if [ $quick = 1 ]; then
	size="--scale 0.002 --runs 1" one="--scale 0.002 --runs 1" shm_mib=64
	all=tlsf,glibc w6=tlsf w6s=tlsf w3=tlsf,tlsf-lock w4=tlsf,tlsf-lock
	fq=tlsf,tlsf-noq slab=tlsf,tlsf-slab
	seeds6=2 seeds6s=2 w6seeds=tlsf w6sseeds=tlsf
	shm_env="MEMBENCH_SHM_POPULATE=0"
	ba_rounds=2 ba_size="--scale 0.002" ba_w3size="--scale 0.002"
else
	size="--runs 5" one="--runs 1" shm_mib=1024
	all=tlsf,fm,qm,glibc,jemalloc,mimalloc,tcmalloc w6=tlsf,fm,qm
	w6s=tlsf,fm,qm,tlsf-lock,fm-lock,qm-lock w3=tlsf,tlsf-lock,mimalloc
	w4=tlsf,tlsf-lock shm_env=""
	fq=tlsf,tlsf-noq,fm,fm-noq,qm,qm-noq,jemalloc
	slab=tlsf,tlsf-slab,fm,fm-slab,qm,qm-slab,jemalloc
	seeds6=12 seeds6s=8 w6seeds=tlsf,fm,qm w6sseeds=tlsf,tlsf-lock
	ba_rounds=5 ba_size="--scale 0.5" ba_w3size="--scale 0.25"
fi
# The "before" of issue 14's before/after.
base_rev=4ce4f3f
status=0 failed="" nsec=0
t_start=$(date +%s)

say() { echo "bench-full: $*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
bindir() { echo "build/m2-$1-futex"; }

# --- building ----------------------------------------------------------------

# The configuration of build $1 (d0, d1), whatever config.mak says.
cfg() { echo "MEMMNG=2 MEMDBG=${1#d} LOCK=futex SHM_CACHE=1 DIRECT=0 SAN="; }

build() {
	say "building $(bindir "$1") (library, membench and its workers, prog_figures)"
	# shellcheck disable=SC2046
	$MAKE -s -j2 -C $mb $(cfg "$1") > "$out/build-$1.log" 2>&1 &&
		$MAKE -s -j2 $(cfg "$1") "$top/$(bindir "$1")/tests/prog_figures" \
			>> "$out/build-$1.log" 2>&1 ||
		{ cat "$out/build-$1.log" >&2; say "the build of $1 failed"; exit 2; }
}

# --- one section ----------------------------------------------------------------

# Keep the tables of a command's Markdown: membench's header (machine,
# versions: the machine section has them) and its "### wN" title go, the
# doc has its own headings; spread.sh's "command:" line goes (the section
# names the command).  Trailing blank lines go.
tidy() {
	awk '
	/^# membench:/ { head = 1; next }
	head && /^### / { head = 0; next }
	head || /^membench: done in / || /^command: / { next }
	/^$/ { blank += out; next }
	{ while (blank > 0) { print ""; blank-- } print; out = 1 }' "$1"
}

# section NAME NOTE COMMAND...: run COMMAND, its stdout to DIR/NAME.md,
# stderr to NAME.err; the section is the command, the load around it,
# its time, NOTE (when not empty) and the tidied tables.
section() {
	name=$1 note=$2
	shift 2
	nsec=$((nsec + 1))
	say "[$nsec] $name: $*"
	l0=$(loadavg) t0=$(date +%s)
	"$@" > "$out/$name.md" 2> "$out/$name.err"
	rc=$?
	l1=$(loadavg) t1=$(date +%s)
	say "[$nsec] $name: $((t1 - t0)) s, exit status $rc"
	{
		printf '`%s`\n\n' "$*"
		printf 'Load average (1, 5, 15 min) before %s, after %s; %d s.' \
			"$l0" "$l1" $((t1 - t0))
		[ -z "$note" ] || printf '  %s' "$note"
		printf '\n\n'
		if [ $rc != 0 ]; then
			printf '**The command failed (exit status %d): a run failed or the library reported errors (its stderr: `%s`).**\n\n' \
				$rc "$out/$name.err"
			status=1 failed="$failed $name"
		fi
		tidy "$out/$name.md"
	} > "$sec/$name.md"
}

# --- the machine ----------------------------------------------------------------

machine() {
	cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)
	caches=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^\(L[23]\) cache: *\(.*\)/\1 \2/p' | paste -sd, - | sed 's/,/, /g')
	mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
	thp_shm=$(cat "$thp" 2>/dev/null || echo unknown)
	thp_anon=$(cat "$thp_private" 2>/dev/null || echo unknown)
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	# the run's own writes (the document, its plots) are not changes
	dirty=$(git status --porcelain --untracked-files=no 2>/dev/null |
		grep -v -e " $doc\$" -e " $docdir/[^/]*\.dat\$" \
			-e " $docdir/[^/]*\.svg\$" | head -n 1)
	{
		printf 'Made by `sh utils/membench/bench-full.sh%s` (`make bench-full`) on %s, commit %s%s, builds %s, in %d min.\n\n' \
			"$([ $quick = 1 ] && echo ' --quick')" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
			"$rev" "$([ -n "$dirty" ] && echo ' with local changes')" "$builds" \
			$((($(date +%s) - t_start + 30) / 60))
		[ $quick = 0 ] || printf '**A quick pass (--quick): N and op counts x 0.002, one run each, fewer allocators.  It tests the script; its figures are not the BENCH.md figures.**\n\n'
		printf -- '- machine: %s, %s CPUs (nproc)%s, %s RAM; %s; %s\n' "$cpu" \
			"$(nproc)" "${caches:+, $caches}" "$mem" "$(uname -sr)" \
			"$(ldd --version 2>/dev/null | head -n 1 | sed 's/^ldd //')"
		printf -- '- shmem transparent huge pages (%s): %s\n' "$thp" "$thp_shm"
		printf -- '- private transparent huge pages, the pkg pool'"'"'s (%s): %s\n' "$thp_private" "$thp_anon"
		printf -- '- load average (1, 5, 15 min) before the first command %s, after the last %s\n' \
			"$load_first" "$(loadavg)"
		for b in $builds; do
			"$(bindir "$b")/membench/membench" --list |
				awk -v b="$(bindir "$b")" '/^allocators:/ { on = 1; next }
				on && /not built/ { s = s "; " $1 " not built (not installed): skipped" }
				on && !/not built/ { $1 = ""; $2 = ""; sub(/^ +/, "")
					if (!($0 in seen)) { seen[$0] = 1; s = s "; " $0 } }
				END { printf "- %s/membench: %s\n", b, substr(s, 3) }'
		done
	} > "$sec/machine.md"
}

# --- the workloads of one build ----------------------------------------------

workloads() {
	d=$1 bin=$(bindir "$1")/membench
	section "w1-$d" "" $bin/membench $size --alloc $all --workload w1
	section "w2-$d" "" $bin/membench $size --alloc $all --workload w2 \
		--json-out "$out/w2-$d.json"
	section "w5-$d" "" $bin/membench $size --alloc $all --workload w5 \
		--json-out "$out/w5-$d.json"
	section "w6-$d" "One run: W6 is deterministic for a seed." \
		$bin/membench $one --alloc $w6 --workload w6
	section "w6s-$d" "One run: W6s is deterministic for a seed." \
		$bin/membench $one --alloc $w6s --workload w6s
	section "w3-$d" "" env $shm_env OUT="$out/w3-$d" sh $mb/spread.sh $bin 3 \
		--alloc $w3 --workload w3 $size
	section "w4-$d" "" env $shm_env OUT="$out/w4-$d" sh $mb/spread.sh $bin 3 \
		--alloc $w4 --workload w4 $size
	[ "$d" = d0 ] || return 0
	# What the pkg free queue buys (mem/fqueue.h): each backend with and
	# without it, side by side, W2 and W1 (the release build: MEMDBG=1
	# has no queue).
	section "fqueue-$d" "" $bin/membench $size --alloc $fq \
		--workload w2,w1
	# Small pkg objects in spans (pkg_slab, off by default), side by side.
	section "slab-$d" "" $bin/membench $size --alloc $slab \
		--workload w2,w1,w6
	# W6's and W6s's spread over seeds, release build (the targets' figure).
	section "w6-seeds-$d" "" env OUT="$out/w6-seeds-$d" sh $mb/spread.sh \
		--seeds $bin $seeds6 --alloc $w6seeds --workload w6 $one
	section "w6s-seeds-$d" "" env OUT="$out/w6s-seeds-$d" sh $mb/spread.sh \
		--seeds $bin $seeds6s --alloc $w6sseeds --workload w6s $one
}

# --- prog_figures: overhead per fragment, populate ------------------------------

# The overhead table of every build, one header.
overhead() {
	for b in $builds; do
		"$(bindir "$b")/tests/prog_figures" overhead > "$out/overhead-$b.md" || return 1
	done
	first=1
	for b in $builds; do
		if [ $first = 1 ]; then cat "$out/overhead-$b.md"; else sed 1,2d "$out/overhead-$b.md"; fi
		first=0
	done
}

figures() {
	cmds=""
	for b in $builds; do
		cmds="$cmds${cmds:+; }$(bindir "$b")/tests/prog_figures overhead"
	done
	nsec=$((nsec + 1))
	say "[$nsec] overhead: $cmds"
	{
		printf '`%s`\n\n' "$cmds"
		overhead || { status=1 failed="$failed overhead"; }
	} > "$sec/overhead.md"
	b=$(echo "$builds" | cut -d' ' -f1)
	section populate "" "$(bindir "$b")/tests/prog_figures" populate $shm_mib
}

# --- huge pages: what 2 MiB pages buy W2 (pkg) and W3 (shm) ------------------

thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled
thp_private=/sys/kernel/mm/transparent_hugepage/enabled
# The bracketed word of a THP mode file ($1, default shmem_enabled).
thp_mode() { sed -n 's/.*\[\(.*\)\].*/\1/p' "${1:-$thp}" 2>/dev/null; }
thp_restore() {
	[ -z "${thp_was:-}" ] && return 0
	echo "$thp_was" > "$thp" && say "shmem_enabled back to '$thp_was'"
	thp_was=""
}

# W3 with shm_huge_pages at its default (tlsf: 2 MiB pages) and at 0
# (tlsf-4k), and without the free queues (tlsf-noq, 2 MiB pages: what the
# shm queue buys where the TLB no longer hides it), and the populate figures with huge pages, in build $1.  They
# need shmem_enabled at advise (or always, within_size): where it is not,
# a full run that may write the file (root) sets advise for this section
# only and sets it back after (also when interrupted); else (--quick, or
# not root) the section runs as the host is, and its note says that both
# have 4 KiB pages.
huge_pages() {
	b=$1 bin=$(bindir "$1")/membench mode=$(thp_mode) thp_was=""
	note="shmem_enabled '$mode'."
	case $mode in
	advise|always|within_size|force) ;;
	*)	if [ $quick = 0 ] && [ -w "$thp" ]; then
			thp_was=$mode
			trap 'thp_restore; exit 2' INT TERM
			echo advise > "$thp" || thp_was=""
		fi
		if [ -n "$thp_was" ]; then
			note="shmem_enabled set from '$mode' to 'advise' by bench-full for this section (as root: \`echo advise > $thp\`), and back after."
		else
			note="shmem_enabled '$mode', left as it is (--quick, or not root): both have 4 KiB pages here; as root, \`echo advise > $thp\` first."
		fi ;;
	esac
	pmode=$(thp_mode "$thp_private")
	section huge-pkg "transparent_hugepage/enabled '$pmode', as the host has it (madvise and always give the pkg pool 2 MiB pages; never: all rows 4 KiB)." \
		$bin/membench $size --alloc tlsf,tlsf-4k,fm,fm-4k,qm,qm-4k,jemalloc \
		--workload w2,w1
	section huge-pkg-jemalloc "jemalloc told to use huge pages too (its default, thp:default, leaves them to the kernel's setting: none under madvise)." \
		env MALLOC_CONF=thp:always,metadata_thp:always $bin/membench $size \
		--alloc tlsf,jemalloc --workload w2
	section huge-w3 "$note" env $shm_env OUT="$out/huge-w3" sh $mb/spread.sh \
		$bin 3 --alloc tlsf,tlsf-4k,tlsf-noq --workload w3 $size
	section huge-populate "$note" "$(bindir "$b")/tests/prog_figures" \
		populate $shm_mib huge
	thp_restore
	trap - INT TERM
}

# --- before/after: commit 4ce4f3f's library, this driver (issue 14) -------------

basedir() { echo "$out/base-$1"; }

# The worktree of $base_rev, gone (also when interrupted).
base_remove() {
	[ -n "${base_wt:-}" ] || return 0
	git worktree remove --force "$base_wt/tree" > /dev/null 2>&1
	rm -rf "$base_wt"
	git worktree prune > /dev/null 2>&1
	base_wt=""
}

# $base_rev's library and this tree's membench for every build, into
# DIR/base-d0, base-d1 (outside the worktree, which goes).  The Makefile
# probes the old tree's mem.h for what alloc_srmem.c must go without.
base_build() {
	base_wt=$(mktemp -d "${TMPDIR:-/tmp}/bench-full-base.XXXXXX") || return 1
	trap 'base_remove; exit 2' INT TERM
	say "building commit $base_rev's library with this membench, in $base_wt/tree"
	ok=0
	if git worktree add -q --detach "$base_wt/tree" $base_rev > "$out/build-base.log" 2>&1; then
		ok=1
		for b in $builds; do
			rm -rf "$(basedir "$b")"
			# shellcheck disable=SC2046
			$MAKE -s -j2 -C $mb TOPDIR="$base_wt/tree" BUILD="$outabs/base-$b" \
				$(cfg "$b") >> "$out/build-base.log" 2>&1 || { ok=0; break; }
		done
	fi
	base_remove
	trap - INT TERM
	[ $ok = 1 ] || { cat "$out/build-base.log" >&2; say "the build of $base_rev failed"; return 1; }
}

# against TAG ENV ARGS...: against.sh of build TAG's base and this tree,
# JSON in DIR/against-TAG, its table in against-TAG.md; the command on
# stdout for the section.
against() {
	tag=$1 env=$2
	shift 2
	b=${tag%%-*}
	rm -rf "$out/against-$tag"
	say "against $tag: $*"
	env $env OUT="$out/against-$tag" sh $mb/against.sh "$(basedir "$b")" \
		"$(bindir "$b")/membench" $ba_rounds "$@" > "$out/against-$tag.md" \
		2> "$out/against-$tag.err" || { status=1 failed="$failed against-$tag"; }
	printf '`%ssh %s/against.sh %s %s %d %s`\n\n' "${env:+env $env }" $mb \
		"$(basedir "$b")" "$(bindir "$b")/membench" $ba_rounds "$*"
}

before_after() {
	nsec=$((nsec + 1))
	say "[$nsec] before-after: commit $base_rev against $builds"
	l0=$(loadavg) t0=$(date +%s)
	rm -rf "$out"/against-*     # an earlier run's rounds (other --builds) go
	{
		if base_build; then
			for b in $builds; do
				against "$b-pkg" "" --alloc fm,qm,tlsf --workload w2,w1 --runs 1 $ba_size
				against "$b-pkg4k" "MEMBENCH_PKG_HUGE_PAGES=0" --alloc fm,qm,tlsf --workload w2 --runs 1 $ba_size
				[ "$b" = d1 ] || {
					against "$b-w3" "MEMBENCH_SHM_HUGE_PAGES=0" --alloc fm-lock,qm-lock,tlsf-lock \
						--workload w3 --runs 1 $ba_w3size
					against "$b-w3faulted" "MEMBENCH_SHM_POPULATE=0 MEMBENCH_SHM_HUGE_PAGES=0" --alloc fm-lock,qm-lock,tlsf-lock \
						--workload w3 --runs 1 $ba_w3size
				}
			done
			printf 'Load average (1, 5, 15 min) before %s, after %s; %d s (the builds of %s included).  ' \
				"$l0" "$(loadavg)" $(($(date +%s) - t0)) $base_rev
			printf '`%s` is commit %s'"'"'s library (built in a temporary git worktree, removed after) with this tree'"'"'s membench driver and workers; `against.sh` runs the two builds alternately, one run each per round, %d rounds; W2 and W1 as each build ships (this tree'"'"'s pkg pool asks for 2 MiB pages where `transparent_hugepage/enabled` gives them, 4ce4f3f'"'"'s has 4 KiB ones), and W2 again with both in 4 KiB pages (`MEMBENCH_PKG_HUGE_PAGES=0`: the code alone); W3 with the caches off, release build only, 4 KiB pages, first as each build ships (this tree'"'"'s workers map the segment in at start, `shm_populate`; 4ce4f3f'"'"'s fault pages in as they go, some while they hold the lock), then with both builds'"'"' workers faulting (`MEMBENCH_SHM_POPULATE=0`: the lock and the heap alone).  Per-metric tables of every figure: `%s/against-*.md`.\n\n' \
				"$out/base-dN" $base_rev $ba_rounds "$out"
			[ -z "$failed" ] || case $failed in *against-*)
				printf '**A round failed or the library reported errors (see `%s/against-*.err`).**\n\n' "$out" ;; esac
			awk -v want=before-after -f $mb/jsonl.awk -f $mb/rounds.awk \
				-f $mb/beforeafter.awk "$out"/against-*/*.json
		else
			printf '`git worktree add --detach TMP %s; make -C %s TOPDIR=TMP ...`\n\n' $base_rev $mb
			printf '**The build of commit %s failed (is it in this clone?): no before/after (`%s/build-base.log`).**\n' \
				$base_rev "$out"
			status=1 failed="$failed before-after"
		fi
	} > "$sec/before-after.md"
}

# --- against the targets ---------------------------------------------------------

# Issues 12's and 14's goals against this run's JSON: the files of its
# builds that exist (not an earlier run's other build).
targets() {
	nsec=$((nsec + 1))
	say "[$nsec] targets"
	files=""
	for f in "$out/huge-w3"/inv*.json; do
		[ -f "$f" ] && files="$files $f"
	done
	for b in $builds; do
		for f in "$out/w2-$b.json" "$out/w5-$b.json" "$out/w3-$b"/inv*.json \
			"$out/w4-$b"/inv*.json "$out/w6-seeds-$b"/inv*.json \
			"$out/w6s-seeds-$b"/inv*.json "$out/against-$b"-*/*.json; do
			[ -f "$f" ] && files="$files $f"
		done
	done
	aw="awk -v want=targets -f $mb/jsonl.awk -f $mb/rounds.awk -f $mb/seeds.awk -f $mb/beforeafter.awk -f $mb/targets.awk"
	{
		printf '`%s %s/w[25]-d*.json %s/w[34]-d*/inv*.json %s/huge-w3/inv*.json %s/w6*-seeds-d0/inv*.json %s/against-*/*.json`\n\n' \
			"$aw" "$out" "$out" "$out" "$out" "$out"
		# shellcheck disable=SC2086
		$aw $files || { status=1 failed="$failed targets"; }
	} > "$sec/targets.md"
}

# --- plots ----------------------------------------------------------------------

# plot NAME WANT WHAT JSON...: DOCDIR/NAME.dat and .svg from the JSON
# lines; WHAT says which figure of them.
plot() {
	name=$1 want=$2 what=$3
	shift 3
	nsec=$((nsec + 1))
	say "[$nsec] plot $name"
	if awk -v want="$want" -f $mb/plotdata.awk "$@" > "$docdir/$name.dat" &&
		gnuplot -e "dir='$docdir'" "$mb/$name.gp"; then
		{
			printf '![%s](%s.svg)\n\n```\n' "$name" "$name"
			printf 'awk -v want=%s -f %s/plotdata.awk %s > %s/%s.dat\n' \
				"$want" $mb "$*" "$docdir" "$name"
			printf 'gnuplot -e "dir='"'"'%s'"'"'" %s/%s.gp\n```\n\n' "$docdir" $mb "$name"
			printf 'From %s: %s.\n' "$(bindir "$last")" "$what"
		} > "$sec/$name-plot.md"
	else
		say "plot $name failed"
		status=1 failed="$failed $name-plot"
	fi
}

# --- writing the doc --------------------------------------------------------------

# Every section of DIR/sections into its markers in the doc; the names of
# sections without markers on stdout (nothing is written then).
merge() {
	awk -v dir="$sec" -v list="$(cd "$sec" && ls | sed 's/\.md$//' | tr '\n' ' ')" '
	BEGIN { n = split(list, made, " "); for (k = 1; k <= n; k++) want[made[k]] = 1 }
	/^<!-- bench-full:[a-z0-9-]+ begin -->$/ {
		print
		name = $0; sub(/^<!-- bench-full:/, "", name); sub(/ begin -->$/, "", name)
		open = name
		if (name in want) {
			print ""
			f = dir "/" name ".md"
			while ((getline l < f) > 0)
				print l
			close(f)
			print ""
			skip = 1; done[name] = 1
		}
		next
	}
	/^<!-- bench-full:[a-z0-9-]+ end -->$/ {
		if (open == "") { print "unbalanced end marker: " $0 > "/dev/stderr"; bad = 1 }
		open = ""; skip = 0; print; next
	}
	!skip { print }
	END {
		if (open != "") { print "no end marker for " open > "/dev/stderr"; bad = 1 }
		for (k = 1; k <= n; k++)
			if (!(made[k] in done))
				print made[k] > "/dev/stderr"
		for (k = 1; k <= n; k++)
			if (!(made[k] in done))
				bad = 1
		exit bad
	}' "$doc" > "$doc.tmp"
}

# --- the run ----------------------------------------------------------------------

load_first=$(loadavg)
for b in $builds; do
	build "$b"
done
for b in $builds; do
	workloads "$b"
done
figures
huge_pages "$(echo "$builds" | awk '{ print $NF }')"
before_after
targets
last=$(echo "$builds" | awk '{ print $NF }')
plot w3-scaling w3 "median of the three invocations' medians" \
	"$out/w3-$last/inv1.json" "$out/w3-$last/inv2.json" "$out/w3-$last/inv3.json"
plot w5-latency w5 "medians of the runs" "$out/w5-$last.json"
machine
if merge; then
	mv "$doc.tmp" "$doc"
	say "wrote $(ls "$sec" | wc -l) sections into $doc (raw outputs in $out) in $(($(date +%s) - t_start)) s"
else
	rm -f "$doc.tmp"
	say "$doc has no markers for the sections named above (or unbalanced ones): not written; the sections are in $sec"
	exit 2
fi
[ -z "$failed" ] || say "FAILED:$failed (see the .err files in $out)"
exit $status
