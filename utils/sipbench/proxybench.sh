#!/bin/sh
# proxybench.sh - srproxy with each backend next to Kamailio, the same sipp
# scenarios (tests/sipp) at increasing rates, on loopback.  A benchmark,
# not a test: it prints what it measured and exits 0.
#
#   utils/sipbench/proxybench.sh [BUILD]     (default build/m2-d1-futex)
#
# For each server (kamailio with kamailio.cfg if installed; srproxy -x/-X
# fm, qm, tlsf; with NODBG_BUILD=dir also that build's srproxy, tlsf), all
# with 4 workers, 64 MB shm, 8 MB pkg:
#   bytes   shm real_used per contact: real_used after 10,000 REGISTERs of
#           distinct users minus before, / 10,000 (srproxy: RPC
#           core.shmmem; Kamailio: kamcmd core.shmmem, q_malloc as in the
#           issue's reference figure)
#   reg     REGISTER rates REG_RATES (each STEP_S seconds of traffic,
#           refreshing the same 10,000 users): the highest with every
#           REGISTER answered 200 and sipp reaching 90% of the rate asked
#   call    call rates CALL_RATES (INVITE/100/180/200/ACK/BYE/200, a sipp
#           UAS registered behind the proxy): the highest with no failed
#           call on either side and 90% of the rate reached
#   cpu     CPU per 1,000 messages the proxy received, at the reference
#           rates REG_REF and CALL_REF: utime+stime from /proc/PID/stat of
#           the server's processes (main and children), over the step
# A ladder stops at its first failed step.  RUNS (3) rounds, servers
# interleaved in each; the summary gives median [min-max] over the rounds.
# Environment: RUNS, REG_RATES, CALL_RATES, REG_REF, CALL_REF, STEP_S,
# NODBG_BUILD, OUT (raw results file).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build/m2-d1-futex}
runs=${RUNS:-3}
reg_rates=${REG_RATES:-"2000 4000 8000 12000 16000"}
call_rates=${CALL_RATES:-"500 1000 2000 3000 4000"}
reg_ref=${REG_REF:-4000} call_ref=${CALL_REF:-1000}
step=${STEP_S:-3}
users=10000
sc="$top/tests/sipp"
ctl="$build/utils/srmemctl/srmemctl"
hz=$(getconf CLK_TCK)
tmp=$(mktemp -d /tmp/proxybench.XXXXXX)
out=${OUT:-$tmp/results.tsv}
spid=
cleanup() {
	[ -z "$spid" ] || kill "$spid" 2> /dev/null || true
	wait 2> /dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

servers="srproxy-fm srproxy-qm srproxy-tlsf"
command -v kamailio > /dev/null && servers="kamailio $servers"
[ -z "${NODBG_BUILD:-}" ] || servers="$servers nodbg-tlsf"

pick_ports() {
	while :; do
		P=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 4000 * 10 ))
		ss -Hlun | awk '{print $4}' |
			grep -qE ":($P|$((P+1))|$((P+2))|$((P+3)))\$" || return 0
	done
}

start_server() {        # NAME
	pick_ports
	case $1 in
	kamailio)
		kamailio -f "$top/utils/sipbench/kamailio.cfg" -DD -E -m 64 \
			-M 8 -x qm -X qm -l "udp:127.0.0.1:$P" \
			-A "CTLSOCK=\"unix:$tmp/kam.ctl\"" -P "$tmp/kam.pid" \
			> "$tmp/server.log" 2>&1 &
		;;
	*)
		bin="$build/core/srproxy"
		[ "${1%%-*}" = nodbg ] && bin="$NODBG_BUILD/core/srproxy"
		"$bin" -f -n 4 -m 64 -M 8 -x "${1#*-}" -X "${1#*-}" \
			-l "127.0.0.1:$P" -s "$tmp/srp.sock" > "$tmp/server.log" 2>&1 &
		;;
	esac
	spid=$!
	for _ in $(seq 50); do
		shm_real_used > /dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "$1 did not start:"; cat "$tmp/server.log"; exit 1
}

stop_server() {
	kill -TERM "$spid"
	wait "$spid" || true
	spid=
	sleep 0.5
}

shm_real_used() {
	if [ "$name" = kamailio ]; then
		kamcmd -s "unix:$tmp/kam.ctl" core.shmmem |
			awk '$1 == "real_used:" { print $2 }' | grep .
	else
		"$ctl" -s "$tmp/srp.sock" --json raw core.shmmem | jq -e .real_used
	fi
}

# CPU ticks of the server: its main process and every child.
cpu_ticks() {
	for p in $spid $(ps -o pid= --ppid "$spid"); do
		sed 's/.*) //' "/proc/$p/stat" 2> /dev/null | awk '{print $12 + $13}'
	done | awk '{ s += $1 } END { print s }'
}

col() {         # FILE COLUMN: that column of the statistics' last line
	awk -F';' -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++)
		if ($i == k) c = i } END { print $c }' "$1"
}

