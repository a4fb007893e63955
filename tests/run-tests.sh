#!/usr/bin/env bash
# Run Criterion test programs one after another and add up their results,
# ending with the plain "N passed, N failed" line CI reads.
#
# Servers started by the tests live in directories under $CPB_TEST_TMP;
# whatever a crashed test left running is stopped here, on every exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export CPB_SRCDIR=${CPB_SRCDIR:-$(cd "$here/.." && pwd)}
export CPB_TEST_TMP=$(mktemp -d /tmp/calplanebot-tests.XXXXXX)
# DAViCal's PostgreSQL runs as user postgres and must reach its directory.
chmod 0711 "$CPB_TEST_TMP"

cleanup() {
	local d
	for d in "$CPB_TEST_TMP"/stack.*/; do
		[ -d "$d" ] && RUN_DIR=${d%/} "$here/../nginx/run.sh" stop >/dev/null 2>&1
	done
	for d in "$CPB_TEST_TMP"/*/; do
		[ -f "$d/env" ] && "$here/servers/caldav-server.sh" stop "$d" >/dev/null 2>&1
	done
	rm -rf "$CPB_TEST_TMP"
}
trap cleanup EXIT INT TERM

# Criterion's runner leaks by itself; our code is still checked fully.
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

passed=0 failed=0 status=0
for t in "$@"; do
	start=$SECONDS
	out=$("$t" --jobs "${CPB_TEST_JOBS:-2}" 2>&1); rc=$?
	synth=$(printf '%s\n' "$out" | grep -a 'Synthesis:' | tail -n 1)
	if [ -z "$synth" ]; then
		echo "$t: no Criterion synthesis (exit $rc)"
		printf '%s\n' "$out" | tail -n 40
		failed=$((failed + 1)); status=1; continue
	fi
	p=$(printf '%s' "$synth" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
	f=$(printf '%s' "$synth" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
	c=$(printf '%s' "$synth" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
	# A sanitizer report in a forked test does not fail it in Criterion's
	# eyes: count each report as a failure here.
	san=$(printf '%s\n' "$out" | grep -a -c -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:')
	c=$((c + san))
	passed=$((passed + p)); failed=$((failed + f + c))
	echo "$(basename "$t"): $p passed, $((f + c)) failed ($((SECONDS - start)) s)"
	if [ $((f + c)) != 0 ] || [ "$rc" != 0 ]; then
		printf '%s\n' "$out" | grep -a -v '^\[----\] *$' | grep -a -B10 -A2 -E '\[FAIL\]|CRASH|ERROR|runtime error|==[0-9]+==' | head -n 120
		status=1
	fi
done
echo "$passed passed, $failed failed"
exit $status
