#!/bin/sh
# it_sip.sh - srproxy against a real SIP peer (sipp, Debian sip-tester), on
# loopback, once per backend (-x/-X fm, qm, tlsf), every step bounded by
# `timeout`:
#   1. 1,000 users REGISTER (tests/sipp/register.xml + a generated
#      injection file): every one gets 200, ul.dump lists each user with
#      the contact it registered;
#   2. a sipp UAS registers as "callee"; a sipp UAC places 5,000 calls
#      (INVITE/100/180/200/ACK/BYE/200) through the proxy at a steady rate:
#      both sipp exit 0, no failed call, no unexpected message;
#   2b. OPTIONS 200, unknown user 404, Max-Forwards: 0 483 (errors.xml);
#   2c. every worker's pkg nearly full (test.alloc): a 30 KB request, whose
#      reply needs more pkg than is left, fails alone (no_pkg_mem + 1);
#      small requests are still answered; the blocks freed, all is back;
#   3. every binding removed (Expires: 0): shm `used` and every worker's
#      pkg `used` are back to their values before the traffic, exactly;
#   4. the malformed corpus (tests/sip/corpus.bin) sent by prog_sipsend:
#      the server answers all along, no process died, bad_msg_hdr grew by
#      the number of malformed messages sent, memory is back to baseline.
# Ports are picked at random among free ones, so configurations may run
# side by side.  Needs sipp and jq.
set -eu
srp="$BUILD/core/srproxy"
ctl="$BUILD/utils/srmemctl/srmemctl"
send="$BUILD/tests/prog_sipsend"
sc="$TOP/tests/sipp"
corpus="$TOP/tests/sip/corpus.bin"
users=${SIP_USERS:-1000} calls=${SIP_CALLS:-5000} rate=1000
for t in sipp jq; do
	command -v $t > /dev/null || { echo "FAIL: $t is not installed"; exit 1; }
done
tmp=$(mktemp -d /tmp/it_sip.XXXXXX)
pid=
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2> /dev/null || true
	wait 2> /dev/null || true
	[ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	[ -f "$tmp/srp.log" ] && tail -20 "$tmp/srp.log"
	echo "FAIL: $*"
	exit 1
}
. "$TOP/tests/srvtest.sh"       # fresh
rpc() { timeout 10 "$ctl" -s "$tmp/srp.sock" --json raw "$@"; }
counter() { rpc core.stats "$1" | jq --arg k "$1" '.[$k]'; }

# Four consecutive UDP ports nobody listens on: proxy, sipp REGISTER
# client, UAS, UAC.
pick_ports() {
	while :; do
		P=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 4000 * 10 ))
		ss -Hlun | awk '{print $4}' | grep -qE ":($P|$((P+1))|$((P+2))|$((P+3)))\$" ||
			return 0
	done
}

# Release builds run f_malloc's pkg with its small objects in spans
# (--pkg-slab 1, mem/slab.c): every scenario below on them too.
slab_of() {
	grep -q -- '-DMEMDBG=0' "$BUILD/flags" && [ "$1" = fm ] &&
		echo "--pkg-slab 1" || true
}

# start BACKEND: on fresh ports; a port taken meanwhile: other ports.
start() {
	for _ in 1 2 3 4 5; do
		pick_ports
		# shellcheck disable=SC2046
		"$srp" -f -n 2 -x "$1" -X "$1" -l "127.0.0.1:$P" --test-methods \
			$(slab_of "$1") \
			-s "$tmp/srp.sock" > "$tmp/srp.log" 2>&1 &
		pid=$!
		for _ in $(seq 50); do
			rpc core.ps > /dev/null 2>&1 && return 0
			kill -0 "$pid" 2> /dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2> /dev/null && fail "srproxy -x $1: no RPC answer"
		grep -q "Address already in use" "$tmp/srp.log" ||
			fail "srproxy -x $1 did not start"
		wait "$pid" || true
	done
	fail "srproxy -x $1: no free port found"
}

stop() {
	kill -TERM "$pid"
	wait "$pid" || fail "srproxy exited with $?"
	pid=
	! grep -qE "Sanitizer|runtime error|CRITICAL" "$tmp/srp.log" ||
		fail "$be: the server's log reports a fault"
}

