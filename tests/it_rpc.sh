#!/bin/sh
# it_rpc.sh - srproxy's JSON-RPC methods against known states.
#
# For each backend (fm, qm, tlsf for both pools) and for tlsf with the shm
# caches off, start `srproxy -f -n 2 --test-methods`, build known states
# with test.alloc at named call sites (shm in the RPC process, pkg in a
# worker), and check the methods' fields and values against them: sizes,
# counts, call sites and modules (MEMDBG=1; with MEMDBG=0 the shape, the
# counters and "sites_known": false), then test.free brings shm and the
# worker's pkg back to their baselines exactly.  Once (first run): the
# abuse driver (prog_rpcabuse abuse), a second instance on the same
# socket refused, HTTP on loopback (non-loopback refused), a worker
# SIGKILLed while it holds the shm lock (other methods answer within
# seconds, the worker comes back with a new pid), SIGTERM removes the
# socket.  Env: BUILD, TOP.  Sockets and ports are unique per run.
set -u
srv="$BUILD/core/srproxy"
cli="$BUILD/tests/prog_rpcabuse"
dbg=0
grep -q -- '-DMEMDBG=1' "$BUILD/flags" && dbg=1
rec=56          # the MEMDBG record per fragment (mem/debug.h, DBG_EXTRA)
tmp=$(mktemp -d /tmp/it_rpc.XXXXXX)
port=$((20000 + $$ % 20000))
fails=0
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

. "$TOP/tests/srvtest.sh"
long_name() { case $1 in fm) echo f_malloc;; qm) echo q_malloc;; *) echo tlsf_malloc;; esac; }

start() {  # start BACKEND [EXTRA OPTIONS]
	be=$1; shift
	sock="$tmp/s$port.sock"
	port=$((port + 1))
	srv_start "$tmp/log" -n 2 --test-methods -x "$be" -X "$be" -s "$sock" \
		-l "127.0.0.1:$port" "$@"
}
stop() { srv_stop; }

# The pkg `used` process $1 published last: test.alloc and test.free
# publish it before they answer (core/rpc/m_test.c); a baseline waits for
# a publish after the call (pkg_fresh).
pkg_used() { res pkg.stats "[\"pid\",$1]" '.[0].used'; }
shm_used() { res core.shmmem '[]' '.used'; }

check_shm_state() {
	used0=$(shm_used)
	id=$(res test.alloc '["shm",1000,5,"it_shm.c","it_fn",123,"itmod"]' .id)
	ok "test.alloc shm" "$(echo "$id" | grep -c '^[0-9]')" 1
	st=$(rpc shm.status '["it_shm.c",3]')
	if [ $dbg = 1 ]; then
		ok "shm.summary site" "$(res shm.summary '["itmod"]' '.sites[] | select(.file=="it_shm.c") | [.func,.line,.module,.count,.size] | tostring')" \
			'"[\"it_fn\",123,\"itmod\",5,5000]"'
		ok "shm.status filter: count, matched, truncated" "$(echo "$st" | jq -c '.result | [.count,.matched,.truncated]')" '[3,5,true]'
		ok "shm.status frag" "$(echo "$st" | jq -c '.result.fragments[0] | [.state,.asked,.size>=1000,.file,.func,.line,.module,.broken]')" \
			'["used",1000,true,"it_shm.c","it_fn",123,"itmod",false]'
		ok "mod.stats shm" "$(res mod.stats '["itmod","shm"]' '[.[] | [.module,.pool,.count,.size,(.sites|length)]] | tostring')" \
			'"[[\"itmod\",\"shm\",5,5000,1]]"'
		all=$(rpc shm.status '["it_shm.c",100]' | jq --argjson rec "$rec" '[.result.fragments[].size] | add + 5*$rec')
		ok "core.shmmem used grew by the blocks and records" "$(( $(shm_used) - used0 ))" "$all"
	else
		ok "shm.summary without sites" "$(res shm.summary '[]' '[.sites_known, (.sites|length), .sites[0].file] | tostring')" '"[false,1,null]"'
		ok "shm.status without sites matches nothing" "$(echo "$st" | jq -c '.result.matched')" 0
		ok "core.shmmem used grew" "$(( $(shm_used) - used0 >= 5000 ))" 1
	fi
	rep=$(res shm.report '[]' '[.used_frags >= 5, .name, (.scan.result), (.max_used_frag.size >= 1000)] | tostring')
	ok "shm.report" "$rep" "\"[true,\\\"$(long_name "$be")\\\",0,true]\""
	ok "test.free shm" "$(res test.free "[$id]" .freed)" 5
	ok "shm used back to baseline" "$(shm_used)" "$used0"
}

