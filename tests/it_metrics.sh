#!/bin/sh
# it_metrics.sh - what an operator monitors: the shm lock's statistics,
# GET /metrics, and the memory alarms.
#
# Starts `core/srproxy -f -n 2 --test-methods --http 127.0.0.1:PORT` on a
# socket and ports of its own.
#   lock     a contended acquisition (test.lock_hold in worker 1, then a
#            locked test.alloc in the RPC process): its row shows it
#            (contended, a sleep, a wait near the hold), the totals are the
#            rows' sums, rows name their process; `srmemctl lock` shows the
#            same as a table and as --json.
#   metrics  a known state (test.alloc shm at a named site whose names need
#            escaping, pkg blocks in worker 1) scraped with curl and parsed
#            by prometheus_client's text parser (Debian's, /usr/bin/python3):
#            every family has HELP and TYPE, counters end in _total, pool
#            gauges equal core.shmmem / pkg.stats, the module and site
#            figures are the test's blocks (MEMDBG=1), label values come
#            back unescaped as sent, a default scrape does not rescan.
#   alarms   with -m 8 and thresholds set by mem.alarm: big shm blocks
#            cross warn, then crit, then back down, each logged exactly
#            once and counted; pkg blocks in worker 1 cross warn and back;
#            /metrics and core.shmmem/pkg.stats show the levels; repeated
#            allocation failures at one call site are logged once.
# Env: BUILD, TOP.
set -u
srv="$BUILD/core/srproxy"
ctl="$BUILD/utils/srmemctl/srmemctl"
cli="$BUILD/tests/prog_rpcabuse"
tmp=$(mktemp -d /tmp/it_metrics.XXXXXX)
port=$((20000 + ($$ * 7) % 20000))
dbg=0
grep -q -- '-DMEMDBG=1' "$BUILD/flags" && dbg=1
fails=0
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

. "$TOP/tests/srvtest.sh"
cfg=

start() {  # start [OPTIONS]
	sock="$tmp/s$port.sock"
	port=$((port + 2))
	hp=$((port + 1))
	: > "$tmp/log1"
	srv_start "$tmp/log1" -n 2 --test-methods -s "$sock" \
		-l "127.0.0.1:$port" --http "127.0.0.1:$hp" "$@"
}
stop() {
	srv_stop
	cat "$tmp/log1" >> "$tmp/log"
}

# scrape [QUERY]: the page parsed, as JSON (promparse.py below)
scrape() {
	curl -s -m 10 "http://127.0.0.1:$hp/metrics$1" > "$tmp/page"
	/usr/bin/python3 "$tmp/promparse.py" < "$tmp/page"
}
# val JSON NAME [LABELS-JQ]: the value of the sample NAME whose labels
# contain LABELS (a jq object), or null
val() { printf '%s\n' "$1" | jq -c --arg n "$2" "[.samples[] | select(.[0] == \$n and (.[1] | contains(${3:-{\}}))) | .[2]] | first"; }
cat > "$tmp/promparse.py" <<'PY'
# stdin: a Prometheus text page.  stdout: {"families": {name: {type, help,
# has_help, has_type}}, "samples": [[name, labels, value]...]}, parsed by
# prometheus_client's parser; HELP and TYPE lines are also checked raw.
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.read()
helps = {l.split()[2] for l in text.splitlines() if l.startswith("# HELP ")}
types = {l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")}
fams, samples = {}, []
for f in text_string_to_metric_families(text):
    raw = f.name + "_total" if f.type == "counter" else f.name
    fams[raw] = {"type": f.type, "help": f.documentation,
                 "has_help": raw in helps, "has_type": raw in types}
    for s in f.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps({"families": fams, "samples": samples}))
PY

