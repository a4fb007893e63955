#!/usr/bin/env bash
# Memory checks of the long-running parts, against the real stack (nginx over
# TLS, the spawn-fcgi pool, Radicale, the Plane simulator), all on 127.0.0.1:
#
#   1. valgrind --leak-check=full on one full sync and one drain;
#   2. valgrind on a pool of two responders serving LEAK_REQUESTS (10 000)
#      mixed requests (tests/leak/load.py), then stopped with SIGTERM;
#   3. without valgrind, one responder serving RSS_REQUESTS (100 000) mixed
#      requests, its VmRSS sampled every RSS_EVERY (10 000): the curve is
#      printed and the growth after warm-up must stay under RSS_SLACK_KB
#      (2048: SQLite's page cache filling as webhooks grow the store); then
#      RSS_READS (half as many) requests that only read: growth <= 256 kB.
#
# Passes when valgrind reports no definite leak and no memory error in any
# process, and the RSS stays flat.  `make leak-check` runs it (tests/leak/
# leak.mk); takes several minutes.  Results go to docs/reliability.md.
#
# Settings: BINDIR (bin), LEAK_REQUESTS, RSS_REQUESTS, RSS_READS,
# RSS_EVERY, RSS_SLACK_KB (2048), KEEP=1 keeps the work directory.
set -uo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}

