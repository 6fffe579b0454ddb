#!/bin/sh
# it_metrics.sh - what an operator monitors: the shm lock's statistics
# (shm.lock, shm.stats "lock", `srmemctl lock`).
#
# Starts `core/srproxy -f -n 2 --test-methods` on a socket and SIP port of
# its own, makes a contended acquisition (test.lock_hold in worker 1, then
# test.alloc shm in the RPC process) and checks the counters: the RPC
# process's row shows it (contended, a sleep, a wait near the hold), the
# totals are the rows' sums, every row names its process, and srmemctl
# shows the same as a table and as --json.  Env: BUILD, TOP.
set -u
srv="$BUILD/core/srproxy"
ctl="$BUILD/utils/srmemctl/srmemctl"
cli="$BUILD/tests/prog_rpcabuse"
tmp=$(mktemp -d /tmp/it_metrics.XXXXXX)
port=$((20000 + ($$ * 7) % 20000))
fails=0
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

rpc() { "$cli" call "$sock" "$@"; }
res() { rpc "$1" "${2:-[]}" | jq -c "if .error then \"ERROR \" + .error.message else .result end | $3"; }
ok() {  # ok WHAT ACTUAL EXPECTED
	if [ "$2" = "$3" ]; then
		echo "PASS: $1"
	else
		echo "FAIL: $1: got '$2', want '$3'"
		fails=$((fails + 1))
	fi
}

start() {  # start [OPTIONS]
	sock="$tmp/s$port.sock"
	port=$((port + 1))
	timeout 300 "$srv" -f -n 2 --test-methods -s "$sock" \
		-l "127.0.0.1:$port" "$@" 2>> "$tmp/log" &
	pid=$!
	for _ in $(seq 50); do
		[ -S "$sock" ] && rpc core.uptime > /dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "FAIL: srproxy did not start"; cat "$tmp/log"; exit 1
}

stop() {
	kill -TERM $pid 2>/dev/null
	wait $pid 2>/dev/null
	pid=
}

# --- the shm lock -----------------------------------------------------------
check_lock() {
	rpcpid=$(res core.ps '[]' '.[] | select(.rank==-2) | .pid')
	w1=$(res core.ps '[]' '.[] | select(.rank==1) | .pid')
	before=$(res shm.lock '[]' "[.processes[] | select(.pid==$rpcpid) | .contended] | add // 0")
	res test.lock_hold '[400]' .pid > /dev/null
	for _ in $(seq 100); do         # until the worker holds it
		[ "$(res shm.lock '[]' .owner)" = "$w1" ] && break
		sleep 0.01
	done
	res test.alloc '["shm",300000,1]' .id > /dev/null   # past the caches: locked
	l=$(res shm.lock '[]' .)
	ok "shm.lock: the RPC process waited once more" \
		"$(echo "$l" | jq "[.processes[] | select(.pid==$rpcpid) | .contended] | add - $before")" 1
	ok "shm.lock: its wait is about the hold (100..3000 ms)" \
		"$(echo "$l" | jq "[.processes[] | select(.pid==$rpcpid)][0] | .wait_max_ns >= 100000000 and .wait_max_ns < 3000000000 and .sleeps >= 1")" true
	ok "shm.lock: worker 1 took the lock" \
		"$(echo "$l" | jq "[.processes[] | select(.pid==$w1)][0] | .acquired >= 1 and .rank == 1 and .desc == \"sip worker #1\"")" true
	ok "shm.lock: totals are the rows' sums" \
		"$(echo "$l" | jq '.acquired == ([.processes[].acquired] | add) and .contended == ([.processes[].contended] | add) and .wait_ns == ([.processes[].wait_ns] | add)')" true
	ok "shm.lock: fields" "$(echo "$l" | jq -c '[.clock != null, .hold_sample, .owner, .takeovers, (.processes | length >= 2)]')" '[true,64,0,0,true]'
	ok "shm.stats has the lock totals" "$(res shm.stats '[]' '.lock | .acquired > 0 and has("wait_max_ns") and (has("processes") | not)')" true
	timeout 30 "$ctl" -s "$sock" lock > "$tmp/lock.txt" 2>&1
	ok "srmemctl lock: exit 0" $? 0
	ok "srmemctl lock: summary line" "$(grep -c '^shm lock: [0-9]* acquisitions, [0-9]* contended' "$tmp/lock.txt")" 1
	ok "srmemctl lock: header" "$(grep -cE '^ +pid +rank +acquired +contended +% +sleeps +wait +wait max +hold~ +hold max +takeovers +desc$' "$tmp/lock.txt")" 1
	ok "srmemctl lock: the RPC process's row" "$(grep -cE "^ *$rpcpid +-2 +[0-9]+ +[1-9][0-9]* .*jsonrpc server" "$tmp/lock.txt")" 1
	ok "srmemctl lock: totals row" "$(grep -cE '^ +all +[0-9]+ ' "$tmp/lock.txt")" 1
	ok "srmemctl --json lock" "$(timeout 30 "$ctl" -s "$sock" --json lock | jq -c '[(.processes | length > 0), has("acquired")]')" '[true,true]'
	res test.free '["all"]' .freed > /dev/null
}

start
check_lock
stop

ok "no sanitizer report" "$(grep -c 'AddressSanitizer\|runtime error:' "$tmp/log")" 0
echo "it_metrics: $fails failed"
[ "$fails" -eq 0 ]