# --- the shm lock -----------------------------------------------------------
check_lock() {
	rpcpid=$(res core.ps '[]' '.[] | select(.rank==-2) | .pid')
	w1=$(res core.ps '[]' '.[] | select(.rank==1) | .pid')
	row=".processes[] | select(.pid==$rpcpid)"
	before=$(res shm.lock '[]' "[$row | .contended, .wait_ns] | if length == 0 then [0,0] else . end")
	res test.lock_hold '[1000]' .pid > /dev/null
	for _ in $(seq 100); do         # until the worker holds it
		[ "$(res shm.lock '[]' .owner)" = "$w1" ] && break
		sleep 0.01
	done
	res test.alloc '["shm",300000,1]' .id > /dev/null   # past the caches: locked
	l=$(res shm.lock '[]' .)
	d=$(echo "$l" | jq -c --argjson b "$before" "[$row | .contended - \$b[0], .wait_ns - \$b[1], .sleeps]")
	ok "shm.lock: the RPC process waited once more" "$(echo "$d" | jq '.[0]')" 1
	ok "shm.lock: its wait is about the hold (100..3000 ms), it slept" \
		"$(echo "$d" | jq '.[1] >= 100000000 and .[1] < 3000000000 and .[2] >= 1')" true
	ok "shm.lock: worker 1 took the lock" \
		"$(echo "$l" | jq "[.processes[] | select(.pid==$w1)][0] | .acquired >= 1 and .rank == 1 and .desc == \"sip worker #1\"")" true
	ok "shm.lock: totals are the rows' sums" \
		"$(echo "$l" | jq '.acquired == ([.processes[].acquired] | add) and .contended == ([.processes[].contended] | add) and .wait_ns == ([.processes[].wait_ns] | add)')" true
	ok "shm.lock: fields" "$(echo "$l" | jq -c '[.clock != null, .hold_sample, .owner, .takeovers, (.processes | length >= 2)]')" '[true,64,0,0,true]'
	ok "shm.stats has the lock totals" "$(res shm.stats '[]' '.lock | .acquired > 0 and has("wait_max_ns") and (has("processes") | not)')" true
	timeout 30 "$ctl" -s "$sock" lock > "$tmp/lock.txt" 2>&1
	ok "srmemctl lock: exit 0" $? 0
	ok "srmemctl lock: summary line" "$(grep -c '^shm lock: [0-9]* acquisitions, [0-9]* contended' "$tmp/lock.txt")" 1
	ok "srmemctl lock: header" "$(grep -cE '^ *pid +rank +acquired +contended +% +sleeps +wait +wait max +hold~ +hold max +takeovers +desc$' "$tmp/lock.txt")" 1
	ok "srmemctl lock: the RPC process's row" "$(grep -cE "^ *$rpcpid +-2 +[0-9]+ +[1-9][0-9]* .*jsonrpc server" "$tmp/lock.txt")" 1
	ok "srmemctl lock: totals row" "$(grep -cE '^ *all +[0-9]+ ' "$tmp/lock.txt")" 1
	ok "srmemctl --json lock" "$(timeout 30 "$ctl" -s "$sock" --json lock | jq -c '[(.processes | length > 0), has("acquired")]')" '[true,true]'
	res test.free '["all"]' .freed > /dev/null
}

