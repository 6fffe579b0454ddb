#!/bin/sh
# run.sh BUILD - the whole suite of one configuration: the Check runner
# (unit, conformance, model-based and multi-process suites), then every
# integration driver tests/it_*.sh.  Ends with "total: N passed, N failed".
# SERVER_TESTS=0 leaves out the drivers that start srproxy (they choose the
# backend at run time, so run-all.sh runs them in a few configurations
# only, and says which); KILLSTORM=0 leaves out the kill storm the same way.
# SERVER_TESTS=only runs the server drivers alone.
# CK_EXCLUDE_TAGS=heavy leaves out the Check
# cases tagged heavy (memtest.h t_heavy), as run-all.sh does where the
# build does not change what they test.  A case without a timeout of its
# own gets CK_DEFAULT_TIMEOUT, 30 s here (Check's 4 s killed cases that
# take 1 s on an idle machine, on a loaded one).
set -u
CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-30}
export CK_DEFAULT_TIMEOUT
server_tests=${SERVER_TESTS:-1}
killstorm=${KILLSTORM:-1}
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
[ "$server_tests" = only ] || check_runner

for t in "$top"/tests/it_*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	if [ "$server_tests" = 0 ] && grep -q 'core/srproxy' "$t"; then
		echo "not here: $name (a server driver; SERVER_TESTS=0)"
		continue
	fi
	if [ "$killstorm" = 0 ] && grep -q 'prog_killstorm' "$t"; then
		echo "not here: $name (the kill storm; KILLSTORM=0)"
		continue
	fi
	[ "$server_tests" != only ] || grep -q 'core/srproxy' "$t" || continue
	if BUILD="$build" TOP="$top" sh "$t" > "$build/tests/$name.log" 2>&1; then
		echo "PASS: $name"
		passed=$((passed + 1))
	else
		echo "FAIL: $name (log follows)"
		sed 's/^/    /' "$build/tests/$name.log" | tail -n 40
		failed=$((failed + 1))
	fi
done
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
