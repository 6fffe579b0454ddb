#!/bin/sh
# build-switches.sh - `make cfg` freezes the switches and a later plain
# build really uses them (checked from the built binary, not the
# Makefile); `make cfg` alone resets; bad values stop the build clearly;
# `make install` lays out headers, libraries and the pkg-config file that
# an outside program builds against.  Works on a copy of the tree.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
unset BUILD_ROOT        # the copy builds in its own build/
(cd "$top" && tar cf - --exclude=build Makefile Makefile.defs mem core \
	utils/srmemctl tests) | (cd "$tmp/src" && tar xf -)
rm -f "$tmp/src/config.mak" "$tmp/src"/mem/libsrmem.* "$tmp/src/core/srproxy" \
	"$tmp/src/utils/srmemctl/srmemctl"
cd "$tmp/src"

expect_backend() {   # expect_backend NAME: the example says which backend
	out=$(./build/*/tests/example)
	echo "$out" | grep -q "(backend $1)" || { echo "want $1, got: $out"; exit 1; }
	rm -rf build
}

j=-j$(nproc 2>/dev/null || echo 2)
make -s MEMMNG=0 MEMDBG=0 cfg
make -s cfg-show | grep 'MEMMNG=0 (f_malloc) MEMDBG=0' >/dev/null
make -s $j lib server example >/dev/null
./build/*/core/srproxy -V | grep -q 'MEMMNG=0 MEMDBG=0' ||
	{ echo "srproxy was not built with the saved switches"; exit 1; }
expect_backend f_malloc
make -s MEMMNG=1 cfg && make -s $j lib example >/dev/null && expect_backend q_malloc
make -s cfg && make -s $j lib example >/dev/null && expect_backend tlsf_malloc
make -s cfg-show | grep 'MEMMNG=2 (tlsf) MEMDBG=1 LOCK=futex' >/dev/null

# DIRECT=1: the MEMMNG backend called directly; other backends refused
make -s $j MEMMNG=0 DIRECT=1 lib example >/dev/null
./build/m0-d1-futex-direct/tests/example | grep -q '(backend f_malloc)'
rm -rf build

for bad in MEMMNG=7 MEMDBG=2 LOCK=spin SAN=tsan SHM_CACHE=2 DIRECT=2; do
	if make -s $bad lib > out.txt 2>&1; then echo "$bad accepted"; exit 1; fi
	grep -q "is not valid" out.txt || { cat out.txt; exit 1; }
done

make -s $j install PREFIX=/opt/srmem DESTDIR="$tmp/root" >/dev/null
test -x "$tmp/root/opt/srmem/sbin/srproxy"
test -x "$tmp/root/opt/srmem/bin/srmemctl"
test -f "$tmp/root/opt/srmem/include/srmem/mem.h"
test -f "$tmp/root/opt/srmem/lib/libsrmem.a"
test -f "$tmp/root/opt/srmem/lib/libsrmem.so"
pc="$tmp/root/opt/srmem/lib/pkgconfig/srmem.pc"
grep -q '^Libs: -L${libdir} -lsrmem' "$pc"
cc -std=gnu11 -I"$tmp/root/opt/srmem/include/srmem" tests/example.c \
	"$tmp/root/opt/srmem/lib/libsrmem.a" -lpthread -o ex
./ex | grep -q 'hello from the child'
echo "build switches: ok"
