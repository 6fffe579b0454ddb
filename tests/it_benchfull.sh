# utils/membench/bench-full.sh --quick into a scratch copy of
# doc/PERFORMANCE.md: every generated section of the copy is filled (its
# command in backquotes first, then a table, or for a plot the image and
# the commands that made it), the W3 and W4 sections hold three
# invocations and the "library errors" column, W6's and W6s's spread
# over seeds has its seeds, the plots are SVG, and the tree's own doc and
# plots are untouched.  Issue 14's before/after (commit 4ce4f3f's library
# built in a temporary git worktree with this membench) has a table per
# backend with figures, goals and verdicts, "against the targets" a row
# with figures per goal, and the temporary worktree is gone, the tree's
# worktrees and status as they were.  Then membench's counting of
# library errors, with a stand-in worker that reports one from the run and
# one from a forked child: the run fails, the table counts both, the exit
# status of membench and of spread.sh is 1.
#
# The script builds and measures its own two configurations (m2-d1-futex,
# m2-d0-futex) whatever the caller's, so this runs in m2-d1-futex only.
set -eu
case $(basename "$BUILD") in
m2-d1-futex) ;;
*) echo "SKIP: bench-full --quick: runs in m2-d1-futex only (the script builds and measures its own two configurations)"
	exit 0 ;;
esac
command -v gnuplot >/dev/null 2>&1 ||
	{ echo "SKIP: bench-full --quick: gnuplot is not installed (make deps)"; exit 0; }
unset MAKEFLAGS MFLAGS MAKELEVEL
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
doc=$TOP/doc/PERFORMANCE.md
sums() { cat "$doc" "$TOP"/doc/w3-scaling.* "$TOP"/doc/w5-latency.* | cksum; }
before=$(sums)
status_before=$(git -C "$TOP" status --porcelain)
cp "$doc" "$tmp/PERFORMANCE.md"

TMPDIR=$tmp sh "$TOP/utils/membench/bench-full.sh" --quick --doc "$tmp/PERFORMANCE.md" \
	--out "$tmp/out" > "$tmp/log" 2>&1 ||
	{ tail -n 30 "$tmp/log"; fail "bench-full.sh --quick exited $?"; }
[ "$(sums)" = "$before" ] || fail "the tree's doc or plots changed"
[ "$(git -C "$TOP" status --porcelain)" = "$status_before" ] || fail "the tree's status changed"
[ -z "$(ls -d "$tmp"/bench-full-base.* 2>/dev/null)" ] &&
	! git -C "$TOP" worktree list --porcelain | grep -q "^worktree $tmp/" ||
	fail "the worktree of 4ce4f3f was left behind"

