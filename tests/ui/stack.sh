#!/usr/bin/env bash
# tests/ui/stack.sh - the status page through the real stack (phase 2).
#
#   tests/ui/stack.sh            start everything here, test, stop everything
#   tests/ui/stack.sh URL        test a stack that is already running at URL
#                                (no CalDAV-stop case: it is not ours to stop)
#
# Starts Radicale and the Plane simulator (sample workspace) on 127.0.0.1,
# syncs a few issues with calplanebot-sync, starts nginx + the spawn-fcgi
# pool with `make run` in a run directory of its own, then runs
# tests/ui/test_ui.js --base against it: the page must show what
# /api/v1/health returns, and turn unhealthy once Radicale is stopped and a
# sync fails.  Everything is stopped on every exit.
#
# BUILD (default build) selects the build whose binaries are used, as in
# the top Makefile.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
node=${UI_NODE:-node}

if [[ $# -ge 1 && -n $1 ]]; then
	exec "$node" "$top/tests/ui/test_ui.js" --base "$1"
fi

BUILD=${BUILD:-build}
if [[ $BUILD == build ]]; then bindir=$top/bin; else bindir=$top/$BUILD/bin; fi
sync_bin=$bindir/calplanebot-sync
work=$(mktemp -d /tmp/cpb-ui-stack.XXXXXX)
chmod 0711 "$work"
run_dir=$work/run
sim_pid=""

stop_all() {
	local rc=$?
	make -s -C "$top" stop BUILD="$BUILD" RUN_DIR="$run_dir" >/dev/null 2>&1 || true
	if [[ -n $sim_pid ]]; then
		kill "$sim_pid" 2>/dev/null || true
		wait "$sim_pid" 2>/dev/null || true
	fi
	"$top/tests/servers/caldav-server.sh" stop "$work/radicale" >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap stop_all EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL stack: $*"
	echo "0 passed, 1 failed"
	exit 1
}

make -s -C "$top" all BUILD="$BUILD" >"$work/build.log" 2>&1 ||
	{ tail -n 20 "$work/build.log"; fail "build failed"; }

caldav_env=$("$top/tests/servers/caldav-server.sh" start radicale "$work/radicale") ||
	fail "Radicale did not start"
eval "$caldav_env"
/usr/bin/python3 "$top/tests/sim/plane_sim.py" \
	--fixture "$top/tests/sim/sample_workspace.json" --port 0 \
	--port-file "$work/sim.port" --rate-limit 0 --log "$work/sim.log" \
	>"$work/sim.out" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [[ -s $work/sim.port ]] && break; sleep 0.1; done
[[ -s $work/sim.port ]] || fail "the Plane simulator did not start: $(tail -n 5 "$work/sim.out")"
sim_url="http://127.0.0.1:$(cat "$work/sim.port")"
token=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_token"])' \
	"$top/tests/sim/sample_workspace.json")

cat >"$work/calplanebot.env" <<EOF
PLANE_BASE_URL=$sim_url
PLANE_API_TOKEN=$token
PLANE_WORKSPACE_SLUG=acme
PLANE_WEB_URL=https://plane.example.com
PLANE_WEBHOOK_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
CALPLANEBOT_ADMIN_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
CALDAV_URL=$CALDAV_URL
CALDAV_USERNAME=$CALDAV_USERNAME
CALDAV_PASSWORD='$CALDAV_PASSWORD'
CALDAV_AUTH_TYPE=$CALDAV_AUTH_TYPE
CALPLANEBOT_DB=$work/state.db
CALPLANEBOT_RETRY_ATTEMPTS=1
CALPLANEBOT_CONNECT_TIMEOUT=2
LOG_LEVEL=WARNING
EOF
export CALPLANEBOT_CONFIG=$work/calplanebot.env

# A few synced issues, and a second run so the chart has more than one.
"$sync_bin" >"$work/sync1.log" 2>&1 || fail "the first sync failed: $(tail -n 5 "$work/sync1.log")"
"$sync_bin" >"$work/sync2.log" 2>&1 || fail "the second sync failed: $(tail -n 5 "$work/sync2.log")"

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
make -s -C "$top" run BUILD="$BUILD" RUN_DIR="$run_dir" HTTPS_PORT="$port" POOL_SIZE=2 \
	>"$work/run.log" 2>&1 || { cat "$work/run.log"; fail "make run failed"; }

status=0
"$node" "$top/tests/ui/test_ui.js" --base "https://127.0.0.1:$port/" \
	--stop-caldav "'$top/tests/servers/caldav-server.sh' stop '$work/radicale'" \
	--sim "$sim_url" \
	--sync "'$sync_bin' >>'$work/sync3.log' 2>&1" || status=$?
exit "$status"
