#!/usr/bin/env bash
# Self-test of the Plane API simulator (tests/sim/plane_sim.py).
# Starts the simulator twice (sample fixture; --generate 3,2500 --tz +05:30)
# on free ports, checks it with curl and small python3 JSON checks, and always
# stops what it started.  Prints "N passed, M failed"; exits 1 on any failure.
set -u
[ -n "${SIMTEST_TRACE:-}" ] && PS4='+ $EPOCHREALTIME ' && set -x

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
SIM="$HERE/plane_sim.py"
FIX="$HERE/sample_workspace.json"
TMP=$(mktemp -d)
PIDS=()
PASS=0
FAIL=0

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { PASS=$((PASS + 1)); }
fail() { FAIL=$((FAIL + 1)); echo "FAIL: $*" >&2; }
eq() {  # eq DESC GOT WANT
    if [ "$2" = "$3" ]; then pass; else fail "$1: got [$2] want [$3]"; fi
}

# start_sim NAME ARGS... -> sets NAME_PORT, NAME_PID
start_sim() {
    local name=$1; shift
    "$PY" "$SIM" "$@" --port-file "$TMP/$name.port" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    local i
    for i in $(seq 1 100); do
        [ -s "$TMP/$name.port" ] && grep -q '^PORT=' "$TMP/$name.out" && break
        sleep 0.05
    done
    if [ ! -s "$TMP/$name.port" ]; then
        echo "simulator $name did not start:" >&2; cat "$TMP/$name.err" >&2; exit 1
    fi
    printf -v "${name}_PORT" '%s' "$(tr -d '\n' <"$TMP/$name.port")"
    printf -v "${name}_PID" '%s' "$pid"
}

# req [curl args...]: body -> $TMP/b, headers -> $TMP/h, prints the status
req() { curl -s -o "$TMP/b" -D "$TMP/h" -w '%{http_code}' "$@"; }