# Every section of the copy: NAME, then whether it has a command and a
# table or an image, one line each.
awk '
/^<!-- bench-full:[a-z0-9-]+ begin -->$/ {
	name = $0; sub(/^<!-- bench-full:/, "", name); sub(/ begin -->$/, "", name)
	cmd = tab = inv = errs = 0; first = ""; next
}
/^<!-- bench-full:[a-z0-9-]+ end -->$/ {
	printf "%s %s %d %d %d\n", name, first, tab, inv, errs; name = ""; next
}
name != "" && first == "" && NF { first = /^`[^`]+`$|^!\[/ ? "command" : "text" }
name != "" && /^\| .* \|$/ { tab++ }
name != "" && /^!\[[a-z0-9-]+\]\([a-z0-9-]+\.svg\)$/ { tab++ }
name != "" && /^invocation [0-9]: load average before / { inv++ }
name != "" && /\| library errors \|$/ { errs++ }
' "$tmp/PERFORMANCE.md" > "$tmp/sections"
n=$(wc -l < "$tmp/sections")
[ "$n" -ge 23 ] || fail "only $n generated sections in the doc: $(cat "$tmp/sections")"
while read -r name first tab inv errs; do
	case $name in
	machine) grep -q 'CPUs (nproc)' "$tmp/PERFORMANCE.md" ||
			fail "machine: no CPU line"
		continue ;;
	esac
	[ "$first" = command ] || fail "$name: does not start with its command"
	[ "$tab" -ge 1 ] || fail "$name: no table"
	case $name in
	w3-d?|w4-d?|huge-w3) [ "$inv" = 3 ] || fail "$name: $inv invocations, not 3"
		[ "$errs" = 1 ] || fail "$name: no library errors column" ;;
	w6*-seeds-d0) [ "$errs" = 1 ] || fail "$name: no library errors column"
		grep -q '^| tlsf | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | 2 | 0 |$' \
			"$tmp/PERFORMANCE.md" || fail "$name: no spread over 2 seeds" ;;
	w[1256]*-d?) [ "$errs" = 1 ] || fail "$name: no library errors column" ;;
	esac
done < "$tmp/sections"
for s in machine overhead populate w3-scaling-plot w5-latency-plot \
	w6-seeds-d0 w6s-seeds-d0 huge-w3 huge-populate; do
	grep -q "^$s " "$tmp/sections" || fail "no section $s"
done
for d in d1 d0; do
	for w in w1 w2 w3 w4 w5 w6 w6s; do
		grep -q "^$w-$d " "$tmp/sections" || fail "no section $w-$d"
	done
done
for p in w3-scaling w5-latency; do
	grep -q '<svg' "$tmp/$p.svg" || fail "$p.svg is not SVG"
done

# One section's text.
sect() { sed -n "/^<!-- bench-full:$1 begin -->\$/,/^<!-- bench-full:$1 end -->\$/p" "$tmp/PERFORMANCE.md"; }
# How many of a section's lines match an extended regex.
count() { sect "$1" | grep -cE "$2" || true; }
num='[0-9.]+' verdict='(yes|no)'
ratio="${num}x \\[$num-$num\\]"
for b in f_malloc q_malloc TLSF; do
	sect before-after | grep -q "^\*\*$b\*\* " || fail "before-after: no table of $b"
done
k=$(count before-after "^\\| W2 ns/op(, MEMDBG=1)? \\| $num \\| $num \\| $ratio \\| at least ${num}x \\| $verdict \\|\$")
[ "$k" = 6 ] || fail "before-after: $k W2 rows with figures, goal and verdict, not 6"
k=$(count before-after "^\\| W2 ns/op, both in 4 KiB pages(, MEMDBG=1)? \\| $num \\| $num \\| $ratio \\| - \\| - \\|\$")
[ "$k" = 6 ] || fail "before-after: $k W2 rows with both builds in 4 KiB pages, not 6"
sect huge-pkg | grep -qE "^\\| tlsf, 4 KiB pages \\| $num " || fail "huge-pkg: no row of tlsf in 4 KiB pages"
sect huge-pkg-jemalloc | grep -q '^`env MALLOC_CONF=thp:always' || fail "huge-pkg-jemalloc: not jemalloc with huge pages"
k=$(count before-after "^\\| W1 free (FIFO|LIFO|random) CPU ns(, MEMDBG=1)? \\| $num \\| $num \\| $ratio \\|")
[ "$k" = 18 ] || fail "before-after: $k W1 free rows with figures, not 18"
k=$(count before-after "^\\| W3 caches off, P=[248], Mops/s \\| $num \\| $num \\| $ratio \\| at least 1.3x \\| $verdict \\|\$")
[ "$k" = 9 ] || fail "before-after: $k W3 rows with figures, not 9"
k=$(count before-after "^\\| W3 caches off, P=[248], Mops/s, both faulting \\| $num \\| $num \\| $ratio \\| - \\| - \\|\$")
[ "$k" = 9 ] || fail "before-after: $k W3 rows with both builds faulting, not 9"
sect before-after | grep -q '^`env MEMBENCH_SHM_HUGE_PAGES=0 sh utils/membench/against.sh ' ||
	fail "before-after: W3 as shipped is not on 4 KiB pages in both builds"
sect before-after | grep -q '^`env MEMBENCH_SHM_POPULATE=0 MEMBENCH_SHM_HUGE_PAGES=0 sh utils/membench/against.sh ' ||
	fail "before-after: W3 does not fault in both builds alike (4 KiB pages in both)"
