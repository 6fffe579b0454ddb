# srmemctl against no server and against a real srproxy.
#
# No server: a missing socket file, a plain file, a socket nobody listens
# on, a peer that answers something else than JSON-RPC and one that never
# answers; each has its own message and exit status 3.  Usage errors exit 2.
#
# With `srproxy -f -n 2 --test-methods`: known states are made with
# test.alloc (doc/RPC.md "Test methods") and every command's table and
# --json output is checked against them (headers, sizes, counts, call
# sites, modules, the processes that allocated them: pid and rank);
# `leaks --interval 1` finds a leak seeded in the middle
# of its interval by file and line, in shm and in one process's pkg; a
# failing method exits 1 with its error; `watch --count 2` prints two
# frames (plain to a pipe, redrawn with ANSI codes on a terminal).  With
# MEMDBG=0 call sites are unknown: what is checked then is the counts,
# bytes and the "(no call site)" wording.
#
# Each run has its own socket path and SIP port, so configurations may run
# side by side.  Every command runs under `timeout`.
set -eu
ctl="$BUILD/utils/srmemctl/srmemctl"
srv="$BUILD/core/srproxy"
dbg=0
grep -q -- '-DMEMDBG=1' "$BUILD/flags" 2>/dev/null && dbg=1
tmp=$(mktemp -d)
sock="$tmp/srproxy.sock"
port=$((20000 + $$ % 20000))
srv_pid=
peer_pid=
cleanup() {
	[ -z "$peer_pid" ] || kill "$peer_pid" 2>/dev/null || true
	if [ -n "$srv_pid" ]; then
		kill "$srv_pid" 2>/dev/null || true
		wait "$srv_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# ctl RC ARGS...: run srmemctl, stdout to $tmp/out, stderr to $tmp/err,
# and require exit status RC.
ctl() {
	want=$1; shift
	rc=0
	timeout 30 "$ctl" "$@" > "$tmp/out" 2> "$tmp/err" || rc=$?
	[ "$rc" = "$want" ] && return 0
	echo "FAIL: srmemctl $* exited $rc, not $want"
	echo "--- stdout:"; cat "$tmp/out"; echo "--- stderr:"; cat "$tmp/err"
	exit 1
}
# has FILE TEXT: FILE holds TEXT (fixed string); hasre FILE ERE; hasnt
has() {
	grep -qF -- "$2" "$1" && return 0
	echo "FAIL: missing: $2"; echo "--- $1:"; cat "$1"; exit 1
}
hasre() {
	grep -qE -- "$2" "$1" && return 0
	echo "FAIL: no line matches: $2"; echo "--- $1:"; cat "$1"; exit 1
}
hasnt() {
	grep -qF -- "$2" "$1" || return 0
	echo "FAIL: should not hold: $2"; echo "--- $1:"; cat "$1"; exit 1
}
# rows OP N: the table in $tmp/out has OP N rows (the lines after its
# header line, the first that starts with a word)
rows() {
	n=$(awk 'h && !/^(\.\.\.|\(|$)/ { n++ } !h && /^ *[a-z]/ { h = 1 }
		END { print n + 0 }' "$tmp/out")
	[ "$n" "$1" "$2" ] && return 0
	echo "FAIL: $n table rows, not $1 $2"; cat "$tmp/out"; exit 1
}
# count N ERE FILE: N lines of FILE match ERE
count() {
	n=$(grep -cE -- "$2" "$3") || true
	[ "$n" = "$1" ] && return 0
	echo "FAIL: $n lines match '$2', not $1"; cat "$3"; exit 1
}
# jqt FILTER: the --json output in $tmp/out makes FILTER true
jqt() {
	jq -e "$1" "$tmp/out" > /dev/null && return 0
	echo "FAIL: jq '$1' is not true of:"; cat "$tmp/out"; exit 1
}
s() { w=$1; shift; ctl "$w" -s "$sock" "$@"; }

# --- no server ----------------------------------------------------------------
ctl 3 -s "$tmp/none.sock" shmmem
has "$tmp/err" "srmemctl: no srproxy answers on $tmp/none.sock (no such file); start it with \`make run\` or srproxy -s PATH"
count 0 . "$tmp/out"
ctl 3 --socket="$tmp/long.sock" --timeout=2 shmmem
has "$tmp/err" "no srproxy answers on $tmp/long.sock (no such file)"
SRPROXY_SOCK="$tmp/env.sock" ctl 3 ps
has "$tmp/err" "no srproxy answers on $tmp/env.sock (no such file)"
if [ ! -e /var/run/srproxy/srproxy.sock ]; then   # (root's fallback)
	(cd "$tmp" && ctl 3 ps)
	has "$tmp/err" "no srproxy answers on ./srproxy.sock (no such file)"
fi

: > "$tmp/plain"
ctl 3 -s "$tmp/plain" summary
has "$tmp/err" "srmemctl: $tmp/plain is not a socket"

# A socket file that nobody listens on (bound, never listening: as a
# server killed with SIGKILL leaves it).
perl -MSocket -e 'socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die;
	bind($s, pack_sockaddr_un($ARGV[0])) or die "$!"' "$tmp/stale.sock"
ctl 3 -s "$tmp/stale.sock" shmmem
has "$tmp/err" "srmemctl: no srproxy answers on $tmp/stale.sock (connection refused"

# A peer that is not srproxy: answers HTTP, then JSON that is not
# JSON-RPC, then nothing at all.
perl -MSocket -e 'socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die;
	bind($s, pack_sockaddr_un($ARGV[0])) or die; listen($s, 5);
	for my $say ("HTTP/1.0 400 Bad Request\r\n\r\n", "{\"hello\":1}\n", "") {
		accept(my $c, $s) or die; sysread($c, my $b, 65536);
		syswrite($c, $say); sleep 3 unless length $say; close $c }' \
	"$tmp/other.sock" &
peer_pid=$!
i=0; until [ -S "$tmp/other.sock" ]; do i=$((i+1)); [ $i -lt 200 ]; sleep 0.05; done
ctl 3 -s "$tmp/other.sock" ps
has "$tmp/err" "srmemctl: $tmp/other.sock: the reply is not JSON-RPC 2.0 (is this srproxy's RPC socket?)"
ctl 3 -s "$tmp/other.sock" ps
has "$tmp/err" "the reply is not JSON-RPC 2.0"
ctl 3 -s "$tmp/other.sock" --timeout 0.5 ps
has "$tmp/err" "srmemctl: core.ps: no reply from $tmp/other.sock within 0.5 s"
wait "$peer_pid" || true
peer_pid=

# Usage errors: exit 2 and the command's usage, before any call.
ctl 2 frobnicate
has "$tmp/err" "unknown command frobnicate"
ctl 2 -s "$tmp/none.sock" summary --top many
has "$tmp/err" "--top: not a count: many"
has "$tmp/err" "usage: srmemctl summary"
ctl 2 -s "$tmp/none.sock" summary --pool pkg
has "$tmp/err" "--pool pkg needs --pid P"
ctl 2 -s "$tmp/none.sock" shmmem x
ctl 2 -s "$tmp/none.sock" status --frob 1
has "$tmp/err" "unknown option --frob"
ctl 2 -s "$tmp/none.sock" raw
ctl 2 -s "$tmp/none.sock" leaks --interval 0
ctl 0 -h
cp "$tmp/out" "$tmp/help"
for c in shmmem pkg summary status report ps check watch leaks mods version \
		uptime methods raw lock map top; do
	has "$tmp/help" "  $c "
	ctl 0 "$c" --help
	has "$tmp/out" "usage: srmemctl $c"
done

# --- a real server ------------------------------------------------------------
"$srv" -f -n 2 --test-methods -s "$sock" -l "127.0.0.1:$port" \
	> "$tmp/srv.log" 2>&1 &
srv_pid=$!
i=0
until timeout 5 "$ctl" -s "$sock" ps > /dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -ge 100 ] || ! kill -0 "$srv_pid" 2>/dev/null; then
		echo "FAIL: srproxy did not answer"; cat "$tmp/srv.log"; exit 1
	fi
	sleep 0.1
done

s 0 version
has "$tmp/out" "srproxy "
hasre "$tmp/out" '^build: .*MEMDBG='"$dbg"
s 0 --json version
jqt '.name == "srproxy" and (.build | type) == "string"'
s 0 uptime
hasre "$tmp/out" '^up [0-9][0-9]:[0-9][0-9]:[0-9][0-9] \([0-9]+ s\), since '
s 0 uptime --json
jqt '.uptime >= 0 and .up_since <= .now'
s 0 methods
has "$tmp/out" "core.shmmem"
has "$tmp/out" "test.alloc"

# ps: two workers, a timer and the RPC process at least
s 0 ps
hasre "$tmp/out" '^entry +pid +rank +state +restarts +uptime +desc$'
rows -ge 4
s 0 ps --json
jqt 'length >= 4 and all(.[]; has("pid") and has("rank") and has("desc"))'
cp "$tmp/out" "$tmp/ps.json"
rpc_pid=$(jq -r '[.[] | select(.desc | test("rpc"; "i"))][0].pid' "$tmp/ps.json")
[ "$rpc_pid" -gt 0 ] || { echo "FAIL: no rpc process"; cat "$tmp/ps.json"; exit 1; }

# shmmem: the table's exact bytes are the --json numbers
s 0 --json shmmem
jqt 'has("total") and has("free") and has("used") and has("real_used") and has("max_used") and has("fragments") and has("cached")'
jqt '.free == .total - .real_used'
total=$(jq .total "$tmp/out")
s 0 shmmem
hasre "$tmp/out" '^shm +size +bytes +% of total$'
hasre "$tmp/out" "^total +[0-9.]+ MiB +$total +100.0%\$"
for f in free used real_used max_used cached fragments; do
	hasre "$tmp/out" "^$f "
done
s 0 shmmem m
hasre "$tmp/out" '^shm +MiB'
hasre "$tmp/out" "^total +$((total / 1048576)) "

# --- known states: 4 x 1000 B of shm at leaky.c:leak_fn:42 -------------------
s 0 raw test.alloc shm 1000 4 leaky.c leak_fn 42 test
jq -e '.count == 4 and .size == 1000 and (.id | type) == "number"' "$tmp/out" > /dev/null
shm_id=$(jq .id "$tmp/out")

# cache: what the shm caches hold and what they traded with the heap (the
# 4 fragments above took a refill in the RPC process's cache)
s 0 cache
if grep -q -- '-DSHM_CACHE=0' "$BUILD/flags"; then
	has "$tmp/out" "shm caches: off"
else
	hasre "$tmp/out" '^shm caches: [0-9.]+ [KMG]?i?B per process; parked now .* in [0-9]+ fragments; [1-9][0-9]* refills under the heap lock$'
	hasre "$tmp/out" '^way +fragments +%'
	for w in "from depot" cut "to depot" "to heap" reclaimed; do
		hasre "$tmp/out" "^$w +[0-9]+ "
	done
	hasre "$tmp/out" '^[0-9]+ chains to the depot; [0-9]+ times over a budget; [0-9]+ drains '
	s 0 --json cache
	jqt '.cache.flow.refills > 0 and .cache.flow.cut + .cache.flow.from_depot >= .cache.flow.refills'
fi

s 0 summary --top 0
hasre "$tmp/out" '^shm \(.*\): [0-9]+ fragments, .* asked \(.* usable\), [0-9]+ call sites?$'
hasre "$tmp/out" '^ *size +bytes +count +avg +usable +module +call site$'
s 0 --json summary --top 0
jqt '.pool == "shm" and (.sites | type) == "array"'
if [ $dbg = 1 ]; then
	jqt '.sites_known == true'
	jqt '[.sites[] | select(.file == "leaky.c" and .func == "leak_fn" and .line == 42 and .module == "test")][0] | .count == 4 and .size == 4000'
	s 0 summary --top 0
	hasre "$tmp/out" '^ *3\.9 KiB +4000 +4 +1000 +[0-9]+ +test +leaky\.c:leak_fn:42$'
	s 0 summary --module test
	hasre "$tmp/out" 'leaky\.c:leak_fn:42$'
	count 0 '^ *[0-9.]+ [KMG]?i?B .* (core|rpc|sip) ' "$tmp/out"
else
	jqt '.sites_known == false'
	s 0 summary
	has "$tmp/out" "(built with MEMDBG=0: call sites are not recorded)"
	has "$tmp/out" "(no call site)"
fi
s 0 summary --top=1
count 1 '(\(no call site\)|:[0-9]+)$' "$tmp/out"

# status: the fragments one by one, bounded by --limit
s 0 status --limit 3
hasre "$tmp/out" '^address +size +asked +state +module +process +call site$'
has "$tmp/out" "3 fragments shown of"
has "$tmp/out" "(truncated: --limit N shows more)"
hasre "$tmp/out" '^scan: [0-9]+ fragments in [0-9]+ chunks'
s 0 --json status --limit 3
jqt '.count == 3 and .truncated == true and (.fragments | length) == 3'
if [ $dbg = 1 ]; then
	s 0 status --filter leaky.c --limit 2
	count 2 'leaky\.c:leak_fn:42$' "$tmp/out"
	hasre "$tmp/out" "^0x[0-9a-f]+ +[0-9]+ +1000 +used +test +pid $rpc_pid \\(rank -2\\) +leaky\\.c:leak_fn:42\$"
	has "$tmp/out" "2 fragments shown of 4 matched (truncated"
	s 0 --json status --filter leaky.c
	jqt ".matched == 4 and .truncated == false and all(.fragments[]; .asked == 1000 and .line == 42 and .pid == $rpc_pid and .rank == -2)"
else
	s 0 --json status --limit 3
	jqt 'all(.fragments[]; .pid == null and .rank == null)'
fi

# report
s 0 report
hasre "$tmp/out" '^shm [a-z_]+, [0-9.]+ MiB: used '
hasre "$tmp/out" '^state +fragments +size +bytes$'
hasre "$tmp/out" '^used +[0-9]+ '
hasre "$tmp/out" '^free +[0-9]+ '
hasre "$tmp/out" '^fragment +address +size +asked +state +module +process +call site$'
hasre "$tmp/out" '^max_free +0x'
s 0 report --json
jqt '.used_frags >= 4 and .used_bytes >= 4000 and (.scan | has("max_hold_us"))'
[ $dbg = 0 ] || jqt '.asked_bytes >= 4000 and .min_used.asked > 0'
# the largest used fragment, made by the RPC process (rank -2): the
# report names its process
s 0 raw test.alloc shm 300000 1 big.c big_fn 5 test
big_id=$(jq .id "$tmp/out")
s 0 report
if [ $dbg = 1 ]; then
	hasre "$tmp/out" "^max_used_frag +0x[0-9a-f]+ +[0-9]+ +300000 +used +test +pid $rpc_pid \\(rank -2\\) +big\\.c:big_fn:5\$"
	s 0 --json report
	jqt ".max_used_frag.pid == $rpc_pid and .max_used_frag.rank == -2"
else
	hasre "$tmp/out" '^max_used_frag +0x[0-9a-f]+ +[0-9]+ +0 +used +- +- +\(no call site\)$'
fi
s 0 raw test.free "$big_id"

# pkg: every process, and one
s 0 pkg
hasre "$tmp/out" '^entry +pid +rank +used +real_used +free +total +max_used +frags +age +desc$'
rows -ge 4
s 0 pkg --pid "$rpc_pid"
rows = 1
hasre "$tmp/out" "^ *[0-9]+ +$rpc_pid "
s 0 --json pkg --pid "$rpc_pid"
jqt "(if type == \"array\" then .[0] else . end) | .pid == $rpc_pid and has(\"real_used\") and has(\"total_size\")"
s 1 pkg --pid 1
hasre "$tmp/err" '^srmemctl: pkg.stats: error -32[0-9]+: '
s 0 pkg --rank -2              # negative ranks: the RPC process
rows = 1
hasre "$tmp/out" "^ *[0-9]+ +$rpc_pid +-2 "
s 2 pkg --rank -1 --pid 3

# pkg of the RPC process: 3 x 500 B at pkgleak.c:pk_fn:7
s 0 raw test.alloc pkg 500 3 pkgleak.c pk_fn 7 test
s 0 summary --pid "$rpc_pid" --top 0
hasre "$tmp/out" "^pkg of pid $rpc_pid \\(rank -?[0-9]+, entry [0-9]+\\)"
if [ $dbg = 1 ]; then
	hasre "$tmp/out" ' 1500 +3 +500 +[0-9]+ +test +pkgleak\.c:pk_fn:7$'
fi
s 0 --json summary --pool pkg --pid "$rpc_pid"
jqt ".pool == \"pkg\" and .pid == $rpc_pid"

# mods: memory per module and call site (modules are known with call sites)
s 0 mods test shm
hasre "$tmp/out" '^module +pool +pid +count +bytes +size +call site$'
s 0 --json mods test all
jqt 'type == "array"'
if [ $dbg = 1 ]; then
	jqt 'any(.[]; .module == "test" and .pool == "shm" and .count >= 4 and .size >= 4000)'
	jqt 'any(.[]; .module == "test" and .pool == "pkg" and .count >= 3 and .size >= 1500)'
	s 0 mods test shm
	hasre "$tmp/out" '^test +shm +- +[0-9]+ +[0-9]+ .*\(all call sites\)$'
	hasre "$tmp/out" '^ +4 +4000 +3\.9 KiB +leaky\.c:leak_fn:42$'
fi

# check: the heap checker's verdict
s 0 check
has "$tmp/out" "shm: ok, no problems"
# the chunked checker: many short holds, never the whole heap at once
hasre "$tmp/out" '^checked [0-9]+ blocks and [0-9]+ list entries in [0-9]+ lock holds, longest [0-9]+ us \([0-9]+ us in all\); counters and lists (compared with the blocks|not compared: the pool changed during the check \([0-9]+ lock sections of other processes, [0-9]+ lists left unverified\))$'
s 0 check --pid "$rpc_pid"
has "$tmp/out" "pkg of pid $rpc_pid: ok, no problems"
s 0 check --pool pkg               # the RPC process's, by default
has "$tmp/out" "pkg of pid $rpc_pid: ok, no problems"
s 0 --json check
jqt '.ok == true and .problems == 0'
jqt '.scan.chunks > 1 and .scan.fragments > 0 and (.exact | type) == "boolean" and .structure == 0 and .application == 0'

# --- the leak hunt: a leak seeded in the middle of the interval ---------------
timeout 30 "$ctl" -s "$sock" leaks --interval 1 > "$tmp/leaks" 2>&1 &
hunt=$!
sleep 0.5
s 0 raw test.alloc shm 300 8 late.c late_fn 77 test
wait $hunt
has "$tmp/leaks" "shm over 1 s: "
hasre "$tmp/leaks" '^ *growth +size +count +bytes +module +call site$'
if [ $dbg = 1 ]; then
	has "$tmp/leaks" "1 call site grew"
	hasre "$tmp/leaks" '^ *\+2400 +2\.3 KiB +0→8 +0→2400 +test +late\.c:late_fn:77$'
	hasnt "$tmp/leaks" "leaky.c"
else
	has "$tmp/leaks" "(built with MEMDBG=0: call sites are not recorded"
	has "$tmp/leaks" "(no call site)"
fi
timeout 30 "$ctl" -s "$sock" --json leaks --interval 1 > "$tmp/out" 2>&1 &
hunt=$!
sleep 0.5
timeout 30 "$ctl" -s "$sock" raw test.alloc shm 100 5 late2.c late2_fn 88 test > /dev/null
wait $hunt
jqt '.pool == "shm" and .interval == 1 and (.grew | length) >= 1'
jqt '.after.count - .before.count >= 5 and .after.bytes - .before.bytes >= 500'
if [ $dbg = 1 ]; then
	jqt '.grew[0] | .file == "late2.c" and .line == 88 and .count_before == 0 and .count_after == 5 and .bytes_before == 0 and .bytes_after == 500 and .growth == 500'
else
	jqt '.grew[0].file == null and .grew[0].growth >= 500'
fi
# ... and in one process's pkg
timeout 30 "$ctl" -s "$sock" leaks --interval 1 --pid "$rpc_pid" > "$tmp/leaks" 2>&1 &
hunt=$!
sleep 0.5
s 0 raw test.alloc pkg 64 10 pkgleak.c later_fn 99 test
wait $hunt
has "$tmp/leaks" "pkg of pid $rpc_pid over 1 s: "
[ $dbg = 0 ] || hasre "$tmp/leaks" '^ *\+640 +640 B +0→10 +0→640 +test +pkgleak\.c:later_fn:99$'

# --- raw: numbers stay numbers; a failing method exits 1 with its error ------
s 0 raw test.free "$shm_id"
jqt '.freed == 4'
s 1 raw no.such.method
has "$tmp/err" "srmemctl: no.such.method: error -32601: "
s 1 raw test.alloc shm notasize
hasre "$tmp/err" '^srmemctl: test.alloc: error -32602: .*size'
s 0 summary --top 0
hasnt "$tmp/out" "leaky.c:leak_fn:42"

# --- watch: two frames ---------------------------------------------------------
s 0 watch --count 2 --interval 0.2
count 2 '^srproxy memory at ' "$tmp/out"
has "$tmp/out" "frame 1/2"
has "$tmp/out" "frame 2/2"
count 2 '^entry +pid' "$tmp/out"
hasre "$tmp/out" '^shm [0-9.]+ MiB: used '
if grep -q "$(printf '\033')" "$tmp/out"; then
	echo "FAIL: escape codes in piped watch output"; exit 1
fi
s 0 --json watch --count 2 --interval 0.2
jq -es 'length == 2' "$tmp/out" > /dev/null
jq -es 'all(.[]; (.shm | has("real_used")) and (.pkg | length) >= 4)' "$tmp/out" > /dev/null
if command -v script > /dev/null; then    # a terminal: clear and redraw
	timeout 30 script -qec "$ctl -s $sock watch --count 2 --interval 0.2" \
		/dev/null > "$tmp/tty" 2>&1
	[ "$(grep -c "$(printf '\033\\[H\033\\[2J')" "$tmp/tty")" -ge 1 ]
	has "$tmp/tty" "frame 2/2"
fi

# --- lock, map: the real method or "not available" (map and top: it_map.sh) --
s 0 --json methods
cp "$tmp/out" "$tmp/methods.json"
for pair in lock:shm.lock map:shm.map; do
	cmd=${pair%%:*} m=${pair#*:}
	if jq -e --arg m "$m" 'index($m)' "$tmp/methods.json" > /dev/null; then
		s 0 "$cmd"
		hasnt "$tmp/out" "not available"
	else
		s 1 "$cmd"
		has "$tmp/err" "srmemctl: $cmd: not available in this version"
		count 0 . "$tmp/out"
	fi
done

# --- a socket that is not the caller's: permission denied ----------------------
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
	chmod 755 "$tmp"
	rc=0
	timeout 30 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$ctl" -s "$sock" ps > "$tmp/out" 2> "$tmp/err" || rc=$?
	chmod 700 "$tmp"
	[ $rc = 3 ] || { echo "FAIL: as nobody: exit $rc"; cat "$tmp/err"; exit 1; }
	has "$tmp/err" "srmemctl: $sock: permission denied"
fi

# --- the server stops: its socket is gone ---------------------------------------
kill "$srv_pid"
wait "$srv_pid" || true
srv_pid=
ctl 3 -s "$sock" shmmem
has "$tmp/err" "no srproxy answers on $sock (no such file)"
echo "it_srmemctl: ok"
