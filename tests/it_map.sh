# The heap map: shm.map over RPC and `srmemctl map`, against a real
# core/srproxy started with --test-methods.
#
# Three states, each in a fresh server (64 MiB shm), built with test.alloc
# and test.free:
#   healthy     a few modules' blocks (tm, usrloc, dialog) and a group
#               allocated and freed again: one large free block;
#   fragmented  30,000 blocks of 1000 B at one site, then every other one
#               freed (test.free ID 2): 15,000 small holes;
#   leak        the healthy blocks plus 6,000 x 4 KiB from one call site
#               (leaky.c:leak_fn:42, module leakmod).
# Each gives an SVG (tests/heapmap.py checks it): well-formed XML; the
# caption equals one made from shm.report's figures; the legend names the
# modules (leakmod for the leak); each state's share of the pixels is its
# share of the pool within the tolerance heapmap.py states; the largest
# free block is outlined and its size is shm.report's max_free; and the
# three look different (leakmod's share, how often colours change along
# the rows).  With a converter a PNG is made too, else the message says
# none is installed.  MAP_IMAGES=DIR keeps the images (doc/heapmap/).
#
# Then: shm.map of a pool with more than 100,000 fragments stays within
# its bound of runs (default and largest); a worker's pkg pool is mapped
# through --pool pkg --pid; `top --count 2` prints two frames (and the
# lock's line when the server has shm.lock).
#
# Each run has its own socket path and SIP port.  Every command runs under
# `timeout`.
set -eu
ctl="$BUILD/utils/srmemctl/srmemctl"
srv="$BUILD/core/srproxy"
py=/usr/bin/python3
check="$TOP/tests/heapmap.py"
dbg=0
grep -q -- '-DMEMDBG=1' "$BUILD/flags" 2>/dev/null && dbg=1
tmp=$(mktemp -d)
port=$((20000 + ($$ + 7) % 20000))
srv_pid=
cleanup() {
	stop
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; [ -z "${srv_pid:-}" ] || tail -n 20 "$tmp/srv.log"; exit 1; }

stop() {
	if [ -n "$srv_pid" ]; then
		kill "$srv_pid" 2>/dev/null || true
		wait "$srv_pid" 2>/dev/null || true
	fi
	srv_pid=
}

# start NAME: a fresh server on its own socket
start() {
	stop
	sock="$tmp/$1.sock"
	port=$((port + 1))
	"$srv" -f -n 2 --test-methods -s "$sock" -l "127.0.0.1:$port" \
		> "$tmp/srv.log" 2>&1 &
	srv_pid=$!
	i=0
	until timeout 5 "$ctl" -s "$sock" ps > /dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] && kill -0 "$srv_pid" 2>/dev/null ||
			fail "srproxy did not answer"
		sleep 0.1
	done
}

# c ARGS...: srmemctl on the current server, stdout to $tmp/out; must succeed
c() {
	timeout 60 "$ctl" -s "$sock" "$@" > "$tmp/out" 2> "$tmp/err" ||
		{ cat "$tmp/out" "$tmp/err"; fail "srmemctl $* exited $?"; }
}
# id ARGS...: test.alloc ARGS, prints the group id
alloc() {
	c raw test.alloc "$@"
	jq -e .id "$tmp/out" || fail "test.alloc $*"
}

healthy_blocks() {
	alloc shm 2048 400 tm.c build_cell 120 tm > /dev/null
	alloc shm 512 1000 usrloc.c new_ucontact 88 usrloc > /dev/null
	alloc shm 8192 50 dialog.c dlg_new 40 dialog > /dev/null
	churn=$(alloc shm 256 2000 tm.c t_reply 300 tm)
	c raw test.free "$churn"
}

# draw NAME: the map as SVG (and PNG), the figures beside it, and the check
draw() {
	c map -o "$tmp/$1.svg"
	grep -q "^wrote $tmp/$1.svg: shm pool, " "$tmp/out" || fail "map: $(cat "$tmp/out")"
	c --json report
	cp "$tmp/out" "$tmp/$1.report.json"
	rc=0
	timeout 60 "$ctl" -s "$sock" map -o "$tmp/$1.png" > "$tmp/out" 2> "$tmp/err" || rc=$?
	if [ $rc = 0 ]; then
		head -c 8 "$tmp/$1.png" | od -An -c | grep -q 'P   N   G' ||
			fail "$1.png is not a PNG"
	else
		grep -q "no SVG-to-PNG converter works here" "$tmp/err" ||
			fail "map -o png: $(cat "$tmp/err")"
		echo "(no PNG: no converter installed)"
	fi
	$py "$check" "$tmp/$1.svg" "$tmp/$1.report.json" "$1" $dbg ||
		fail "the $1 map"
	if [ -n "${MAP_IMAGES:-}" ]; then
		mkdir -p "$MAP_IMAGES"
		cp "$tmp/$1.svg" "$MAP_IMAGES/$1.svg"
		[ ! -f "$tmp/$1.png" ] || cp "$tmp/$1.png" "$MAP_IMAGES/$1.png"
	fi
}

