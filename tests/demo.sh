#!/usr/bin/env bash
# make demo: CalPlaneBot on this machine, end to end, for a newcomer.
#
# Starts a real Radicale CalDAV server and the Plane simulator with a sample
# workspace (three projects), runs calplanebot-sync against them, shows the
# calendars it made, then starts the web half exactly as `make run` does
# (nginx over TLS with a self-signed certificate, the spawn-fcgi pool), has
# "Plane" send a signed webhook through it, shows the change arrive in the
# calendar, and prints the status page and API URLs.  Everything listens on
# 127.0.0.1 only and is stopped when the demo ends.
#
#   HTTPS_PORT (default 8443, or a free port if that is taken), POOL_SIZE,
#   BINDIR (default ./bin)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bindir=${BINDIR:-$top/bin}
[[ $bindir == /* ]] || bindir=$top/$bindir
bin="$bindir/calplanebot-sync"
demo=$(mktemp -d /tmp/calplanebot-demo.XXXXXX)
chmod 0711 "$demo"
sim_pid=""

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

stop_all() {
	RUN_DIR="$demo/run" "$top/nginx/run.sh" stop >/dev/null 2>&1 || true
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
	"$top/tests/servers/caldav-server.sh" stop "$demo/radicale" >/dev/null 2>&1 || true
	rm -rf "$demo"
}
trap stop_all EXIT INT TERM

bold "Starting a real CalDAV server (Radicale) and the Plane simulator"
eval "$("$top/tests/servers/caldav-server.sh" start radicale "$demo/radicale")"
/usr/bin/python3 "$top/tests/sim/plane_sim.py" \
	--fixture "$top/tests/sim/sample_workspace.json" --port 0 \
	--port-file "$demo/sim.port" --rate-limit 60 --log "$demo/sim.log" \
	>"$demo/sim.out" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [ -s "$demo/sim.port" ] && break; sleep 0.1; done
sim_url="http://127.0.0.1:$(cat "$demo/sim.port")"
token=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_token"])' \
	"$top/tests/sim/sample_workspace.json")
# The webhook secret Plane shows when the webhook is made (the sample's).
wh_secret=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["webhook"]["secret"])' \
	"$top/tests/sim/sample_workspace.json")
admin_token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "CalDAV server: $CALDAV_URL (user $CALDAV_USERNAME)"
echo "Plane (simulated): $sim_url, workspace 'acme', 3 projects, 18 issues"

cat >"$demo/calplanebot.env" <<EOF
# What an operator writes: see docs/configuration.md
PLANE_BASE_URL=$sim_url
PLANE_API_TOKEN=$token
PLANE_WORKSPACE_SLUG=acme
PLANE_WEB_URL=https://plane.example.com
CALDAV_URL=$CALDAV_URL
CALDAV_USERNAME=$CALDAV_USERNAME
CALDAV_PASSWORD='$CALDAV_PASSWORD'
CALDAV_AUTH_TYPE=basic
CALPLANEBOT_DB=$demo/state.db
PLANE_WEBHOOK_SECRET=$wh_secret
CALPLANEBOT_ADMIN_TOKEN=$admin_token
LOG_LEVEL=INFO
EOF
export CALPLANEBOT_CONFIG="$demo/calplanebot.env"

bold "calplanebot-sync check: is everything reachable?"
"$bin" check

bold "calplanebot-sync: the first full sync (one log line per operation)"
"$bin" || true

show_calendars() {
	/usr/bin/python3 - "$CALDAV_URL" "$CALDAV_USERNAME" "$CALDAV_PASSWORD" <<'PY'
import base64, sys, urllib.request
import xml.etree.ElementTree as ET
url, user, pw = sys.argv[1:4]
D, C = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"
auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
def dav(method, path, body):
    req = urllib.request.Request(url.rstrip("/") + path, data=body.encode(), method=method,
        headers={"Authorization": auth, "Depth": "1", "Content-Type": "application/xml"})
    return ET.fromstring(urllib.request.urlopen(req).read())
def prop(text, name):
    lines = text.replace("\r\n ", "").replace("\n ", "").splitlines()
    for line in lines:
        key = line.split(":", 1)[0].split(";", 1)[0]
        if key == name:
            return line.split(":", 1)[1].replace("\\,", ",").replace("\\;", ";")
    return ""
home = dav("PROPFIND", f"/{user}/", '<propfind xmlns="DAV:"><prop><displayname/><resourcetype/></prop></propfind>')
for resp in home.iter(D + "response"):
    if resp.find(f".//{D}resourcetype/{C}calendar") is None:
        continue
    href = resp.findtext(D + "href")
    print(f"\n  {resp.findtext('.//' + D + 'displayname')}   ({href})")
    rep = dav("REPORT", href, '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        '<d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
        '<c:comp-filter name="VEVENT"/></c:comp-filter></c:filter></c:calendar-query>')
    rows = []
    for data in rep.iter(C + "calendar-data"):
        t = data.text or ""
        d = prop(t, "DTSTART")
        rows.append((f"{d[:4]}-{d[4:6]}-{d[6:8]}", prop(t, "STATUS"), prop(t, "COLOR") or "-", prop(t, "SUMMARY")))
    for row in sorted(rows):
        print("    %s  %-9s  %-7s %s" % row)
PY
}

bold "What is in the calendars now (read back from Radicale)"
show_calendars

bold "The web half: nginx over TLS and the FastCGI pool (as make run does)"
port=${HTTPS_PORT:-8443}
if ! /usr/bin/python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1])))' "$port" 2>/dev/null; then
	port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	echo "(port ${HTTPS_PORT:-8443} is taken: using $port)"
fi
RUN_DIR="$demo/run" HTTPS_PORT=$port POOL_SIZE=${POOL_SIZE:-4} BINDIR="$bindir" \
	"$top/nginx/run.sh" start
base="https://127.0.0.1:$port"
cacert="$demo/run/tls/cert.pem"
api() { curl -fsS --cacert "$cacert" "$@"; }

bold "In Plane, someone renames WEB-1: Plane sends a signed webhook"
t0=$(date +%s%N)
curl -fsS -X PATCH "$sim_url/_sim/issues/7bcf0520-cf71-4a35-8505-4208d97e0be1" \
	-H 'Content-Type: application/json' \
	-d "{\"name\":\"Q1 release notes (final)\",\"_webhook\":{\"url\":\"$base/webhooks/plane\",\"insecure\":true}}" |
	/usr/bin/python3 -c 'import json,sys
for w in json.load(sys.stdin)["webhooks"]:
    h = w["headers"]
    print("  POST /webhooks/plane   X-Plane-Event: %s   X-Plane-Signature: %s..." % (h["X-Plane-Event"], h["X-Plane-Signature"][:16]))
    print("  answer: %s %s" % (w["status"], w["body"]))'
found=""
for _ in $(seq 100); do
	cals=$(show_calendars 2>/dev/null || true)
	if [[ $cals == *"Q1 release notes (final)"* ]]; then
		found=yes
		break
	fi
	sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ -n "$found" ]; then
	echo "  ... and the event is in the calendar ${ms} ms after the edit (no sync run)."
else
	echo "  the event did not arrive within 5 s: see $demo/run/logs/fcgi.log"
fi

bold "The calendars after the webhook"
show_calendars

bold "A full sync afterwards finds nothing left to do"
"$bin" 2>/dev/null

bold "Health, as the status page reads it (GET /api/v1/health)"
api "$base/api/v1/health" | /usr/bin/python3 -c 'import json,sys
d = json.load(sys.stdin)
print("  status: %s   version: %s   queue: %s   dead letters: %s" % (d["status"], d["version"], d["queue_depth"], d["dead_letters"]["count"]))
s = d.get("last_sync") or {}
print("  last sync: %s  %s" % (s.get("status", "-"), s.get("counts", "")))'
echo "  liveness:  $(api "$base/health")"

bold "Look for yourself"
cat <<EOF
  Status page     : $base/     (self-signed certificate: accept it once)
  Health          : $base/health   and   $base/api/v1/health
  API             : $base/api/v1/status   $base/api/v1/metrics
  Admin (token)   : curl --cacert $cacert -X POST -H 'Authorization: Bearer $admin_token' $base/api/v1/sync
  Webhook URL     : $base/webhooks/plane   (secret $wh_secret)
  Calendar server : $CALDAV_URL
  User / password : $CALDAV_USERNAME / $CALDAV_PASSWORD
  (Thunderbird, GNOME Calendar, DAVx5: add a CalDAV account with these.)
  Plane simulator : $sim_url/api/v1/workspaces/acme/projects/  (header X-Api-Key: $token)
  Configuration   : $demo/calplanebot.env
  Logs            : $demo/run/logs/
EOF
if [ -t 0 ]; then
	printf '\nPress Enter to stop the servers and end the demo. '
	read -r _
fi
bold "Stopping the servers"
