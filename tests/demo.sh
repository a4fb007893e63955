#!/usr/bin/env bash
# make demo: CalPlaneBot on this machine, end to end, for a newcomer.
#
# Starts a real Radicale CalDAV server and the Plane simulator with a sample
# workspace (three projects), runs calplanebot-sync against them, shows the
# calendars it made, changes an issue in "Plane", syncs again, and tells you
# how to look at the calendars yourself.  Everything listens on 127.0.0.1
# only and is stopped when the demo ends.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/bin/calplanebot-sync"
demo=$(mktemp -d /tmp/calplanebot-demo.XXXXXX)
chmod 0711 "$demo"
sim_pid=""

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

stop_all() {
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

bold "In Plane, someone renames WEB-1 and moves OPS-1 to next year"
curl -fsS -X PATCH "$sim_url/_sim/issues/7bcf0520-cf71-4a35-8505-4208d97e0be1" \
	-H 'Content-Type: application/json' -d '{"name":"Q1 release notes (final)"}' >/dev/null
curl -fsS -X PATCH "$sim_url/_sim/issues/e7b16494-e2ff-45a1-a246-356580d6ca9c" \
	-H 'Content-Type: application/json' -d '{"target_date":"2027-01-15"}' >/dev/null
"$bin" 2>&1 | grep -E 'op=(update|create|delete)|created=' || true

bold "A second run with nothing changed writes nothing"
"$bin" 2>/dev/null

bold "The calendars after the change"
show_calendars

bold "The run history (calplanebot-sync status)"
"$bin" status | /usr/bin/python3 -c 'import json, sys
for r in json.load(sys.stdin):
    c = r["counts"]
    print("  %s  %-8s created=%d updated=%d deleted=%d unchanged=%d" % (r["started_at"],
          r["status"], c["created"], c["updated"], c["deleted"], c["unchanged"]))'

bold "Look for yourself"
cat <<EOF
  Calendar server : $CALDAV_URL
  User / password : $CALDAV_USERNAME / $CALDAV_PASSWORD
  (Thunderbird, GNOME Calendar, DAVx5: add a CalDAV account with these.)
  Raw:  curl -u '$CALDAV_USERNAME:$CALDAV_PASSWORD' -X PROPFIND -H 'Depth: 1' ${CALDAV_URL}$CALDAV_USERNAME/
  Plane simulator : $sim_url/api/v1/workspaces/acme/projects/  (header X-Api-Key: $token)
  Configuration   : $demo/calplanebot.env
EOF
if [ -t 0 ]; then
	printf '\nPress Enter to stop the servers and end the demo. '
	read -r _
fi
bold "Stopping the servers"
