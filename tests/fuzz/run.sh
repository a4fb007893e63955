#!/usr/bin/env bash
# tests/fuzz/run.sh MODE SECONDS BUILD NAME... - run the libFuzzer harnesses
# (called by tests/fuzz/fuzz.mk: make fuzz, make fuzz-smoke).
#
#   smoke  replay every seed of tests/fuzz/corpus/<name>/ once, then fuzz
#          SECONDS from the seeds into a fresh BUILD/smoke-corpus-<name>
#   fuzz   fuzz SECONDS, new inputs kept in BUILD/corpus-<name> (reused by
#          the next run); the repository's corpus is only read
#
# Crashes go to BUILD/crashes/<name>-crash-<sha1>, logs to BUILD/logs/.
# Prints "<name>: N execs, M crashes" per harness, then "P passed, F
# failed" as the last line (each harness is one test); exits 1 if any
# harness crashed.
set -u

mode=$1 secs=$2 build=$3
shift 3
here=tests/fuzz

# Longest input each harness makes up (seeds may be longer: they are
# replayed whole).
max_len() {
	case $1 in
	time)		echo 96 ;;
	dotenv)		echo 4096 ;;
	href)		echo 8192 ;;
	ical)		echo 8192 ;;
	*)		echo 32768 ;;
	esac
}

mkdir -p "$build/crashes" "$build/logs"
passed=0 failed=0 total_execs=0
for name in "$@"; do
	bin=$build/fuzz_$name
	seeds=$here/corpus/$name
	log=$build/logs/$name-$mode.log
	: >"$log"
	opts=(-max_len="$(max_len "$name")" -timeout=10 -rss_limit_mb=2048
	    -print_final_stats=1 -artifact_prefix="$build/crashes/$name-")
	[ -f "$here/dict/$name.dict" ] && opts+=(-dict="$here/dict/$name.dict")
	execs=0 rc=0

	if [ "$mode" = smoke ]; then
		# 1. every seed once (crash regressions included)
		mapfile -t files < <(find "$seeds" -type f 2>/dev/null | sort)
		if [ "${#files[@]}" -gt 0 ]; then
			"$bin" -timeout=10 -rss_limit_mb=2048 \
			    -artifact_prefix="$build/crashes/$name-" \
			    "${files[@]}" >>"$log" 2>&1 || rc=$?
			execs=${#files[@]}
		fi
		out=$build/smoke-corpus-$name
		rm -rf "$out"
	else
		out=$build/corpus-$name
	fi
	mkdir -p "$out"

	# 2. fuzz for the time given (from the seeds)
	if [ "$rc" -eq 0 ]; then
		timeout -k 10 $((secs + 120)) "$bin" "${opts[@]}" \
		    -max_total_time="$secs" "$out" "$seeds" >>"$log" 2>&1 || rc=$?
		n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		execs=$((execs + ${n:-0}))
	fi

	total_execs=$((total_execs + execs))
	if [ "$rc" -eq 0 ]; then
		echo "$name: $execs execs, 0 crashes"
		passed=$((passed + 1))
	else
		art=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
		echo "$name: $execs execs, 1 crash (exit $rc${art:+, input $art}; log $log)"
		grep -a -m 5 -E 'FUZZ CHECK FAILED|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error|ERROR: libFuzzer' \
		    "$log" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done

echo "fuzz $mode: $total_execs executions in all, ${secs}s per harness"
if [ -n "${FUZZ_KNOWN_DEFECTS:-}" ]; then
	echo "open defects stepped around (tests/fuzz/fuzz.mk): $FUZZ_KNOWN_DEFECTS"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
