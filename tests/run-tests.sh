#!/usr/bin/env bash
# Run Criterion test programs one after another and add up their results,
# ending with the plain "N passed, N failed" line CI reads.
set -u
passed=0 failed=0 status=0
for t in "$@"; do
	out=$("$t" --jobs "${CPB_TEST_JOBS:-2}" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -v '^\[----\]' | tail -n 20 | grep -E 'FAIL|Synthesis|error|ERROR|CRASH|==[0-9]+==' || true
	synth=$(printf '%s\n' "$out" | grep -a 'Synthesis:' | tail -n 1)
	if [ -z "$synth" ]; then
		echo "$t: no Criterion synthesis (exit $rc)"; printf '%s\n' "$out" | tail -n 40
		failed=$((failed + 1)); status=1; continue
	fi
	p=$(printf '%s' "$synth" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
	f=$(printf '%s' "$synth" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
	c=$(printf '%s' "$synth" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
	passed=$((passed + p)); failed=$((failed + f + c))
	echo "$(basename "$t"): $p passed, $((f + c)) failed"
	[ "$rc" = 0 ] || status=1
	[ $((f + c)) = 0 ] || { printf '%s\n' "$out" | grep -a -B2 -A8 -E 'FAIL|CRASH' | head -n 80; status=1; }
done
echo "$passed passed, $failed failed"
exit $status