# jcheck DESC EXPR: EXPR is Python over d (JSON body), raw (body text) and
# H (headers, lower-case names) of the last req.  The checks are saved and run
# together by run_jchecks (one python3 start instead of one per check).
NCHECK=0
jcheck() {
    NCHECK=$((NCHECK + 1))
    local x=""  # copy with builtins only: forks are slow on a busy machine
    IFS= read -r -d '' x <"$TMP/b"; printf '%s' "$x" >"$TMP/c.$NCHECK.b"
    x=""; [ -f "$TMP/h" ] && IFS= read -r -d '' x <"$TMP/h"; printf '%s' "$x" >"$TMP/c.$NCHECK.h"
    printf '%s' "$1" >"$TMP/c.$NCHECK.desc"
    printf '%s' "$2" >"$TMP/c.$NCHECK.expr"
}
run_jchecks() {
    local out
    out=$("$PY" -S -c '
import json, sys, datetime, re, hmac
t, n = sys.argv[1], int(sys.argv[2])
ok = bad = 0
for i in range(1, n + 1):
    raw = open("%s/c.%d.b" % (t, i), encoding="utf-8", errors="replace").read()
    try:
        d = json.loads(raw)
    except Exception:
        d = None
    H = {}
    for line in open("%s/c.%d.h" % (t, i), encoding="latin-1"):
        if ":" in line:
            k, v = line.split(":", 1)
            H[k.strip().lower()] = v.strip()
    desc = open("%s/c.%d.desc" % (t, i)).read()
    try:
        good = eval(open("%s/c.%d.expr" % (t, i)).read())
    except Exception as e:
        good = False
        desc += " (%s: %s)" % (type(e).__name__, e)
    if good:
        ok += 1
    else:
        bad += 1
        print("FAIL: %s (body: %s)" % (desc, raw[:300]), file=sys.stderr)
print(ok, bad)
' "$TMP" "$NCHECK")
    PASS=$((PASS + ${out% *}))
    FAIL=$((FAIL + ${out#* }))
    NCHECK=0
}

pyval() { "$PY" -S -c "import json,sys; d=json.load(open('$TMP/b')); print($1)"; }

# ---------------------------------------------------------------- sample fixture
start_sim A --fixture "$FIX" --rate-limit 0 --log "$TMP/a.log"
# B (generated, 7500 issues) starts now and is used at the end.
"$PY" "$SIM" --generate 3,2500 --tz +05:30 --rate-limit 0 --token plane_api_11112222333344445555666677778888 \
    --slug gen --port-file "$TMP/B.port" >"$TMP/B.out" 2>"$TMP/B.err" &
B_PID=$!
PIDS+=("$B_PID")
eq "PORT= line matches port file" "$(grep '^PORT=' "$TMP/A.out")" "PORT=$A_PORT"
read -r TOKEN SECRET SVC_TOKEN < <("$PY" -S -c "import json; f=json.load(open('$FIX')); print(f['api_token'], f['webhook']['secret'], f['extra_tokens'][0]['token'])")
A="http://127.0.0.1:$A_PORT"
API="$A/api/v1"
W="$API/workspaces/acme"
K=(-H "X-Api-Key: $TOKEN")

# auth
eq "users/me with lower-case header" "$(req "$API/users/me/" -H "x-api-key: $TOKEN")" 200
jcheck "users/me shape" 'list(d) == ["id","first_name","last_name","email","avatar","avatar_url","display_name"] and d["display_name"] == "ann"'
eq "no key -> 401" "$(req "$W/projects/")" 401
eq "401 body" "$(cat "$TMP/b")" '{"detail":"Authentication credentials were not provided."}'
eq "wrong key -> 403" "$(req "$W/projects/" -H 'X-Api-Key: plane_api_00000000000000000000000000000000')" 403
eq "403 token body" "$(cat "$TMP/b")" '{"detail":"Given API token is not valid"}'
eq "unknown workspace -> 403" "$(req "$API/workspaces/nope/projects/" "${K[@]}")" 403
eq "403 permission body" "$(cat "$TMP/b")" '{"detail":"You do not have permission to perform this action."}'
eq "unknown project -> 403" "$(req "$W/projects/00000000-0000-4000-8000-000000000000/issues/" "${K[@]}")" 403
eq "no slash -> 301" "$(req "$W/projects?per_page=2" "${K[@]}")" 301
jcheck "301 Location keeps the query" 'H.get("location") == "/api/v1/workspaces/acme/projects/?per_page=2"'
eq "unknown route -> 404" "$(req "$API/nothing/here/" "${K[@]}")" 404

# projects and envelope
eq "projects list" "$(req "$W/projects/" "${K[@]}")" 200
jcheck "envelope keys in order" 'list(d) == ["grouped_by","sub_grouped_by","total_count","next_cursor","prev_cursor","next_page_results","prev_page_results","count","total_pages","total_results","extra_stats","results"]'
jcheck "3 projects" 'd["total_count"] == 3 and d["count"] == 3 and d["next_page_results"] is False'
read -r WEB MOB OPS < <(pyval '" ".join([p["id"] for p in d["results"] if p["identifier"]==x][0] for x in ("WEB","MOB","OPS"))')

# visibility: archived (WEB), draft + triage (MOB), deleted (OPS) are left out
req "$W/projects/$WEB/issues/" "${K[@]}" >/dev/null; jcheck "WEB: archived issue left out" 'd["total_count"] == 5'
req "$W/projects/$MOB/work-items/" "${K[@]}" >/dev/null; jcheck "MOB: draft+triage left out (work-items route)" 'd["total_count"] == 4'
req "$W/projects/$OPS/issues/" "${K[@]}" >/dev/null; jcheck "OPS: deleted issue left out" 'd["total_count"] == 5'
jcheck "default order -created_at" '[r["created_at"] for r in d["results"]] == sorted([r["created_at"] for r in d["results"]], reverse=True)'
jcheck "no expand: UUID strings" 'all(isinstance(r["state"], str) and isinstance(r["project"], str) and all(isinstance(x, str) for x in r["labels"] + r["assignees"]) for r in d["results"])'
eq "archived issue by key -> 404" "$(req "$W/issues/WEB-6/" "${K[@]}")" 404
eq "404 body" "$(cat "$TMP/b")" '{"error":"The requested resource does not exist."}'
read -r DELETED WEB1 WEB2 < <(curl -s "$A/_sim/issues?include_hidden=1" | "$PY" -S -c '
import json, sys
a = json.load(sys.stdin)
one = lambda f: [i["id"] for i in a if f(i)][0]
print(one(lambda i: i["deleted_at"] and i["project"] == sys.argv[1]),
      one(lambda i: i["sequence_id"] == 1 and i["project"] == sys.argv[2]),
      one(lambda i: i["sequence_id"] == 2 and i["project"] == sys.argv[2]))' "$OPS" "$WEB")
eq "deleted issue GET -> 404" "$(req "$W/projects/$OPS/issues/$DELETED/" "${K[@]}")" 404
eq "deleted issue activities still answer" "$(req "$W/projects/$OPS/issues/$DELETED/activities/" "${K[@]}")" 200
eq "unknown issue -> 404" "$(req "$W/projects/$WEB/issues/00000000-0000-4000-8000-000000000000/" "${K[@]}")" 404

# issue by key, expand, fields
eq "issue by key" "$(req "$W/issues/WEB-2/?expand=state,labels,assignees,project" "${K[@]}")" 200
jcheck "expanded state" 'list(d["state"]) == ["id","name","color","group"]'
jcheck "expanded project" 'list(d["project"]) == ["id","identifier","name","cover_image","icon_prop","emoji","description","cover_image_url"] and d["project"]["identifier"] == "WEB"'
jcheck "expanded assignees" 'len(d["assignees"]) == 2 and all(list(a) == ["id","first_name","last_name","email","avatar","avatar_url","display_name"] for a in d["assignees"])'
jcheck "expanded labels" 'len(d["labels"]) == 2 and all({"id","name","color"} <= set(x) for x in d["labels"])'
jcheck "issue key order" 'list(d)[:6] == ["id","type_id","created_at","updated_at","deleted_at","point"] and list(d)[-2:] == ["assignees","labels"]'
jcheck "UTC times with microseconds" '__import__("re").fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", d["created_at"]) is not None'
req "$W/issues/WEB-2/?fields=id,name,sequence_id" "${K[@]}" >/dev/null
jcheck "fields=" 'list(d) == ["id","name","sequence_id"] and d["sequence_id"] == 2'

# pagination errors and small pages
eq "per_page 1001 -> 400" "$(req "$W/projects/$WEB/issues/?per_page=1001" "${K[@]}")" 400
eq "per_page body" "$(cat "$TMP/b")" '{"detail":"Invalid per_page value. Cannot exceed 1000."}'
eq "bad cursor -> 400" "$(req "$W/projects/$WEB/issues/?per_page=2&cursor=2:x:0" "${K[@]}")" 400
eq "cursor body" "$(cat "$TMP/b")" '{"detail":"Invalid cursor parameter."}'
req "$W/projects/$WEB/issues/?per_page=2" "${K[@]}" >/dev/null
jcheck "page 0 cursors" 'd["next_cursor"] == "2:1:0" and d["prev_cursor"] == "2:-1:1" and d["prev_page_results"] is False and d["next_page_results"] is True and d["count"] == 2 and d["total_pages"] == 3'
req "$W/projects/$WEB/issues/?per_page=2&cursor=2:2:0" "${K[@]}" >/dev/null
jcheck "last page" 'd["count"] == 1 and d["next_page_results"] is False and d["prev_page_results"] is True'
req "$W/projects/$WEB/issues/?per_page=5" "${K[@]}" >/dev/null
jcheck "exact fit: no next page" 'd["count"] == 5 and d["next_page_results"] is False and d["total_pages"] == 1'
req "$W/projects/$WEB/issues/?order_by=-updated_at" "${K[@]}" >/dev/null
jcheck "order_by=-updated_at" '[r["updated_at"] for r in d["results"]] == sorted([r["updated_at"] for r in d["results"]], reverse=True)'

# states, labels, members
req "$W/projects/$WEB/states/" "${K[@]}" >/dev/null
jcheck "states envelope, no triage" 'd["total_count"] == 5 and all(s["group"] != "triage" for s in d["results"])'
req "$W/projects/$WEB/labels/" "${K[@]}" >/dev/null
jcheck "labels envelope" 'd["total_count"] == 3 and {"id","name","color"} <= set(d["results"][0])'
req "$W/projects/$WEB/members/" "${K[@]}" >/dev/null
jcheck "project members: plain array" 'isinstance(d, list) and len(d) == 4'
req "$W/members/" "${K[@]}" >/dev/null
jcheck "workspace members: plain array with role" 'isinstance(d, list) and len(d) == 5 and "role" in d[0]'

# control API: create, patch, delete, archive
eq "create issue" "$(req -X POST "$A/_sim/issues" -d "{\"project_id\":\"$WEB\",\"name\":\"Sim-made issue\",\"target_date\":\"2026-12-24\",\"state\":\"Todo\",\"labels\":[\"bug\"],\"assignees\":[\"ann@example.com\"],\"priority\":\"high\"}")" 200
NEW=$(pyval 'd["id"]')
jcheck "created issue filled in" 'd["sequence_id"] == 7 and d["target_date"] == "2026-12-24"'
req "$W/projects/$WEB/issues/" "${K[@]}" >/dev/null; jcheck "new issue listed" 'd["total_count"] == 6'
req "$W/projects/$WEB/issues/$NEW/" "${K[@]}" >/dev/null
BEFORE=$(pyval 'd["updated_at"]')
eq "patch issue" "$(req -X PATCH "$A/_sim/issues/$NEW" -d '{"name":"Sim-made issue (renamed)","state":"Done"}')" 200
jcheck "patch bumps updated_at, sets completed_at" "d['updated_at'] > '$BEFORE' and d['completed_at'] is not None and d['name'].endswith('(renamed)')"
eq "patch with explicit updated_at" "$(req -X PATCH "$A/_sim/issues/$NEW" -d '{"updated_at":"2026-11-27T10:00:00.123456+01:00"}')" 200
jcheck "explicit updated_at stored in UTC" 'd["updated_at"] == "2026-11-27T09:00:00.123456Z"'
eq "bad field -> 400" "$(req -X PATCH "$A/_sim/issues/$NEW" -d '{"colour":"red"}')" 400
eq "bad JSON -> 400" "$(req -X POST "$A/_sim/issues" -d '{not json')" 400
eq "soft delete" "$(req -X DELETE "$A/_sim/issues/$NEW")" 200
eq "deleted -> 404" "$(req "$W/projects/$WEB/issues/$NEW/" "${K[@]}")" 404
eq "archive" "$(req -X POST "$A/_sim/issues/$WEB1/archive")" 200
eq "archived -> 404" "$(req "$W/issues/WEB-1/" "${K[@]}")" 404
eq "unarchive" "$(req -X POST "$A/_sim/issues/$WEB1/unarchive")" 200
eq "unarchived -> 200" "$(req "$W/issues/WEB-1/" "${K[@]}")" 200
eq "rename project" "$(req -X PATCH "$A/_sim/projects/$MOB" -d '{"name":"Mobile Apps"}')" 200
req "$W/projects/" "${K[@]}" >/dev/null; jcheck "rename visible" '"Mobile Apps" in [p["name"] for p in d["results"]]'
eq "create project" "$(req -X POST "$A/_sim/projects" -d '{"identifier":"NEW","name":"New one"}')" 200
NEWP=$(pyval 'd["id"]')
req "$W/projects/" "${K[@]}" >/dev/null; jcheck "4 projects" 'd["total_count"] == 4'
eq "delete project" "$(req -X DELETE "$A/_sim/projects/$NEWP")" 200
eq "deleted project -> 403" "$(req "$W/projects/$NEWP/issues/" "${K[@]}")" 403
req "$W/projects/" "${K[@]}" >/dev/null; jcheck "3 projects again" 'd["total_count"] == 3'

# faults
eq "add faults" "$(req -X POST "$A/_sim/faults" -d '[{"path_regex":"/projects/(\\?|$)","status":503,"times":2,"retry_after":7}]')" 200
eq "fault 1" "$(req "$W/projects/" "${K[@]}")" 503
jcheck "fault Retry-After" 'H.get("retry-after") == "7"'
eq "fault 2" "$(req "$W/projects/" "${K[@]}")" 503
eq "fault used up" "$(req "$W/projects/" "${K[@]}")" 200
req -X POST "$A/_sim/faults" -d "[{\"path_regex\":\"$WEB/issues/\",\"page\":1,\"status\":500,\"times\":-1}]" >/dev/null
eq "page 0 not faulted" "$(req "$W/projects/$WEB/issues/?per_page=2" "${K[@]}")" 200
eq "page 1 faulted" "$(req "$W/projects/$WEB/issues/?per_page=2&cursor=2:1:0" "${K[@]}")" 500
eq "500 body" "$(cat "$TMP/b")" '{"error":"Something went wrong please try again later"}'
eq "clear faults" "$(req -X DELETE "$A/_sim/faults")" 200
req -X POST "$A/_sim/faults" -d '[{"path_regex":"/members/","truncate":true}]' >/dev/null
curl -s -o /dev/null "$W/members/" "${K[@]}"; eq "truncated body -> curl 18" "$?" 18
req -X POST "$A/_sim/faults" -d '[{"path_regex":"/users/me/","delay_ms":1000,"status":504}]' >/dev/null
curl -s -o /dev/null --max-time 0.2 "$API/users/me/" "${K[@]}"; eq "delay -> client timeout (curl 28)" "$?" 28
req -X DELETE "$A/_sim/faults" >/dev/null
eq "after faults" "$(req "$W/members/" "${K[@]}")" 200

# rate limit
eq "set rate limit" "$(req -X POST "$A/_sim/rate_limit" -d '{"per_minute":3}')" 200
NOW=$EPOCHSECONDS
req "$API/users/me/" "${K[@]}" >/dev/null; jcheck "remaining 2" "H.get('x-ratelimit-remaining') == '2' and abs(int(H['x-ratelimit-reset']) - ($NOW + 60)) <= 2"
req "$API/users/me/" "${K[@]}" >/dev/null; jcheck "remaining 1" "H.get('x-ratelimit-remaining') == '1'"
req "$API/users/me/" "${K[@]}" >/dev/null; jcheck "remaining 0" "H.get('x-ratelimit-remaining') == '0'"
eq "4th -> 429" "$(req "$API/users/me/" "${K[@]}")" 429
eq "429 body" "$(cat "$TMP/b")" '{"error_code":5900,"error_message":"RATE_LIMIT_EXCEEDED"}'
jcheck "429 headers" '1 <= int(H.get("retry-after", "0")) <= 60 and "x-ratelimit-remaining" not in H and "x-ratelimit-reset" not in H'
eq "other key has its own window" "$(req "$API/users/me/" -H "X-Api-Key: $SVC_TOKEN")" 200
req -X POST "$A/_sim/rate_limit" -d '{"per_minute":0}' >/dev/null
eq "rate limit off" "$(req "$API/users/me/" "${K[@]}")" 200
jcheck "no headers when off" '"x-ratelimit-remaining" not in H'

# webhook to a local receiver
"$PY" -S -c '
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        open(sys.argv[1] + ".body", "wb").write(body)
        json.dump(dict(self.headers.items()), open(sys.argv[1] + ".hdr", "w"))
        self.send_response(202); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".port.tmp", "w").write(str(s.server_address[1]))
__import__("os").replace(sys.argv[1] + ".port.tmp", sys.argv[1] + ".port")
s.serve_forever()
' "$TMP/rcv" &
PIDS+=($!)
for i in $(seq 1 100); do [ -s "$TMP/rcv.port" ] && break; sleep 0.05; done
RCV="http://127.0.0.1:$(cat "$TMP/rcv.port")/webhooks/plane"
req -X PATCH "$A/_sim/issues/$WEB2" -d '{"state":"In Progress"}' >/dev/null
eq "send webhook" "$(req -X POST "$A/_sim/webhook" -d "{\"url\":\"$RCV\",\"secret\":\"$SECRET\",\"event\":\"issue\",\"action\":\"updated\",\"issue_id\":\"$WEB2\",\"field\":\"state\"}")" 200
cp "$TMP/b" "$TMP/whresult"
jcheck "receiver status passed back" 'd["status"] == 202 and d["body"] == "ok"'
if "$PY" -S -c '
import hashlib, hmac, json, sys
t, secret = sys.argv[1], sys.argv[2]
raw = open(t + "/rcv.body", "rb").read()
hdr = json.load(open(t + "/rcv.hdr"))
res = json.load(open(t + "/whresult"))
p = json.loads(raw)
mac = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
assert hdr["X-Plane-Signature"] == mac == res["signature"], "signature"
assert raw.decode() == res["payload"], "payload differs"
assert raw.decode() == json.dumps(p), "not json.dumps() form"
assert all(b < 128 for b in raw), "non-ASCII in body"
assert hdr["User-Agent"] == "Autopilot" and hdr["Content-Type"] == "application/json"
assert hdr["X-Plane-Event"] == "issue" and hdr["X-Plane-Delivery"] == res["delivery"]
import uuid; assert uuid.UUID(hdr["X-Plane-Delivery"]).version == 4
assert list(p) == ["event", "action", "webhook_id", "workspace_id", "data", "activity"], list(p)
d = p["data"]
assert list(d["state"]) == ["id", "name", "color", "group"] and d["state"]["name"] == "In Progress"
assert all(list(x) == ["id", "name", "color"] for x in d["labels"]) and len(d["labels"]) == 2
assert all("display_name" in a for a in d["assignees"])
assert isinstance(d["project"], str) and isinstance(d["workspace"], str)
assert "description_stripped" in d and "description_json" in d and "<" not in d["description_stripped"]
assert d["created_at"].endswith("Z")
a = p["activity"]
assert a["field"] == "state" and a["new_value"] == d["state"]["id"] and a["old_value"] != a["new_value"]
assert list(a["actor"]) == ["id", "display_name"]
' "$TMP" "$SECRET"; then pass; else fail "webhook body/headers/HMAC"; fi
eq "webhook_payload" "$(req "$A/_sim/webhook_payload?issue_id=$WEB2&action=updated&field=state&secret=$SECRET")" 200
jcheck "webhook_payload signature" 'd["headers"]["X-Plane-Signature"] == __import__("hmac").new("'"$SECRET"'".encode(), d["body"].encode(), "sha256").hexdigest()'
eq "project deleted webhook" "$(req -X POST "$A/_sim/webhook" -d "{\"url\":\"$RCV\",\"event\":\"project\",\"action\":\"deleted\",\"project_id\":\"$NEWP\"}")" 200
jcheck "project deleted data" "json.loads(d['payload'])['data'] == {'id': '$NEWP'} and d['status'] == 202"

# robustness and stats
"$PY" -S -c '
import socket, sys
for junk in (b"GARBAGE\r\n\r\n", b"GET /api/v1/users/me/ HTTP/1.1\r\nContent-Length: zz\r\n\r\n", b"\x00\xff" * 100 + b"\r\n\r\n"):
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    c.sendall(junk)
    try:
        c.recv(4096)
    except OSError:
        pass
    c.close()
' "$A_PORT"
eq "alive after garbage" "$(req "$API/users/me/" "${K[@]}")" 200
eq "stats" "$(req "$A/_sim/stats")" 200
jcheck "stats counts" 'd["total"] > 50 and d["by_kind"]["issues"]["200"] >= 5 and d["rate_limited"] == 1 and d["faulted"] >= 4 and d["webhooks_sent"] == 2'
eq "stats reset" "$(req -X POST "$A/_sim/stats/reset")" 200
req "$A/_sim/stats" >/dev/null; jcheck "stats zero" 'd["total"] == 0'
if [ "$(wc -l <"$TMP/a.log")" -gt 50 ]; then pass; else fail "log has one line per request"; fi

run_jchecks

# ---------------------------------------------------------------- generated, +05:30
for i in $(seq 1 100); do [ -s "$TMP/B.port" ] && break; sleep 0.05; done
[ -s "$TMP/B.port" ] || { echo "simulator B did not start:" >&2; cat "$TMP/B.err" >&2; exit 1; }
B="http://127.0.0.1:$(tr -d '\n' <"$TMP/B.port")"
KB=(-H "X-Api-Key: plane_api_11112222333344445555666677778888")
req "$B/api/v1/workspaces/gen/projects/" "${KB[@]}" >/dev/null
jcheck "generated: 3 projects" 'd["total_count"] == 3'
pyval "'\\n'.join(p['id'] for p in d['results'])" >"$TMP/bprojects"
n=0
while read -r P; do
    page=0
    url="$B/api/v1/workspaces/gen/projects/$P/issues/?per_page=700"
    while :; do
        curl -s -o "$TMP/pg.$n.$page" "$url" "${KB[@]}"
        IFS= read -r -N 400 head <"$TMP/pg.$n.$page"  # envelope fields come first
        [[ $head == *'"next_page_results":true'* && $head =~ \"next_cursor\":\"([^\"]*)\" ]] || break
        next=${BASH_REMATCH[1]}
        page=$((page + 1))
        [ $page -gt 10 ] && break
        url="$B/api/v1/workspaces/gen/projects/$P/issues/?per_page=700&cursor=$next"
    done
    curl -s -o "$TMP/all.$n" "$B/_sim/issues?project_id=$P"
    if "$PY" -S -c '
import glob, json, sys
t, n = sys.argv[1], sys.argv[2]
pages = sorted(glob.glob("%s/pg.%s.*" % (t, n)), key=lambda f: int(f.rsplit(".", 1)[1]))
ids = [r["id"] for f in pages for r in json.load(open(f))["results"]]
want = {i["id"] for i in json.load(open("%s/all.%s" % (t, n)))}
assert len(pages) == 4, len(pages)
assert len(ids) == 2500 and len(set(ids)) == 2500 and set(ids) == want
' "$TMP" "$n"; then pass; else fail "cursor walk of project $n: every issue exactly once"; fi
    n=$((n + 1))
done <"$TMP/bprojects"
P0=$(head -1 "$TMP/bprojects")
if "$PY" -S -c '
import json, sys, datetime
t = sys.argv[1]
page = json.load(open(t + "/pg.0.0"))["results"]
utc = {i["id"]: i for i in json.load(open(t + "/all.0"))}
with_date = sum(1 for i in utc.values() if i["target_date"])
assert 0.7 < with_date / len(utc) < 0.9, with_date
for r in page[:50]:
    assert r["created_at"].endswith("+05:30") and r["updated_at"].endswith("+05:30"), r["created_at"]
    u = utc[r["id"]]
    assert u["created_at"].endswith("Z")
    a = datetime.datetime.fromisoformat(r["created_at"]); b = datetime.datetime.fromisoformat(u["created_at"])
    assert a == b and len(r["created_at"].split(".")[1]) == 6 + 6
' "$TMP"; then pass; else fail "time zone +05:30 output (same instant as UTC)"; fi
# cursor without per_page: offset uses the default 1000, not the cursor's 700
curl -s -o "$TMP/b" "$B/api/v1/workspaces/gen/projects/$P0/issues/?cursor=700:1:0" "${KB[@]}"
if "$PY" -S -c '
import glob, json, sys
t = sys.argv[1]
pages = sorted(glob.glob(t + "/pg.0.*"), key=lambda f: int(f.rsplit(".", 1)[1]))
ids = [r["id"] for f in pages for r in json.load(open(f))["results"]]
d = json.load(open(t + "/b"))
assert d["results"][0]["id"] == ids[1000] and d["count"] == 1000
' "$TMP"; then pass; else fail "cursor offset from the request per_page"; fi

# clean exit on SIGTERM
kill -TERM "$B_PID"; wait "$B_PID"; eq "SIGTERM exit status" "$?" 0
run_jchecks

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