# shm used and the used pkg of every SIP worker, as the RPC reads them
# once every worker has published after this call began (fresh).
worker_rows() { rpc pkg.stats | jq -c '[.[] | select(.rank >= 1)]'; }
memory() {
	rows=$(fresh worker_rows)
	echo "shm $(rpc core.shmmem | jq .used)" \
		"pkg $(echo "$rows" | jq -c '[.[].used]')"
}

# sipp SCENARIO LOCAL_PORT STATFILE ARGS...: a client run, bounded.
sipp_run() {
	f=$1 lp=$2 st=$3
	shift 3
	timeout 60 sipp -sf "$sc/$f" "127.0.0.1:$P" -i 127.0.0.1 -p "$lp" \
		-nostdin -buff_size 4194304 -trace_stat -stf "$st" -trace_err \
		-error_file "$st.err" "$@" > "$st.out" 2>&1
}

# column NAME of the last line of a sipp statistics file
col() {
	awk -F';' -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++)
		if ($i == k) c = i } END { print $c }' "$1"
}

check_calls() {   # STATFILE N WHO
	[ "$(col "$1" 'SuccessfulCall(C)')" = "$2" ] ||
		fail "$3: $(col "$1" 'SuccessfulCall(C)') of $2 calls succeeded"
	[ "$(col "$1" 'FailedCall(C)')" = 0 ] || fail "$3: failed calls"
	[ "$(col "$1" 'FailedUnexpectedMessage(C)')" = 0 ] ||
		fail "$3: unexpected messages"
}

users_csv() {     # users_csv FILE: N users, each with its own contact port
	{ echo SEQUENTIAL
	  seq "$users" | awk '{ printf "user%04d;127.0.0.1;%d\n", $1, 40000 + $1 }'
	} > "$1"
}

register_users() {      # 1,000 REGISTERs, then ul.dump against the file
	sipp_run register.xml $((P+1)) "$tmp/reg.csv" -inf "$tmp/users.csv" \
		-key expires 3600 -m "$users" -r 2000 ||
		fail "$be: sipp register exited with $?"
	check_calls "$tmp/reg.csv" "$users" "$be register"
	rpc ul.dump | jq -r '.AoRs[] | "\(.AoR);\(.Contacts | length);\(.Contacts[0].Address)"' |
		sort > "$tmp/dump"
	awk -F';' 'NR > 1 { printf "%s;1;sip:%s@%s:%s\n", $1, $1, $2, $3 }' \
		"$tmp/users.csv" | sort > "$tmp/want"
	cmp -s "$tmp/dump" "$tmp/want" ||
		fail "$be: ul.dump differs: $(diff "$tmp/want" "$tmp/dump" | head -5)"
}

place_calls() {
	printf 'SEQUENTIAL\ncallee;127.0.0.1;%d\n' $((P+2)) > "$tmp/callee.csv"
	sipp_run register.xml $((P+1)) "$tmp/regc.csv" -inf "$tmp/callee.csv" \
		-key expires 3600 -m 1 || fail "$be: callee REGISTER failed"
	timeout 90 sipp -sf "$sc/uas.xml" -i 127.0.0.1 -p $((P+2)) -nostdin -buff_size 4194304 \
		-m "$calls" -trace_stat -stf "$tmp/uas.csv" -trace_err \
		-error_file "$tmp/uas.err" > "$tmp/uas.out" 2>&1 &
	uas=$!
	sipp_run uac.xml $((P+3)) "$tmp/uac.csv" -s callee -m "$calls" \
		-r "$rate" -l 2000 || fail "$be: sipp UAC exited with $?"
	wait "$uas" || fail "$be: sipp UAS exited with $?"
	check_calls "$tmp/uac.csv" "$calls" "$be UAC"
	check_calls "$tmp/uas.csv" "$calls" "$be UAS"
	[ "$(counter fwd_requests)" -ge $((calls * 3)) ] || fail "$be: fwd_requests"
}

# OPTIONS 200, unknown user 404 (its ACK dropped), Max-Forwards 0 -> 483,
# a REGISTER without a user -> 400; the counters say so.
answers() {
	d0=$(counter drop_requests)
	sipp_run errors.xml $((P+1)) "$tmp/err.csv" -s callee -m 1 ||
		fail "$be: errors.xml: sipp exited with $?"
	check_calls "$tmp/err.csv" 1 "$be errors.xml"
	sleep 0.2       # the ACK was sent last but one; no answer to wait for
	for c in 404_replies 483_replies 400_replies; do
		[ "$(counter $c)" -ge 1 ] || fail "$be: $c is 0"
	done
	[ "$(counter drop_requests)" -ge $((d0 + 1)) ] ||
		fail "$be: the ACK to an unknown user was not dropped"
}

