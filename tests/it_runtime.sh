# srproxy's runtime, as an operator meets it (doc/SERVER.md):
#   options     bad values exit 2 naming the option; -V prints the build
#   start       -f -n 2: the starting line, one child per table entry
#               (workers, timer, and whatever the modules add), SIGTERM:
#               exit 0 within 3 s, every child gone, socket removed (when
#               the RPC module made one), "stopped" logged
#   SIGINT      to the whole process group (a Ctrl-C): children ignore it,
#               the main process stops them in order, nobody "died"
#   kill -9     a worker's death logged with pid, rank and signal 9, a new
#               pid takes its entry, the server runs on
#   lock holder a worker killed while it holds the shm lock (the SIGUSR2
#               test hook of --test-methods): another worker then takes the
#               lock (dead owner taken over, heap checked) and releases it
#   policy      one worker killed 6 times fast with --restart-max 5: the
#               CRITICAL line, every child gone, exit status 1
#   daemon      without -f: the launcher exits 0 once the daemon runs, or
#               1 with the daemon's error on stderr
# Every wait is bounded; ports and paths are unique per run ($$).
set -u
srp="$BUILD/core/srproxy"
tmp=$(mktemp -d)
port=$((20000 + ($$ * 7) % 30000))
pids=""
cleanup() {
	# this run's servers: those started here, and any daemon of $tmp
	for p in $pids $(pgrep -f -- "-s $tmp/"); do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	[ -f "$tmp/log" ] && { echo "--- log:"; cat "$tmp/log"; }
	exit 1
}
# wait_for FILE FIXED-TEXT [TENTHS]: until the file holds the text
wait_for() {
	n=0
	while ! grep -qF -- "$2" "$1" 2>/dev/null; do
		n=$((n + 1))
		[ $n -gt "${3:-50}" ] && fail "no '$2' in $1"
		sleep 0.1
	done
}
children() { ps --ppid "$1" -o pid= | wc -l; }
alive() { kill -0 "$1" 2>/dev/null; }
# wait_gone PID TENTHS: until the process has exited
wait_gone() {
	n=0
	while alive "$1"; do
		n=$((n + 1))
		[ $n -gt "$2" ] && return 1
		sleep 0.1
	done
}
# pid_of ENTRY: the pid of the last start of a table entry in the log
pid_of() {
	grep -F "process $1 (" "$tmp/log" | grep -F "started: pid" | tail -n 1 |
		sed 's/.*started: pid \([0-9]*\).*/\1/'
}
# start NAME ARGS...: srproxy -f in the background, log in $tmp/log
start() {
	name=$1; shift
	sock="$tmp/$name.sock"
	port=$((port + 1))
	: > "$tmp/log"
	"$srp" -f -l "127.0.0.1:$port" -s "$sock" "$@" > "$tmp/log" 2>&1 &
	main=$!
	pids="$pids $main"
	wait_for "$tmp/log" "processes, build"
	nproc=$(sed -n 's/.*, \([0-9]*\) processes, build.*/\1/p' "$tmp/log")
	n=0
	while [ "$(grep -c 'started: pid' "$tmp/log")" -lt $((nproc - 1)) ]; do
		n=$((n + 1)); [ $n -gt 50 ] && fail "$name: children not started"
		sleep 0.1
	done
}

# --- options ---------------------------------------------------------------
bad_opt() {
	want=$1; shift
	out=$(timeout 5 "$srp" "$@" 2>&1); rc=$?
	[ $rc -eq 2 ] || fail "srproxy $*: exit $rc, want 2 ($out)"
	echo "$out" | grep -qF -- "$want" || fail "srproxy $*: '$out' lacks '$want'"
	[ "$(echo "$out" | wc -l)" -eq 1 ] || fail "srproxy $*: more than one line"
}
bad_opt "-m '0': not a valid shm size; give MB as a whole number in 1..1048576" -m 0
bad_opt "-M 'x': not a valid pkg size" -M x
bad_opt "-x 'bogus': unknown memory manager; valid names: fm (f_malloc), qm (q_malloc), tlsf (tlsf_malloc)" -x bogus
bad_opt "-n '0': not a valid number of workers; use 1..124" -n 0
bad_opt "-l '127.0.0.1:99999': not an address:port" -l 127.0.0.1:99999
bad_opt "-d 'loud': not a log level" -d loud
bad_opt "--http '192.0.2.1:80': HTTP is served on loopback only" --http 192.0.2.1:80
bad_opt "unknown option '--nope'" --nope
out=$(timeout 5 "$srp" -V) || fail "-V exits non-zero"
echo "$out" | grep -q '^srproxy [0-9]' || fail "-V: no version ($out)"
echo "$out" | grep -q '^srmem: MEMMNG=[0-2] MEMDBG=[01]' || fail "-V: no build ($out)"
timeout 5 "$srp" -h | grep -q -- '--restart-max' || fail "-h: no option list"
echo "ok: options"

# --- start, children, SIGTERM ---------------------------------------------
start term -n 2
grep -qF "sip worker #1" "$tmp/log" && grep -qF "sip worker #2" "$tmp/log" &&
	grep -qF "(timer) started" "$tmp/log" || fail "a worker or the timer missing"
[ "$(children $main)" -eq $((nproc - 1)) ] ||
	fail "$(children $main) children, the table has $((nproc - 1))"
