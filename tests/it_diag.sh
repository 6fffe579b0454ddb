# Seeded defects found with the tools alone (tests/prog_diag.c): the exit
# summary names the leaks' exact file:function:line with their counts and
# bytes (pkg in every process, shm only in the main one), SIGUSR1 dumps at
# the program's safe point, a double free names its allocation and both
# frees, an overflow is caught and names its allocation.  With MEMDBG=0
# the same runs must say "no call site" with the right counts and bytes.
set -eu
prog="$BUILD/tests/prog_diag"
src="$TOP/tests/prog_diag.c"
dbg=0
grep -q -- '-DMEMDBG=1' "$BUILD/flags" && dbg=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

line() { grep -n "$1" "$src" | cut -d: -f1; }
# has FILE TEXT: the log holds TEXT (fixed string), else show the log
has() {
	grep -qF -- "$2" "$1" && return 0
	echo "missing: $2"; echo "--- $1:"; cat "$1"; exit 1
}
count() { grep -cF -- "$2" "$1" || true; }
site() { echo "prog_diag.c:$1:$(line "$2") [core]"; }

# --- a leak, summed at exit ------------------------------------------------
"$prog" leak > "$tmp/out" 2> "$tmp/log"
cat "$tmp/log"
read -r _ _ upkg _ ushm < "$tmp/out"
[ "$(count "$tmp/log" 'pkg: sums (')" = 2 ]     # the worker and main
[ "$(count "$tmp/log" 'shm: sums (')" = 1 ]     # main only
if [ $dbg = 1 ]; then
	has "$tmp/log" "pkg: sum: count=3 bytes=300 at tests/$(site leak_pkg LEAK_PKG)"
	has "$tmp/log" "shm: sum: count=1 bytes=321 at tests/$(site leak_shm LEAK_SHM)"
	has "$tmp/log" "pkg: sum: count=1 bytes=55 at tests/$(site worker LEAK_WORKER)"
	[ "$(count "$tmp/log" "$(site worker LEAK_WORKER)")" = 1 ]
	[ "$(count "$tmp/log" "$(site leak_pkg LEAK_PKG)")" = 2 ]
else
	has "$tmp/log" "pkg: sum: count=3 bytes=$upkg at no call site"
	has "$tmp/log" "shm: sum: count=1 bytes=$ushm at no call site"
	has "$tmp/log" "pkg: sum: count=4 bytes="  # the worker's, its own too
	has "$tmp/log" "(MEMDBG=0: no call sites recorded)"
fi

# --- every fragment at exit (mem_summary 1|2) -------------------------------
"$prog" leak 3 > /dev/null 2> "$tmp/log"
[ "$(count "$tmp/log" 'pkg: status (')" = 2 ]
[ "$(count "$tmp/log" 'shm: status (')" = 1 ]
if [ $dbg = 1 ]; then
	has "$tmp/log" "(asked 100) allocated at tests/$(site leak_pkg LEAK_PKG)"
	has "$tmp/log" "(asked 321) allocated at tests/$(site leak_shm LEAK_SHM)"
else
	has "$tmp/log" "(asked 0) allocated at no call site"
fi

# --- SIGUSR1: the flag, then the dump from the program's loop -----------------
"$prog" serve > "$tmp/out" 2> "$tmp/log" &
pid=$!
i=0
until grep -q ready "$tmp/out" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 500 ] || { kill $pid; exit 1; }; sleep 0.01
done
kill -USR1 $pid
wait $pid
cat "$tmp/log"
[ "$(count "$tmp/log" 'pkg: sums (')" = 1 ]
[ "$(count "$tmp/log" 'shm: ')" = 0 ]
[ $dbg = 0 ] || has "$tmp/log" "pkg: sum: count=3 bytes=300 at tests/$(site leak_pkg LEAK_PKG)"

# --- a double free ------------------------------------------------------------
"$prog" double 2> "$tmp/log"
cat "$tmp/log"
if [ $dbg = 1 ]; then
	has "$tmp/log" "pkg: free: double free"
	has "$tmp/log" " at tests/$(site double_free DF_FREE2); allocated at tests/$(site double_free DF_ALLOC); first freed at tests/$(site double_free DF_FREE1)"
else
	has "$tmp/log" "pkg: free: double free"
	has "$tmp/log" "at no call site"
fi

# --- an overflow ----------------------------------------------------------------
"$prog" overflow 2> "$tmp/log"
cat "$tmp/log"
if [ $dbg = 1 ]; then
	has "$tmp/log" "(600 bytes) allocated at tests/$(site overflow OV_ALLOC)"
	ov="allocated at tests/$(site overflow OV_ALLOC)"
	grep 'pkg: report: 1 fragments written past their end' "$tmp/log" | grep -qF "$ov"
	grep 'pkg: free: write past the end of the fragment' "$tmp/log" | grep -qF "$ov"
else
	has "$tmp/log" "pkg: heap check: "
fi

# --- the figures program of doc/DIAGNOSTICS.md still measures (small run) ----
"$BUILD/tests/prog_figures" lockhold 32 20000 64 > "$tmp/fig"
cat "$tmp/fig"
[ "$(grep -c '^| [a-z]* | 20001 | .* | 313 | ' "$tmp/fig")" = 3 ]
! grep -q PROBLEMS "$tmp/fig"
"$BUILD/tests/prog_figures" livecheck 64 20000 64 > "$tmp/fig"
cat "$tmp/fig"
[ "$(grep -c '^| [a-z]* | 200[0-9][0-9] | .* ms (cpu .* | [0-9]* | [0-9]* us | ' "$tmp/fig")" = 3 ]
[ "$(grep -c '^| [a-z]*: worker during mem_check_chunked | [0-9]* | ' "$tmp/fig")" = 3 ]
! grep -q PROBLEMS "$tmp/fig"
[ "$("$BUILD/tests/prog_figures" overhead | grep -c "^| [a-z]* | $dbg | ")" = 3 ]
echo "it_diag: all seeded defects found (MEMDBG=$dbg)"
