# Valgrind understands the pools: the fragment leaked at a known line is
# "definitely lost" with that line in its stack, and a branch on bytes
# never written is reported.  Skipped (passes with a note) when the build
# has no client requests (no valgrind.h) or valgrind is not installed.
set -e
command -v valgrind >/dev/null || { echo "valgrind not installed: skipped"; exit 0; }
case "$BUILD" in *asan*) echo "ASan build: skipped"; exit 0;; esac
grep -q 'HAVE_VALGRIND=1' "$BUILD/flags" 2>/dev/null || { echo "built without valgrind.h: skipped"; exit 0; }
log=$(mktemp)
valgrind --leak-check=full --log-file="$log" "$BUILD/tests/prog_leak" uninit >/dev/null 2>&1
cat "$log"
line=$(grep -n 'LEAK_PKG' "$TOP/tests/prog_leak.c" | cut -d: -f1)
uline=$(grep -n 'UNINIT_READ' "$TOP/tests/prog_leak.c" | cut -d: -f1)
grep -q '123 bytes in 1 blocks are definitely lost' "$log"
grep -q "prog_leak.c:$line" "$log"
sline=$(grep -n 'LEAK_SHM' "$TOP/tests/prog_leak.c" | cut -d: -f1)
grep -q '321 bytes in 1 blocks are definitely lost' "$log"
grep -q "prog_leak.c:$sline" "$log"
grep -q 'Conditional jump or move depends on uninitialised value' "$log"
grep -q "prog_leak.c:$uline" "$log"
rm -f "$log"
