#!/bin/sh
# run.sh BUILD - the whole suite of one configuration: the Check runner
# (unit, conformance, model-based and multi-process suites), then every
# integration driver tests/it_*.sh.  Ends with "total: N passed, N failed".
# SERVER_TESTS=0 leaves out the drivers that start srproxy (they choose the
# backend at run time, so run-all.sh runs them in a few configurations
# only, and says which); KILLSTORM=0 leaves out the kill storm and the
# kill sweep the same way.
# SERVER_TESTS=only runs the server drivers alone.  SERVER_DRIVERS="rpc
# map" runs those server drivers only (names without it_; default: all),
# for run-all.sh's configurations that need a few of them.
# CK_EXCLUDE_TAGS=heavy leaves out the Check
# cases tagged heavy (memtest.h t_heavy), as run-all.sh does where the
# build does not change what they test.  A case without a timeout of its
# own gets CK_DEFAULT_TIMEOUT, 30 s here (Check's 4 s killed cases that
# take 1 s on an idle machine, on a loaded one).
# Each driver's PASS/FAIL line and the "time: Check runner" line give
# their seconds, so that run-all.sh's log says where the time goes.
set -u
CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-30}
export CK_DEFAULT_TIMEOUT
server_tests=${SERVER_TESTS:-1}
killstorm=${KILLSTORM:-1}
server_drivers=${SERVER_DRIVERS:-}
build=$1
top=$(cd "$(dirname "$0")/.." && pwd)
passed=0 failed=0

check_runner() {
	out=$(mktemp)
	"$build/tests/srmem-tests" 2>&1 | tee "$out"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -n "$line" ]; then
		passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
		failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
	else
		echo "FAIL: the Check runner did not finish"
		failed=$((failed + 1))
	fi
	rm -f "$out"
}
if [ "$server_tests" != only ]; then
	t0=$(date +%s)
	check_runner
	echo "time: Check runner $(($(date +%s) - t0)) s"
fi

for t in "$top"/tests/it_*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	if [ "$server_tests" = 0 ] && grep -q 'core/srproxy' "$t"; then
		echo "not here: $name (a server driver; SERVER_TESTS=0)"
		continue
	fi
	if [ "$killstorm" = 0 ] && grep -q 'prog_killstorm\|killsweep' "$t"; then
		echo "not here: $name (the kill storm and sweep; KILLSTORM=0)"
		continue
	fi
	[ "$server_tests" != only ] || grep -q 'core/srproxy' "$t" || continue
	if [ -n "$server_drivers" ] && grep -q 'core/srproxy' "$t"; then
		case " $server_drivers " in
		*" ${name#it_} "*) ;;
		*) echo "not here: $name (SERVER_DRIVERS=$server_drivers)"; continue ;;
		esac
	fi
	t0=$(date +%s)
	if BUILD="$build" TOP="$top" sh "$t" > "$build/tests/$name.log" 2>&1; then
		echo "PASS: $name ($(($(date +%s) - t0)) s)"
		passed=$((passed + 1))
	else
		echo "FAIL: $name ($(($(date +%s) - t0)) s; log follows)"
		sed 's/^/    /' "$build/tests/$name.log" | tail -n 40
		failed=$((failed + 1))
	fi
done
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