three="$num / $num / $num"
for d in d0 d1; do
	k=$(count targets "^\\| W3 tlsf: P=[28] at least 1\\.[64]x P=1, .* \\| w3-$d \\| xP=1 per invocation $three \\| (yes|no.*) \\|\$")
	[ "$k" = 2 ] || fail "targets: $k W3 xP=1 rows of $d with three invocations, not 2"
	k=$(count targets "^\\| W4: caches .* \\| w4-$d \\| tlsf / tlsf-lock per invocation: 1\\+1 $three; 2\\+2 $three \\| (yes|no.*) \\|\$")
	[ "$k" = 1 ] || fail "targets: no W4 row of $d with three invocations"
done
k=$(count targets "^\\| W6s? tlsf .* utilisation at least 0.90, .* \\| w6s?-seeds-d0 \\| 0\\.[0-9]+ \\[$num-$num\\], 2 seeds \\| $verdict \\|\$")
[ "$k" = 2 ] || fail "targets: $k W6/W6s rows over 2 seeds, not 2"
k=$(count targets "^\\| W2 ns/op, (release|MEMDBG=1): .* \\| before-after \\| fm $ratio; qm $ratio; tlsf $ratio \\| ")
[ "$k" = 2 ] || fail "targets: $k rows of issue 14's W2 goals with ratios, not 2"
k=$(count targets "^\\| W3 caches off, P=2 / 4 / 8: at least 1.3x .* \\| before-after \\| fm $ratio / $ratio / $ratio; ")
[ "$k" = 1 ] || fail "targets: no row of issue 14's W3 goal with ratios"
k=$(count targets "^\\| W3 caches off, P=2 / 4 / 8, throughput, both builds faulting .* \\| before-after \\| fm $ratio / $ratio / $ratio; .* \\| - \\(no goal")
[ "$k" = 1 ] || fail "targets: no row of W3 with both builds faulting"
echo "before-after: 3 backends' tables; targets: $(count targets '^\| [^-]') rows"
echo "bench-full --quick: $n sections filled, $(sed -n 's/.* in \([0-9]*\) s$/\1 s/p' "$tmp/log")"

# A stand-in worker that reports a library error from the run and from a
# forked child, next to a copy of the driver.
mkdir "$tmp/fake"
cp "$TOP/build/m2-d1-futex/membench/membench" "$tmp/fake/"
cat > "$tmp/fake/membench-glibc" <<'EOF'
#!/bin/sh
[ "$1" = --version ] && { echo "stand-in 1"; exit 0; }
echo "metric ns_per_op 10"
echo "srmem: level 3: stand-in report" >&2
(echo "srmem: ERROR: stand-in report of a child" >&2) &
wait
echo "srmem: level 4: a warning, not an error" >&2
exit 0
EOF
chmod +x "$tmp/fake/membench-glibc"
st=0
"$tmp/fake/membench" --alloc glibc --workload w2 --runs 2 > "$tmp/fake.md" \
	2> "$tmp/fake.err" || st=$?
[ "$st" = 1 ] || fail "membench exited $st with library errors, not 1"
grep -q '^| glibc malloc | failed ' "$tmp/fake.md" || fail "the failed runs' figures were kept"
grep -q '^| glibc malloc | failed / failed / failed | 4 |$' "$tmp/fake.md" ||
	{ cat "$tmp/fake.md"; fail "library errors not counted (2 per run)"; }
[ "$(grep -c 'srmem: ' "$tmp/fake.err")" = 12 ] ||
	fail "the workers' stderr was not passed on"
st=0
OUT=$tmp/spread sh "$TOP/utils/membench/spread.sh" "$tmp/fake" 3 --alloc glibc \
	--workload w3 --runs 1 > "$tmp/spread.md" 2>/dev/null || st=$?
[ "$st" = 1 ] || fail "spread.sh exited $st with library errors, not 1"
grep -q '^| glibc | 2 | .* | 2 (1 failed) / 2 (1 failed) / 2 (1 failed) |$' "$tmp/spread.md" ||
	{ cat "$tmp/spread.md"; fail "spread.sh does not show the library errors"; }
echo "library errors: counted per cell, the run failed, exit status 1"