# One record of prog_sipsend's corpus format (4-byte little-endian length,
# then the datagram): an OPTIONS to the proxy with 100 header lines of
# 300 bytes, 30 KB in all.
fat_record() {
	pad=$(head -c 280 /dev/zero | tr '\0' x)
	{ printf 'OPTIONS sip:127.0.0.1:%s SIP/2.0\r\n' "$P"
	  printf 'Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKfat\r\n'
	  printf 'From: <sip:fat@127.0.0.1>;tag=f\r\nTo: <sip:127.0.0.1>\r\n'
	  printf 'Call-ID: fat@it_sip\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n'
	  seq 100 | while read -r i; do printf 'X-Pad-%03d: %s\r\n' "$i" "$pad"; done
	  printf 'Content-Length: 0\r\n\r\n'
	} > "$1.msg"
	n=$(wc -c < "$1.msg")
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((n & 255)) \
		$((n >> 8 & 255)) $((n >> 16 & 255)) 0)" > "$1"
	cat "$1.msg" >> "$1"
}

pkg_full() {
	nm0=$(counter no_pkg_mem)
	for w in $(rpc pkg.stats | jq '.[] | select(.rank >= 1) | .pid'); do
		f=$(rpc pkg.stats pid "$w" | jq '.[0].free')
		rpc test.alloc pkg $((f - 8192)) 1 it_sip.sh pkg_full 1 test \
			"$w" > /dev/null || fail "$be: could not fill pid $w's pkg"
	done
	fat_record "$tmp/fat.bin"
	timeout 20 "$send" "127.0.0.1:$P" "$tmp/fat.bin" > /dev/null ||
		fail "$be: small requests unanswered with pkg nearly full"
	sleep 0.3
	[ "$(counter no_pkg_mem)" = $((nm0 + 1)) ] ||
		fail "$be: no_pkg_mem $(counter no_pkg_mem), expected $((nm0 + 1))"
	rpc test.free all > /dev/null
}

unregister_all() {
	sipp_run register.xml $((P+1)) "$tmp/unreg.csv" -inf "$tmp/users.csv" \
		-key expires 0 -m "$users" -r 2000 || fail "$be: unregister"
	sipp_run register.xml $((P+1)) "$tmp/unregc.csv" \
		-inf "$tmp/callee.csv" -key expires 0 -m 1 || fail "$be: unregister"
	[ "$(rpc ul.dump | jq '.AoRs | length')" = 0 ] ||
		fail "$be: bindings left after Expires: 0"
}

# The corpus holds valid messages too (REGISTERs among them): their
# bindings are removed with ul.rm before memory is compared.
send_corpus() {
	[ -f "$corpus" ] || { echo "note: no $corpus, step 4 skipped"; return 0; }
	rejected=$(awk '$1 == "rejected" { print $2 }' "${corpus%.bin}.count")
	bad0=$(counter bad_msg_hdr)
	out=$(timeout 120 "$send" "127.0.0.1:$P" "$corpus") ||
		fail "$be: prog_sipsend: server stopped answering"
	set -- $out     # records R sent S empty E unsendable U pings P
	sleep 0.3
	bad=$(( $(counter bad_msg_hdr) - bad0 ))
	echo "$be corpus: $out; bad_msg_hdr +$bad (corpus: $rejected rejected)"
	[ "$bad" = $((rejected - $6 - $8)) ] ||
		fail "$be: bad_msg_hdr +$bad, expected $((rejected - $6 - $8))"
	[ "$(rpc core.ps | jq '[.[] | .restarts] | add')" = 0 ] ||
		fail "$be: a process died under the corpus"
	for a in $(rpc ul.dump | jq -r '.AoRs[].AoR'); do
		rpc ul.rm "$a" > /dev/null
	done
}

users_csv "$tmp/users.csv"
for be in fm qm tlsf; do
	start "$be"
	base=$(memory)
	register_users
	place_calls
	answers
	pkg_full
	unregister_all
	now=$(memory)
	[ "$now" = "$base" ] || fail "$be: after calls: $now, before: $base"
	send_corpus
	now=$(memory)
	[ "$now" = "$base" ] || fail "$be: after the corpus: $now, before: $base"
	echo "$be: $users registered, $calls calls, memory back to: $base"
	stop
done
echo "PASS"
