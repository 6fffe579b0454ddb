# Valgrind understands the pools (mem/track.h).  Run 1 (prog_leak uninit):
# the fragments leaked at known lines are "definitely lost" with those
# lines in their stacks, and a branch on bytes never written is reported.
# Run 2 (prog_leak misuse): one byte past the 100 asked for, and one byte
# of the block after its free, read and written, in a pkg block and in a
# (cache-parked) shm block: memcheck reports each access with its line,
# says where the block was allocated and freed, and reports nothing else
# (an exact error count: the library's own work in freed and unused
# memory raises no false report).  Skipped (passes with a note) when the
# build has no client requests (no valgrind.h), under ASan, or when
# valgrind is not installed.
set -e
command -v valgrind >/dev/null || { echo "SKIP: it_valgrind: valgrind not installed"; exit 0; }
case "$BUILD" in *asan*) echo "SKIP: it_valgrind: ASan build"; exit 0;; esac
grep -q 'HAVE_VALGRIND=1' "$BUILD/flags" 2>/dev/null || { echo "SKIP: it_valgrind: built without valgrind.h"; exit 0; }
src="$TOP/tests/prog_leak.c"
line() { grep -n "$1" "$src" | cut -d: -f1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT

valgrind --leak-check=full --log-file="$log" "$BUILD/tests/prog_leak" uninit >/dev/null 2>&1
cat "$log"
grep -q '123 bytes in 1 blocks are definitely lost' "$log"
grep -q "prog_leak.c:$(line LEAK_PKG)" "$log"
grep -q '321 bytes in 1 blocks are definitely lost' "$log"
grep -q "prog_leak.c:$(line LEAK_SHM)" "$log"
grep -q 'Conditional jump or move depends on uninitialised value' "$log"
grep -q "prog_leak.c:$(line UNINIT_READ)" "$log"

valgrind --leak-check=full --log-file="$log" "$BUILD/tests/prog_leak" misuse >/dev/null 2>&1
cat "$log"
# record N of the log: the lines of one report, between blank lines
records() {
	awk '/^==[0-9]+== $/ { if (r != "") print r; r = ""; next }
	     { r = r " | " $0 } END { if (r != "") print r }' "$log"
}
# a report holding every one of the strings given
expect() {
	r=$(records)
	for s in "$@"; do
		r=$(printf '%s\n' "$r" | grep -F -- "$s") || {
			echo "FAIL: no report with: $*"; exit 1; }
	done
}
for pool in PKG SHM; do
	for op in read write; do
		expect "Invalid $op of size 1" "prog_leak.c:$(line "OVER_$pool")" \
		    "is 0 bytes after a block of size 100 alloc'd"
		expect "Invalid $op of size 1" "prog_leak.c:$(line "UAF_$pool")" \
		    "is 50 bytes inside a block of size 100 free'd" \
		    "prog_leak.c:$(line "FREE_$pool")" "Block was alloc'd at"
	done
done
# 8 bad accesses and the 2 leaks: nothing else
grep -q 'ERROR SUMMARY: 10 errors from 10 contexts' "$log"
echo "it_valgrind: all reports found"