check_pkg_state() {
	w=$(res pkg.stats '["rank",1]' '.[0].pid')
	u0=$(pkg_fresh "$w" .used)
	id=$(res test.alloc "[\"pkg\",300,4,\"it_pkg.c\",\"it_pkg_fn\",45,\"itpkg\",\"pid\",$w]" .id)
	ok "test.alloc pkg in worker" "$(echo "$id" | grep -c '^[0-9]')" 1
	ok "test.free of no group" "$(rpc test.free '[999999]' | jq -c .error.code)" -32000
	if [ $dbg = 1 ]; then
		ok "pkg.summary of the worker" "$(res pkg.summary "[$w]" '[.pid, .rank, (.sites[] | select(.file=="it_pkg.c") | .func,.line,.module,.count,.size)] | tostring')" \
			"\"[$w,1,\\\"it_pkg_fn\\\",45,\\\"itpkg\\\",4,1200]\""
		ok "mod.stats pkg" "$(res mod.stats '["itpkg","pkg"]' '[.[] | [.pid,.count,.size]] | tostring')" "\"[[$w,4,1200]]\""
		ok "pkg used grew by the blocks and records" "$(( $(pkg_used "$w") - u0 - 4 * rec >= 1200 ))" 1
	else
		ok "pkg.summary without sites" "$(res pkg.summary "[\"rank\",1]" '[.pid, .sites_known, .count >= 4] | tostring')" "\"[$w,false,true]\""
	fi
	ok "mem.check pkg of the worker" "$(res mem.check "[\"pkg\",$w]" '[.ok,.pid] | tostring')" "\"[true,$w]\""
	ok "test.free pkg" "$(res test.free "[$id]" .freed)" 4
	ok "worker pkg used back to baseline" "$(pkg_used "$w")" "$u0"
}

check_info() {
	ok "core.version" "$(res core.version '[]' '[.name, (.build|test("MEMDBG='$dbg'"))] | tostring')" '"[\"srproxy\",true]"'
	ok "shm.info" "$(res shm.info '[]' '[.name, .sites_known] | tostring')" "\"[\\\"$(long_name "$be")\\\",$([ $dbg = 1 ] && echo true || echo false)]\""
	ok "core.ps" "$(res core.ps '[]' '[.[] | .rank] | sort | tostring')" '"[-2,-1,0,1,2]"'
	ok "core.ps all running" "$(res core.ps '[]' '[.[] | select(.state!="running")] | length')" 0
	ok "pkg.stats fields" "$(res pkg.stats '[]' '.[0] | keys | tostring')" \
		'"[\"age_ms\",\"alarm\",\"desc\",\"entry\",\"free\",\"max_used\",\"pid\",\"rank\",\"real_used\",\"total_frags\",\"total_size\",\"used\"]"'
	ok "core.shmmem fields" "$(res core.shmmem '["m"]' 'keys | tostring')" \
		'"[\"alarm\",\"cached\",\"fragments\",\"free\",\"max_used\",\"real_used\",\"total\",\"used\"]"'
	ok "core.shmmem free = total - real_used" "$(res shm.stats '[]' '.free == .total - .real_used')" true
	ok "shm.stats cache limit" "$(res shm.stats '[]' '.cache.limit')" "$cache_limit"
	check_flow
	ok "core.uptime" "$(res core.uptime '[]' '.now >= .up_since')" true
	ok "listMethods has test.alloc" "$(res system.listMethods '[]' 'index("test.alloc") != null')" true
	ok "unknown method" "$(rpc no.such | jq .error.code)" -32601
	ok "mem.check shm" "$(res mem.check '[]' '[.pool,.ok,.problems] | tostring')" '"[\"shm\",true,0]"'
	ok "mem.check in chunks" "$(res mem.check '[]' '.scan.chunks > 1 and .scan.fragments > 0 and .listed >= 0 and (.exact | type) == "boolean"')" true
}

# The caches' traffic with the heap (shm.stats .cache.flow): 300 shm
# fragments of 64 bytes asked by the RPC process take at least one refill
# when the caches are on, and nothing moves when they are off.
check_flow() {
	ok "shm.stats cache flow fields" "$(res shm.stats '[]' '.cache.flow | keys | tostring')" \
		'"[\"chains\",\"cut\",\"drains\",\"from_depot\",\"over_budget\",\"reclaimed\",\"refills\",\"to_depot\",\"to_heap\"]"'
	r0=$(res shm.stats '[]' .cache.flow.refills)
	id=$(res test.alloc '["shm",64,300,"flow.c","flow_fn",1]' .id)
	f=$(res shm.stats '[]' .cache.flow)
	if [ "$cache_limit" = 0 ]; then
		ok "shm.stats cache flow: none without caches" "$(echo "$f" | jq '[.[]] | add')" 0
	else
		ok "shm.stats cache flow: the allocations refilled" "$(echo "$f" | jq ".refills > $r0")" true
		ok "shm.stats cache flow: a refill takes a fragment or more" "$(echo "$f" | jq '.cut + .from_depot >= .refills')" true
	fi
	res test.free "[$id]" .freed > /dev/null
}