[ "$nproc" -ge 4 ] || fail "$nproc processes for 2 workers + timer + main"
had_sock=0; [ -S "$sock" ] && had_sock=1
kids=$(ps --ppid $main -o pid=)
kill -TERM $main
wait_gone $main 30 || fail "SIGTERM: still running after 3 s"
wait $main; rc=$?
[ $rc -eq 0 ] || fail "SIGTERM: exit $rc"
for k in $kids; do alive "$k" && fail "child $k survived"; done
grep -qF "srproxy stopped" "$tmp/log" || fail "no 'stopped' line"
[ $had_sock -eq 0 ] || [ ! -e "$sock" ] || fail "socket file left behind"
grep -qF "died:" "$tmp/log" && fail "a child 'died' during a clean stop"
echo "ok: start ($nproc processes), SIGTERM"

# --- SIGINT to the process group ------------------------------------------
: > "$tmp/log"
port=$((port + 1))
setsid "$srp" -f -n 2 -l "127.0.0.1:$port" -s "$tmp/int.sock" > "$tmp/log" 2>&1 &
main=$!
pids="$pids $main"
wait_for "$tmp/log" "(timer) started"
kill -INT -- -$main 2>/dev/null || kill -INT $main
wait_gone $main 30 || fail "SIGINT: still running"
wait $main; rc=$?
[ $rc -eq 0 ] || fail "SIGINT: exit $rc"
grep -qF "died:" "$tmp/log" && fail "a child died of the group's SIGINT"
grep -qF "srproxy stopped" "$tmp/log" || fail "SIGINT: no 'stopped'"
echo "ok: SIGINT"

# --- kill -9 of a worker, and of a worker holding the shm lock ------------
start kill -n 2 --test-methods
w1=$(pid_of 1)
kill -9 "$w1"
wait_for "$tmp/log" "process 1 (sip worker #1) pid $w1 rank 1 died: killed by signal 9 (SIGKILL)"
wait_for "$tmp/log" "restarting process 1 (sip worker #1)"
n=0
while [ "$(pid_of 1)" = "$w1" ]; do
	n=$((n + 1)); [ $n -gt 30 ] && fail "worker 1 not restarted"; sleep 0.1
done
w1=$(pid_of 1)
alive "$w1" || fail "new worker 1 ($w1) not running"
alive $main || fail "server gone after a worker's death"
echo "ok: kill -9 of a worker (restarted as $w1)"

kill -USR2 "$w1"
wait_for "$tmp/log" "test: process 1 pid $w1 holds the shm lock"
kill -9 "$w1"
wait_for "$tmp/log" "pid $w1 rank 1 died: killed by signal 9"
w2=$(pid_of 2)
kill -USR2 "$w2"
wait_for "$tmp/log" "test: process 2 pid $w2 released the shm lock" 60
grep -qF "lock owner pid $w1 died holding the lock" "$tmp/log" ||
	fail "the dead owner was not reported"
grep -qF "heap intact after owner death" "$tmp/log" || fail "no heap verdict"
alive $main || fail "server gone after the lock holder's death"
[ "$(children $main)" -eq $((nproc - 1)) ] || fail "children missing"
kill -TERM $main
wait_gone $main 30 || fail "not stopped after the lock test"
wait $main; rc=$?
[ $rc -eq 0 ] || fail "exit $rc after the lock test"
echo "ok: a worker killed holding the shm lock; worker 2 took it over"

# --- restart policy exhausted ---------------------------------------------
start policy -n 2 --restart-max 5 --restart-window 10
for i in 1 2 3 4 5 6; do
	w=$(pid_of 1)
	kill -9 "$w"
	wait_for "$tmp/log" "pid $w rank 1 died"
	[ $i -eq 6 ] && break
	n=0
	while [ "$(pid_of 1)" = "$w" ]; do
		n=$((n + 1)); [ $n -gt 30 ] && fail "restart $i missing"; sleep 0.1
	done
done
kids=$(ps --ppid $main -o pid=)
wait_gone $main 30 || fail "policy: server still running"
wait $main; rc=$?
[ $rc -eq 1 ] || fail "policy: exit $rc, want 1"
grep -qF "CRITICAL: <core>" "$tmp/log" &&
	grep -qF "process 1 (sip worker #1) died 6 times within 10 s" "$tmp/log" ||
	fail "policy: no CRITICAL line"
grep -qF "srproxy stopped" "$tmp/log" || fail "policy: not stopped in order"
for k in $kids; do alive "$k" && fail "policy: child $k survived"; done
echo "ok: restart policy"

# --- daemon ---------------------------------------------------------------
port=$((port + 1))
dsock="$tmp/daemon.sock"
timeout 10 "$srp" -n 1 -l "127.0.0.1:$port" -s "$dsock" > "$tmp/dout" 2>&1 ||
	fail "daemon launcher failed: $(cat "$tmp/dout")"
dpid=$(pgrep -f -- "-s $dsock" | while read -r p; do
	[ "$(ps -o ppid= -p "$p" | tr -d ' ')" = 1 ] && echo "$p"; done | head -n 1)
[ -n "$dpid" ] || fail "daemon not found"
pids="$pids $dpid"
[ "$(ps -o sid= -p "$dpid" | tr -d ' ')" != "$dpid" ] || fail "daemon is a session leader"
n=0
while [ "$(children "$dpid")" -lt 2 ]; do
	n=$((n + 1)); [ $n -gt 30 ] && fail "daemon: children missing"; sleep 0.1
done
kill -TERM "$dpid"
wait_gone "$dpid" 30 || fail "daemon: SIGTERM ignored"
out=$(timeout 10 "$srp" -m 1048576 -n 1 -l "127.0.0.1:$port" -s "$tmp/d2.sock" 2>&1); rc=$?
[ $rc -eq 1 ] || fail "daemon start-up failure: exit $rc ($out)"
echo "$out" | grep -qF "cannot set up shm memory (1048576 MB" ||
	fail "daemon start-up failure not shown: $out"
echo "ok: daemon"