per_k() {       # T0 T1 MESSAGES: CPU ms per 1,000 messages
	echo "$1 $2 $3" | awk -v hz="$hz" \
		'{ printf "%.1f", ($2 - $1) * 1000 / hz / ($3 / 1000) }'
}

sipp_run() {    # SCENARIO LOCAL_PORT STATFILE ARGS...
	f=$1 lp=$2 st=$3
	shift 3
	rm -f "$st"
	timeout 120 sipp -sf "$sc/$f" "127.0.0.1:$P" -i 127.0.0.1 -p "$lp" \
		-nostdin -buff_size 4194304 -trace_stat -stf "$st" "$@" \
		> /dev/null 2>&1
}

# ok STATFILE N RATE: N calls succeeded, none failed, 90% of RATE reached
ok() {
	[ -f "$1" ] && [ "$(col "$1" 'SuccessfulCall(C)')" = "$2" ] &&
		[ "$(col "$1" 'FailedCall(C)')" = 0 ] &&
		awk -v r="$(col "$1" 'CallRate(C)')" -v w="$3" \
			'BEGIN { exit !(r >= 0.9 * w) }'
}

register() {    # RATE COUNT EXPIRES
	sipp_run register.xml $((P+1)) "$tmp/reg.csv" -inf "$tmp/users.csv" \
		-key expires "$3" -m "$2" -r "$1" -rate_increase 0
}

bytes_per_contact() {
	b0=$(shm_real_used)
	register 5000 $users 3600 || true
	b1=$(shm_real_used)
	ok "$tmp/reg.csv" $users 0 || { echo "-"; return; }
	echo $(( (b1 - b0) / users ))
}

reg_ladder() {
	best=0 cpu=-
	for r in $reg_rates; do
		n=$((r * step))
		t0=$(cpu_ticks)
		register "$r" "$n" 3600 || true
		t1=$(cpu_ticks)
		ok "$tmp/reg.csv" "$n" "$r" || break
		best=$r
		[ "$r" = "$reg_ref" ] && cpu=$(per_k "$t0" "$t1" "$n")
	done
	echo "$best $cpu"
}

call_ladder() {
	printf 'SEQUENTIAL\ncallee;127.0.0.1;%d\n' $((P+2)) > "$tmp/callee.csv"
	sipp_run register.xml $((P+1)) "$tmp/rc.csv" -inf "$tmp/callee.csv" \
		-key expires 3600 -m 1 || true
	best=0 cpu=-
	for r in $call_rates; do
		n=$((r * step))
		timeout 120 sipp -sf "$sc/uas.xml" -i 127.0.0.1 -p $((P+2)) \
			-nostdin -buff_size 4194304 -m "$n" -trace_stat \
			-stf "$tmp/uas.csv" > /dev/null 2>&1 &
		uas=$!
		t0=$(cpu_ticks)
		sipp_run uac.xml $((P+3)) "$tmp/uac.csv" -s callee -m "$n" \
			-r "$r" -rate_increase 0 || true
		t1=$(cpu_ticks)
		wait "$uas" || true
		ok "$tmp/uac.csv" "$n" "$r" && ok "$tmp/uas.csv" "$n" 0 || break
		best=$r
		# 7 messages of each call cross the proxy
		[ "$r" = "$call_ref" ] && cpu=$(per_k "$t0" "$t1" $((n * 7)))
	done
	echo "$best $cpu"
}

{ echo SEQUENTIAL
  seq $users | awk '{ printf "u%05d;127.0.0.1;%d\n", $1, 30000 + $1 % 30000 }'
} > "$tmp/users.csv"
printf 'run\tserver\tbytes\treg_max\treg_cpu\tcall_max\tcall_cpu\n' > "$out"
for run in $(seq "$runs"); do
	for name in $servers; do
		start_server "$name"
		bytes=$(bytes_per_contact)
		if [ "${name%%-*}" = nodbg ]; then
			reg="- -" call="- -"
		else
			reg=$(reg_ladder)
			call=$(call_ladder)
		fi
		stop_server
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$bytes" \
			${reg% *} ${reg#* } ${call% *} ${call#* } | tee -a "$out"
	done
done

# median [min-max] of each column per server
echo
echo "server bytes/contact reg/s(max) cpu_ms/1k_reg@$reg_ref calls/s(max) cpu_ms/1k_msg@$call_ref"
for name in $servers; do
	line=$name
	for c in 3 4 5 6 7; do
		v=$(awk -F'\t' -v s="$name" -v c="$c" '$2 == s { print $c }' "$out" |
			sort -g | tr '\n' ' ')
		line="$line $(echo "$v" | awk '{ if ($1 == "-" || NF == 0) { print "-"; exit }
			printf "%s [%s-%s]", $(int((NF + 1) / 2)), $1, $NF }')"
	done
	echo "$line"
done
echo "raw results: $out"