run_config() {  # BACKEND [OPTIONS]
	cfg="$*"
	start "$@"
	check_info
	check_shm_state
	check_pkg_state
}

# --- every backend, and the caches off -------------------------------------
# A build without the shm caches (SHM_CACHE=0) reports a limit of 0.
built_cache_limit=1048576       # 64 MB shm / 64
grep -q -- '-DSHM_CACHE=0' "$BUILD/flags" && built_cache_limit=0
for b in fm qm tlsf; do
	cache_limit=$built_cache_limit
	run_config "$b"
	[ "$b" = tlsf ] || stop
done

# --- once: abuse, second instance, HTTP, a dead lock holder, SIGTERM --------
cfg="tlsf extras"
if "$cli" abuse "$sock" > "$tmp/abuse" 2>&1; then
	echo "PASS: $cfg: abuse (prog_rpcabuse)"
else
	echo "FAIL: $cfg: abuse"; cat "$tmp/abuse"; fails=$((fails + 1))
fi
timeout 10 "$srv" -f -n 1 -s "$sock" -l "127.0.0.1:$((port + 500))" 2> "$tmp/second"
rc=$?
main=$(res core.ps '[]' '.[] | select(.rank==0) | .pid')
ok "second instance refused" "$([ $rc -ne 0 ] && [ $rc -ne 124 ] && echo refused):$(grep -c "another srproxy is running on $sock (pid $main)" "$tmp/second")" refused:1
ok "first instance's socket kept" "$([ -S "$sock" ] && rpc core.uptime | jq -c '.result.uptime >= 0')" true

w=$(res pkg.stats '["rank",1]' '.[0].pid')
res test.lock_hold '[5000]' .pid > /dev/null
sleep 0.3
kill -9 "$w"
t0=$(date +%s%N)
a=$(res core.shmmem '[]' '.total > 0')
b=$(res shm.summary '[]' '.count > 0')
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
ok "methods answer after the holder died" "$a $b $([ $ms -lt 3000 ] && echo fast || echo "slow ${ms}ms")" "true true fast"
for _ in $(seq 30); do
	nw=$(res core.ps '[]' '.[] | select(.rank==1) | "\(.pid) \(.state)"')
	[ "$nw" != "\"$w running\"" ] && echo "$nw" | grep -q running && break
	sleep 0.1
done
ok "worker restarted with a new pid" "$(echo "$nw" | tr -d '"' | awk -v w="$w" '$1 != w && $2 == "running" {print "yes"}')" yes
ok "mem.check shm after the takeover" "$(res mem.check '[]' .ok)" true
stop
ok "SIGTERM removes the socket" "$([ -e "$sock" ] && echo left || echo gone)" gone

cfg="tlsf http"
hp=$((port + 700))
start tlsf --http "127.0.0.1:$hp"
ok "HTTP POST /RPC" "$(curl -s -m 5 -X POST --data '{"jsonrpc":"2.0","method":"core.shmmem","params":["k"],"id":5}' "http://127.0.0.1:$hp/RPC" | jq -c '[.id, (.result.total > 0)]')" '[5,true]'
ok "HTTP notification: 204" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST --data '{"jsonrpc":"2.0","method":"core.ps"}' "http://127.0.0.1:$hp/RPC")" 204
stop
timeout 10 "$srv" -f -n 1 -s "$tmp/h.sock" -l "127.0.0.1:$((port + 800))" --http "0.0.0.0:$((hp + 1))" 2> "$tmp/nonlo"
rc=$?
ok "non-loopback HTTP refused" "$([ $rc -ne 0 ] && [ $rc -ne 124 ] && echo refused):$(grep -c 'loopback' "$tmp/nonlo"):$([ -e "$tmp/h.sock" ] && echo left || echo gone)" refused:1:gone

cfg="tlsf --shm-cache 0"
cache_limit=0
run_config tlsf --shm-cache 0
stop

cfg="all runs"
ok "no RPC process died" "$(grep -c '(jsonrpc server) pid .* died' "$tmp/log")" 0
ok "no sanitizer report" "$(grep -c 'AddressSanitizer\|runtime error:' "$tmp/log")" 0
grep -B2 -A20 'AddressSanitizer\|runtime error:\|(jsonrpc server) pid .* died' "$tmp/log" | head -60
echo "it_rpc: $fails failed"
[ "$fails" -eq 0 ]