# --- the three states ---------------------------------------------------------
start healthy
healthy_blocks
draw healthy

# ... and a pool of more than 100,000 fragments: bounded replies
big=$(alloc shm 64 400000 many.c many_fn 5 many)
c raw test.free "$big" 2
c --json raw shm.map
jq -e '.totals.fragments > 100000 and .reduced == true and .count <= 1024 and (.runs | length) == .count' "$tmp/out" > /dev/null ||
	fail "shm.map of 100,000 fragments: $(jq -c '{count, reduced, totals}' "$tmp/out")"
jq -e '([.runs[] | .[1]] | add) == .size and .scan.chunks > 1' "$tmp/out" > /dev/null ||
	fail "shm.map runs do not cover the pool"
[ "$(wc -c < "$tmp/out")" -lt 400000 ] || fail "shm.map reply of $(wc -c < "$tmp/out") bytes"
c --json raw shm.map cells 4096
jq -e '.count <= 4096 and .cells == 4096 and .count > 1024' "$tmp/out" > /dev/null ||
	fail "shm.map cells 4096: $(jq -c '{count, cells}' "$tmp/out")"
c --json raw shm.map cells 16
jq -e '.count <= 16' "$tmp/out" > /dev/null || fail "shm.map cells 16"
rc=0
timeout 30 "$ctl" -s "$sock" raw shm.map cells 8 > /dev/null 2> "$tmp/err" || rc=$?
[ $rc = 1 ] && grep -q 'cells must be 16..4096' "$tmp/err" || fail "cells 8 accepted"

# --- a worker's pkg pool ---------------------------------------------------------
c --json ps
wpid=$(jq -r '[.[] | select(.rank == 1)][0].pid' "$tmp/out")
c raw test.alloc pkg 256 3000 pk.c pk_fn 9 pkmod "$wpid"
pk=$(jq .id "$tmp/out")
c raw test.free "$pk" 2
c map --pool pkg --pid "$wpid" -o "$tmp/pkg.svg"
grep -q "^wrote $tmp/pkg.svg: pkg of pid $wpid pool, " "$tmp/out" || fail "pkg map: $(cat "$tmp/out")"
c --json raw shm.map pkg "$wpid"
jq -e ".pid == $wpid and .pool == \"pkg\" and .totals.used_frags >= 1500" "$tmp/out" > /dev/null ||
	fail "shm.map pkg $wpid: $(jq -c '{pid, pool, totals}' "$tmp/out")"
$py - "$tmp/pkg.svg" "$dbg" <<'EOF' || fail "the pkg map"
import sys, xml.dom.minidom as x
d = x.parse(sys.argv[1])
mods = [g.getAttribute("data-module") for g in d.getElementsByTagName("g")
        if g.getAttribute("class") == "cls"]
assert sys.argv[2] == "0" or "pkmod" in mods, mods
EOF

# --- top: two frames ---------------------------------------------------------------
c top --count 2 --interval 0.2
[ "$(grep -c '^srproxy top at ' "$tmp/out")" = 2 ] || { cat "$tmp/out"; fail "top: not two frames"; }
grep -q '^shm ' "$tmp/out" || fail "top: no shm line"
grep -qE '^ *size +count +module +call site' "$tmp/out" || { cat "$tmp/out"; fail "top: no call sites"; }
if grep -q "$(printf '\033')" "$tmp/out"; then fail "escape codes in piped top output"; fi
c --json top --count 2 --interval 0.2
jq -es 'length == 2 and all(.[]; (.shm | has("real_used")) and (.pkg | length) >= 4 and (.sites | type) == "array")' "$tmp/out" > /dev/null ||
	fail "top --json: $(head -c 300 "$tmp/out")"
if command -v script > /dev/null; then    # a terminal: clear and redraw
	timeout 30 script -qec "$ctl -s $sock top --count 2 --interval 0.2" \
		/dev/null > "$tmp/tty" 2>&1
	grep -q "$(printf '\033\\[H\033\\[2J')" "$tmp/tty" || fail "top on a terminal: no redraw"
	grep -q "frame 2/2" "$tmp/tty" || fail "top on a terminal: no frame 2"
fi
c --json methods
if jq -e 'index("shm.lock")' "$tmp/out" > /dev/null; then
	c top --count 1
	grep -q '^lock: ' "$tmp/out" || { cat "$tmp/out"; fail "top: no lock line with shm.lock"; }
fi
stop

start fragmented
frag=$(alloc shm 1000 30000 tm.c build_cell 120 tm)
c raw test.free "$frag" 2
draw fragmented
stop

start leak
healthy_blocks
alloc shm 4096 6000 leaky.c leak_fn 42 leakmod > /dev/null
draw leak
stop

# At a glance: the three differ as they should.
$py "$check" --compare "$tmp/healthy.svg" "$tmp/fragmented.svg" "$tmp/leak.svg" $dbg ||
	fail "the three maps do not differ as they should"
echo "it_map: ok"