top=$(cd "$(dirname "$0")/../.." && pwd)
BINDIR=${BINDIR:-$top/bin}
[[ $BINDIR == /* ]] || BINDIR=$top/$BINDIR
LEAK_REQUESTS=${LEAK_REQUESTS:-10000}
RSS_REQUESTS=${RSS_REQUESTS:-100000}
RSS_EVERY=${RSS_EVERY:-10000}
RSS_SLACK_KB=${RSS_SLACK_KB:-2048}
RSS_READS=${RSS_READS:-$((RSS_REQUESTS / 2))}
SECRET=plane_wh_1eac1eac1eac1eac1eac1eac1eac1eac
ADMIN=adm-leak-0f1e2d3c4b5a69788796a5b4c3d2e1f0
TOKEN=plane_api_1eac0123456789abcdef0123456789ab

die() { printf 'leak.sh: %s\n' "$*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind not found (apt-get install valgrind)"
[[ -x $BINDIR/calplanebot-fcgi && -x $BINDIR/calplanebot-sync ]] ||
	die "build first: $BINDIR/calplanebot-{fcgi,sync} missing"
if nm "$BINDIR/calplanebot-fcgi" 2>/dev/null | grep -q __asan_init; then
	die "$BINDIR holds a sanitizer build; valgrind needs a plain one"
fi

work=$(mktemp -d /tmp/calplanebot-leak.XXXXXX)
chmod 0711 "$work"
sim_pid=
cleanup() {
	local d
	for d in "$work/run-vg" "$work/run-mixed" "$work/run-reads"; do
		[[ -d $d ]] && RUN_DIR=$d "$top/nginx/run.sh" stop >/dev/null 2>&1
	done
	[[ -f $work/dav/env ]] && "$top/tests/servers/caldav-server.sh" stop "$work/dav" >/dev/null 2>&1
	[[ -n $sim_pid ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT INT TERM

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- the servers -------------------------------------------------------------
/usr/bin/python3 "$top/tests/sim/plane_sim.py" \
	--fixture "$top/tests/sim/sample_workspace.json" --port 0 \
	--port-file "$work/sim.port" --rate-limit 0 --token "$TOKEN" \
	--log "$work/sim.log" >"$work/sim.out" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [[ -s $work/sim.port ]] && break; sleep 0.05; done
[[ -s $work/sim.port ]] || die "the Plane simulator did not start"
sim_url=http://127.0.0.1:$(<"$work/sim.port")
"$top/tests/servers/caldav-server.sh" start radicale "$work/dav" >/dev/null ||
	die "radicale did not start"
# shellcheck disable=SC1091
. "$work/dav/env"

export CALPLANEBOT_CONFIG=/dev/null PLANE_BASE_URL=$sim_url
export PLANE_API_TOKEN=$TOKEN PLANE_WORKSPACE_SLUG=acme
export PLANE_WEB_URL=https://plane.example.com CALDAV_URL CALDAV_USERNAME
export CALDAV_PASSWORD CALDAV_AUTH_TYPE PLANE_WEBHOOK_SECRET=$SECRET
export CALPLANEBOT_ADMIN_TOKEN=$ADMIN CALPLANEBOT_DB=$work/state.db
export CALPLANEBOT_RETRY_MIN_MS=50 CALPLANEBOT_RETRY_MAX_MS=200
export LOG_LEVEL=WARNING

# Webhook bodies as Plane sends them, one per issue with a due date.
/usr/bin/python3 - "$sim_url" >"$work/payloads.txt" <<'EOF' || die "no payloads"
import json, sys, urllib.request
base = sys.argv[1]
issues = json.load(urllib.request.urlopen(base + "/_sim/issues"))
for it in issues:
    if it.get("target_date"):
        q = "/_sim/webhook_payload?event=issue&action=updated&field=name&issue_id="
        r = json.load(urllib.request.urlopen(base + q + it["id"]))
        print(r["body"])
EOF

status=0
vg=(valgrind --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30)

# "definitely lost: 0" (or no leak at all) and no error, in every report.
check_reports() {
	local f bad=0 lost errs
	for f in "$@"; do
		[[ -s $f ]] || { echo "  $f: empty (process killed?)"; bad=1; continue; }
		lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -n 1)
		errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$f" | tail -n 1)
		if grep -q "All heap blocks were freed" "$f"; then lost=0; fi
		printf '  %-28s definitely lost: %s bytes, errors: %s\n' \
			"$(basename "$f")" "${lost:-?}" "${errs:-?}"
		if [[ ${lost:-x} != 0 || ${errs:-x} != 0 ]]; then
			bad=1
			sed -n '/definitely lost in/,/^==[0-9]*== $/p' "$f" | head -n 60
			grep -A20 "Invalid \|uninitialised" "$f" | head -n 40
		fi
	done
	return $bad
}

# ---- 1. one full sync and one drain under valgrind -------------------------
echo "== full sync and drain under valgrind"
t0=$SECONDS
"${vg[@]}" --log-file="$work/vg-sync.log" "$BINDIR/calplanebot-sync" \
	>"$work/sync.out" 2>"$work/sync.err"
rc=$?
echo "  sync exit $rc ($(cat "$work/sync.out")), $((SECONDS - t0)) s"
((rc == 0)) || { tail -n 5 "$work/sync.err"; status=1; }
"${vg[@]}" --log-file="$work/vg-drain.log" "$BINDIR/calplanebot-sync" drain \
	>"$work/drain.out" 2>"$work/drain.err"
echo "  drain exit $? ($(cat "$work/drain.out"))"
check_reports "$work/vg-sync.log" "$work/vg-drain.log" || status=1

# ---- 2. the responders under valgrind --------------------------------------
start_stack() {	# RUN_DIR BINDIR POOL
	RUN_DIR=$1 BINDIR=$2 POOL_SIZE=$3 HTTPS_PORT=$(free_port) NGINX_WORKERS=1 \
		WWW_ROOT=$top/www "$top/nginx/run.sh" start >"$1.start" 2>&1 ||
		{ cat "$1.start"; return 1; }
	sed -n 's|.*status page *\(https://[^/]*\)/.*|\1|p' "$1.start"
}

stop_pool() {	# RUN_DIR: SIGTERM, then wait (valgrind writes its report)
	local pids pid i alive
	mapfile -t pids <"$1/fcgi.pid"
	kill -TERM "${pids[@]}" 2>/dev/null
	for ((i = 0; i < 600; i++)); do
		alive=0
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		((alive)) || return 0
		sleep 0.1
	done
	echo "  responders did not stop in 60 s"
	return 1
}

echo "== $LEAK_REQUESTS mixed requests, two responders under valgrind"
mkdir -p "$work/vgbin"
cat >"$work/vgbin/calplanebot-fcgi" <<EOF
#!/bin/sh
exec ${vg[*]} --log-file=$work/vg-fcgi.%p.log $BINDIR/calplanebot-fcgi "\$@"
EOF
chmod 0755 "$work/vgbin/calplanebot-fcgi"
ln -s "$BINDIR/calplanebot-sync" "$work/vgbin/calplanebot-sync"
if url=$(start_stack "$work/run-vg" "$work/vgbin" 2); then
	t0=$SECONDS
	/usr/bin/python3 "$top/tests/leak/load.py" --url "$url" \
		--cacert "$work/run-vg/tls/cert.pem" --requests "$LEAK_REQUESTS" \
		--secret "$SECRET" --admin "$ADMIN" --payloads "$work/payloads.txt" \
		>"$work/load-vg.out" 2>&1 || status=1
	sed 's/^/  /' "$work/load-vg.out"
	echo "  $((SECONDS - t0)) s"
	stop_pool "$work/run-vg" || status=1
	RUN_DIR=$work/run-vg "$top/nginx/run.sh" stop >/dev/null 2>&1
	check_reports "$work"/vg-fcgi.*.log || status=1
else
	echo "  the stack did not start under valgrind"
	status=1
fi

# ---- 3. RSS of one responder over RSS_REQUESTS requests --------------------
# rss_run NAME REQUESTS SLACK_KB [--only KINDS]: one plain responder, VmRSS
# every RSS_EVERY requests; after the first sample (caches, TLS, SQLite
# pages warm up) the growth must stay under SLACK_KB.
rss_run() {
	local name=$1 n=$2 slack=$3 url pid warm last
	shift 3
	echo "== RSS of one responder over $n requests ($name)"
	if ! url=$(start_stack "$work/run-$name" "$BINDIR" 1); then
		echo "  the stack did not start"
		return 1
	fi
	pid=$(head -n 1 "$work/run-$name/fcgi.pid")
	t0=$SECONDS
	/usr/bin/python3 "$top/tests/leak/load.py" --url "$url" \
		--cacert "$work/run-$name/tls/cert.pem" --requests "$n" \
		--secret "$SECRET" --admin "$ADMIN" --payloads "$work/payloads.txt" \
		--rss-pid "$pid" --rss-every "$RSS_EVERY" --seed 2 "$@" \
		>"$work/load-$name.out" 2>&1 || status=1
	sed 's/^/  /' "$work/load-$name.out"
	echo "  $((SECONDS - t0)) s"
	RUN_DIR=$work/run-$name "$top/nginx/run.sh" stop >/dev/null 2>&1
	read -r warm last < <(awk '$1 == "rss" { v[n++] = $3 } END { print v[1], v[n-1] }' \
		"$work/load-$name.out")
	if [[ -z ${warm:-} || -z ${last:-} ]]; then
		echo "  no RSS samples"
		return 1
	fi
	echo "  VmRSS after warm-up ${warm} kB, at the end ${last} kB (growth $((last - warm)) kB, allowed $slack kB)"
	((last - warm <= slack)) || { echo "  RSS grows"; return 1; }
}

# Mixed: webhooks add rows to the store (deliveries are remembered 7 days
# for deduplication), so SQLite's page cache (2000 KiB by default) fills
# as the file grows: growth up to that much is the cache, not a leak.
rss_run mixed "$RSS_REQUESTS" "$RSS_SLACK_KB" || status=1
# Reads only (no store growth): flat to within a few pages.
rss_run reads "$RSS_READS" 256 --only health,api_health,status,metrics,dead,nope,head ||
	status=1

if ((status == 0)); then
	echo "leak-check: passed (no definite leak, no memory error, flat RSS)"
else
	echo "leak-check: FAILED"
fi
exit $status
