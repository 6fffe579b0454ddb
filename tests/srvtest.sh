# srvtest.sh - what the server drivers share, sourced by them (not a driver
# itself: run.sh runs tests/it_*.sh only).
#
#   rpc METHOD [PARAMS]       one JSON-RPC call on $sock, the reply line
#   res METHOD PARAMS FILTER  jq FILTER applied to the result (or "ERROR msg")
#   ok WHAT ACTUAL EXPECTED   PASS/FAIL line, prefixed by $cfg when set;
#                             failures counted in $fails
#   srv_start LOG ARGS...     srproxy -f ARGS in the background (pid in $pid,
#                             stderr appended to LOG, killed after 300 s
#                             whatever happens), back once $sock answers;
#                             exits the driver if it never does
#   srv_stop                  SIGTERM and wait: the orderly stop
#   fresh CMD...              the JSON array of pkg.stats rows that CMD
#                             prints, once every row was published after
#                             this call began (a process publishes at
#                             least every second, and checks its pkg alarm
#                             then): polled until every age_ms is below
#                             the time from the call's start to the poll,
#                             4 s at most (then the last rows: the
#                             caller's check fails on them)
#   pkg_fresh PID FILTER      jq FILTER applied to process PID's row, so
#                             published
# The driver sets srv (the srproxy binary), cli (prog_rpcabuse), sock, and
# fails=0 before using them.  it_sip.sh, which talks through srmemctl,
# uses fresh only (with an rpc of its own defined after sourcing this).
rpc() { "$cli" call "$sock" "$@"; }
res() { rpc "$1" "${2:-[]}" | jq -c "if .error then \"ERROR \" + .error.message else .result end | $3"; }
ok() {
	if [ "$2" = "$3" ]; then
		echo "PASS: ${cfg:+$cfg: }$1"
	else
		echo "FAIL: ${cfg:+$cfg: }$1: got '$2', want '$3'"
		fails=$((fails + 1))
	fi
}

srv_start() {
	_log=$1; shift
	timeout 300 "$srv" -f "$@" 2>> "$_log" &
	pid=$!
	for _ in $(seq 50); do
		[ -S "$sock" ] && rpc core.uptime > /dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "FAIL: ${cfg:+$cfg: }srproxy did not start"; cat "$_log"; exit 1
}

srv_stop() {
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}

fresh() {
	_t0=$(date +%s%3N)
	for _ in $(seq 40); do
		_t1=$(date +%s%3N)
		_rows=$("$@")
		[ "$(echo "$_rows" | jq '[.[].age_ms] | max')" -lt $((_t1 - _t0)) ] \
			2>/dev/null && break
		sleep 0.1
	done
	echo "$_rows"
}

pkg_rows() { rpc pkg.stats "[\"pid\",$1]" | jq -c .result; }
pkg_fresh() { fresh pkg_rows "$1" | jq -c ".[0] | $2"; }