# --- /metrics ----------------------------------------------------------------
check_metrics() {
	w1=$(res core.ps '[]' '.[] | select(.rank==1) | .pid')
	# a module and a file that need escaping: a quote, a backslash, a newline
	res test.alloc '["shm",1000,5,"it\"m\\x.c","it_fn",77,"m\"od\nx"]' .id > /dev/null
	res test.alloc "[\"pkg\",300000,2,\"it_p.c\",\"it_pfn\",5,\"pmod\",\"pid\",$w1]" .id > /dev/null
	pk=$(res pkg.stats "[\"pid\",$w1]" '.[0]')    # published by test.alloc
	shm=$(res core.shmmem '[]' .)
	m=$(scrape '?scan=1')
	ok "metrics: parsed, families" "$(printf '%s\n' "$m" | jq '.families | length > 20')" true
	ok "metrics: every family has HELP and TYPE" "$(printf '%s\n' "$m" | jq -c '[.families | to_entries[] | select(.value.has_help and .value.has_type and .value.help != "" | not) | .key]')" '[]'
	ok "metrics: counters end in _total" "$(printf '%s\n' "$m" | jq -c '[.samples[] | select(.[0] | test("_total$")) | .[0]] | unique | length > 5')" true
	ok "metrics: types" "$(printf '%s\n' "$m" | jq -c '[.families.srmem_shm_used_bytes.type, .families.srmem_shm_lock_acquisitions_total.type, .families.srmem_shm_lock_wait_seconds_total.type]')" '["gauge","counter","counter"]'
	for f in total:total used:used real_used:real_used free:free cached:cached max_used:max_used; do
		ok "metrics: srmem_shm_${f%%:*}_bytes = core.shmmem ${f#*:}" "$(val "$m" "srmem_shm_${f%%:*}_bytes")" "$(echo "$shm" | jq ".${f#*:} | . + 0")"
	done
	ok "metrics: srmem_shm_fragments" "$(val "$m" srmem_shm_fragments)" "$(echo "$shm" | jq .fragments)"
	ok "metrics: srmem_pkg_used_bytes of worker 1" "$(val "$m" srmem_pkg_used_bytes "{\"pid\":\"$w1\",\"rank\":\"1\",\"desc\":\"sip worker #1\"}")" "$(echo "$pk" | jq .used)"
	ok "metrics: srmem_pkg_total_bytes of worker 1" "$(val "$m" srmem_pkg_total_bytes "{\"pid\":\"$w1\"}")" "$(echo "$pk" | jq .total_size)"
	ok "metrics: a pkg row per process" "$(printf '%s\n' "$m" | jq '[.samples[] | select(.[0] == "srmem_pkg_real_used_bytes")] | length')" 5
	ok "metrics: srmem_processes" "$(val "$m" srmem_processes)" 5
	if ! grep -q -- '-DSHM_CACHE=0' "$BUILD/flags"; then
		fl=$(res shm.stats '[]' .cache.flow)
		ok "metrics: cache families are counters" "$(printf '%s\n' "$m" | jq -c '[.families.srmem_shm_cache_refills_total.type, .families.srmem_shm_cache_fragments_total.type, .families.srmem_shm_cache_drains_total.type]')" '["counter","counter","counter"]'
		ok "metrics: a cache fragments row per way" "$(printf '%s\n' "$m" | jq -c '[.samples[] | select(.[0] == "srmem_shm_cache_fragments_total") | .[1].way] | sort')" '["cut","from_depot","reclaimed","to_depot","to_heap"]'
		ok "metrics: cache refills at most shm.stats' later count" "$(echo "$fl" | jq ".refills >= $(val "$m" srmem_shm_cache_refills_total) and .refills > 0")" true
	fi
	ok "metrics: lock acquisitions counted" "$(printf '%s\n' "$m" | jq '[.samples[] | select(.[0] == "srmem_shm_lock_acquisitions_total") | .[2]] | first > 0')" true
	ok "metrics: shm alarm ok" "$(val "$m" srmem_alarm_level '{"pool":"shm"}')" 0
	ok "metrics: thresholds" "$(val "$m" srmem_alarm_threshold_percent '{"level":"warn"}') $(val "$m" srmem_alarm_threshold_percent '{"level":"crit"}')" "80 95"
	ok "metrics: fresh scan" "$(printf '%s\n' "$m" | jq '[.samples[] | select(.[0] == "srmem_shm_scan_age_seconds") | .[2]] | first < 1')" true
	if [ $dbg = 1 ]; then
		ok "metrics: module bytes, label unescaped" "$(val "$m" srmem_shm_module_bytes '{"module":"m\"od\nx"}')" 5000
		ok "metrics: module fragments" "$(val "$m" srmem_shm_module_fragments '{"module":"m\"od\nx"}')" 5
		ok "metrics: site bytes" "$(val "$m" srmem_shm_site_bytes '{"file":"it\"m\\x.c","func":"it_fn","line":"77","module":"m\"od\nx"}')" 5000
		ok "metrics: site fragments" "$(val "$m" srmem_shm_site_fragments '{"file":"it\"m\\x.c","line":"77"}')" 5
		ok "metrics: at most 20 sites" "$(printf '%s\n' "$m" | jq '[.samples[] | select(.[0] == "srmem_shm_site_bytes")] | length <= 20')" true
	fi
	sleep 1.1
	m=$(scrape '')
	ok "metrics: a default scrape does not rescan" "$(printf '%s\n' "$m" | jq '[.samples[] | select(.[0] == "srmem_shm_scan_age_seconds") | .[2]] | first >= 1')" true
	ok "metrics: content type" "$(curl -s -m 10 -o /dev/null -w '%{content_type}' "http://127.0.0.1:$hp/metrics")" "text/plain; version=0.0.4; charset=utf-8"
	res test.free '["all"]' .freed > /dev/null
}

# --- alarms ------------------------------------------------------------------
# lines LOG TEXT: how many lines of the server's log hold TEXT
lines() { grep -c -- "$1" "$tmp/log1"; }
# shm_to PCT: allocate one shm block that brings real_used to about PCT %
shm_to() {
	t=$(res core.shmmem '[]' .total)
	r=$(res core.shmmem '[]' .real_used)
	res test.alloc "[\"shm\",$((t * $1 / 100 - r)),1,\"alarm.c\",\"fill\",$1]" .id
}
settle() { sleep 1.3; res core.shmmem '[]' .alarm > /dev/null; }

check_alarms() {
	ok "mem.alarm sets thresholds" "$(res mem.alarm '["warn",50,"crit",70]' '[.warn,.crit,.shm.alarm] | tostring')" '"[50,70,\"ok\"]"'
	ok "mem.alarm: warn above crit refused" "$(rpc mem.alarm '["warn",90]' | jq .error.code)" -32602
	a=$(shm_to 60); settle
	ok "shm alarm: warn" "$(res core.shmmem '[]' .alarm)" '"warn"'
	b=$(shm_to 80); settle
	ok "shm alarm: crit" "$(res shm.stats '[]' .alarm)" '"crit"'
	ok "metrics: shm alarm level 2" "$(val "$(scrape '')" srmem_alarm_level '{"pool":"shm"}')" 2
	res test.free "[$b]" .freed > /dev/null; settle
	ok "shm alarm: back to warn" "$(res core.shmmem '[]' .alarm)" '"warn"'
	res test.free "[$a]" .freed > /dev/null; settle
	ok "shm alarm: back to ok" "$(res core.shmmem '[]' .alarm)" '"ok"'
	settle
	ok "shm alarm: logged once each" "$(lines 'shm memory at .*above the warn threshold 50%') $(lines 'shm memory at .*above the crit threshold 70%') $(lines 'shm memory back .*below the crit threshold 70%, now warn') $(lines 'shm memory back .*below the warn threshold 50%, now ok')" "1 1 1 1"
	ok "shm alarm: counted" "$(res mem.alarm '[]' '.shm | [.raised_warn,.raised_crit,.cleared] | tostring')" '"[1,1,1]"'
	ok "metrics: raised_total" "$(val "$(scrape '')" srmem_alarm_raised_total '{"pool":"shm","level":"crit"}')" 1
	# pkg of worker 1
	w1=$(res core.ps '[]' '.[] | select(.rank==1) | .pid')
	pt=$(res pkg.stats "[\"pid\",$w1]" '.[0].total_size')
	pr=$(res pkg.stats "[\"pid\",$w1]" '.[0].real_used')
	c=$(res test.alloc "[\"pkg\",$((pt * 60 / 100 - pr)),1,\"a.c\",\"f\",1,\"m\",\"pid\",$w1]" .id)
	ok "pkg alarm: warn in pkg.stats" "$(res pkg.stats "[\"pid\",$w1]" '.[0].alarm')" '"warn"'
	ok "pkg alarm: others ok" "$(res pkg.stats '[]' "[.[] | select(.pid != $w1) | .alarm] | unique | tostring")" '"[\"ok\"]"'
	ok "metrics: pkg alarm level" "$(val "$(scrape '')" srmem_alarm_level "{\"pool\":\"pkg\",\"pid\":\"$w1\"}")" 1
	res test.free "[$c]" .freed > /dev/null
	ok "pkg alarm: back to ok" "$(res pkg.stats "[\"pid\",$w1]" '.[0].alarm')" '"ok"'
	ok "pkg alarm: logged once each way" "$(lines "pkg of process [0-9]* (sip worker #1) pid $w1 memory at .*above the warn") $(lines "pkg of process [0-9]* (sip worker #1) pid $w1 memory back")" "1 1"
	ok "mem.alarm: pkg rows" "$(res mem.alarm '[]' "[.pkg[] | select(.pid == $w1) | .raised_warn, .cleared] | tostring")" '"[1,1]"'
	# failures at one call site: one report
	for _ in 1 2 3; do rpc test.alloc '["shm",100000000,1,"oom.c","oom_fn",9,"oom"]' > /dev/null; done
	ok "allocation failures: one report per site" "$(lines 'shm: not enough memory for 100000000 bytes at ')" 1
	ok "allocation failure: pool state in it" "$(lines 'shm: not enough memory for 100000000 bytes at .*pool: total [0-9]*, real_used')" 1
	res test.free '["all"]' .freed > /dev/null
}

start
check_lock
check_metrics
stop
start -m 8
check_alarms
stop

ok "no sanitizer report" "$(grep -c 'AddressSanitizer\|runtime error:' "$tmp/log")" 0
echo "it_metrics: $fails failed"
[ "$fails" -eq 0 ]
