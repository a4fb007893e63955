#!/usr/bin/env bash
# Smoke test for caldav-server.sh: for each server kind, start it, walk the
# CalDAV basics with curl (discovery, MKCALENDAR, conditional PUT, REPORT,
# conditional DELETE), stop it and check the port is closed.
#
#   tests/servers/smoke.sh [KIND...]      (default: all four)
#
# Last line of output: "N passed, M failed"; exit status 1 on any failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT=$HERE/caldav-server.sh
readonly PY=/usr/bin/python3
KINDS=("$@")
((${#KINDS[@]} > 0)) || KINDS=(radicale xandikos sabredav davical)

PASSED=0
FAILED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/caldav-smoke.XXXXXX")
# DAViCal's PostgreSQL runs as user postgres when we are root: it must be able
# to traverse (not list) the work directory.
chmod 0711 "$WORK"
DIRS=()

FINISHED=0

# Always: stop every server we started, print the summary as the last line.
on_exit() {
    local rc=$? d
    for d in "${DIRS[@]}"; do
        "$SCRIPT" stop "$d" >/dev/null 2>&1 || true
    done
    rm -rf -- "$WORK"
    if ((FINISHED == 0)); then
        FAILED=$((FAILED + 1))
        printf '  FAIL  smoke test aborted (status %d)\n' "$rc"
    fi
    printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
    if ((FAILED > 0)); then exit 1; fi
    exit 0
}
trap on_exit EXIT
trap 'exit 130' INT TERM

pass() {
    PASSED=$((PASSED + 1))
    printf '  ok    %s\n' "$*"
}

fail() {
    FAILED=$((FAILED + 1))
    printf '  FAIL  %s\n' "$*"
}

# check DESCRIPTION GOT ALLOWED...
check_code() {
    local what=$1 got=$2 want
    shift 2
    for want in "$@"; do
        if [[ $got == "$want" ]]; then
            pass "$what -> $got"
            return 0
        fi
    done
    fail "$what -> $got (want $*)"
    [[ -s $WORK/body ]] && sed -n '1,15s/^/        | /p' "$WORK/body"
    return 1
}

# XML helper. Modes:
#   href PROPNAME         first DAV:href inside property PROPNAME (local name), decoded
#   etags                 "decoded-href<TAB>getetag" per response
readonly XML_PY='
import sys, urllib.parse
import xml.etree.ElementTree as ET
mode = sys.argv[1]
root = ET.fromstring(sys.stdin.buffer.read())
def local(tag):
    return tag.rsplit("}", 1)[-1]
if mode == "href":
    for el in root.iter():
        if local(el.tag) == sys.argv[2]:
            for h in el.iter("{DAV:}href"):
                print(urllib.parse.unquote((h.text or "").strip()))
                sys.exit(0)
    sys.exit(1)
elif mode == "etags":
    for r in root.iter("{DAV:}response"):
        h = r.find("{DAV:}href")
        href = urllib.parse.unquote((h.text or "").strip()) if h is not None else ""
        etag = ""
        for e in r.iter("{DAV:}getetag"):
            etag = (e.text or "").strip()
        print(href + "\t" + etag)
'
xml() {
    "$PY" -c "$XML_PY" "$@" <"$WORK/body"
}

# Strip scheme://host:port from an href (servers may return absolute URLs).
path_of() {
    local h=$1
    if [[ $h == http://* || $h == https://* ]]; then
        h=/${h#*://*/}
    fi
    printf '%s\n' "$h"
}

# req METHOD URL [curl args...]: prints the status code; body in $WORK/body,
# headers in $WORK/headers. Uses the server's auth type.
req() {
    local method=$1 url=$2
    shift 2
    local auth=(--basic)
    [[ $CALDAV_AUTH_TYPE == digest ]] && auth=(--digest)
    curl -s --max-time 15 -X "$method" "${auth[@]}" -u "$CALDAV_USERNAME:$CALDAV_PASSWORD" \
        -H 'Expect:' -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" "$url" || printf '000'
}

header_value() {
    # case-insensitive header lookup in $WORK/headers (last occurrence wins)
    tr -d '\r' <"$WORK/headers" | awk -v n="$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" '
        { i = index($0, ":"); if (i > 0 && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); val = v } }
        END { print val }'
}

# Process exists and is not a zombie (stopped servers are reaped by init,
# which may take a moment).
alive() {
    local line
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    line=${line##*) }
    [[ ${line:0:1} != Z ]]
}

port_closed() {
    ! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null
}

run_kind() {
    local kind=$1 dir origin code princ home cal ev etag newetag listing line
    dir=$WORK/$kind
    DIRS+=("$dir")
    printf '== %s\n' "$kind"
    if ! "$SCRIPT" start "$kind" "$dir" >"$WORK/start.out" 2>"$WORK/start.err"; then
        fail "$kind: start"
        sed 's/^/        | /' "$WORK/start.err"
        return 0
    fi
    pass "$kind: start ($(grep -c = "$WORK/start.out") env lines)"
    if ! cmp -s "$WORK/start.out" "$dir/env"; then
        fail "$kind: stdout differs from DIR/env"
    fi
    # shellcheck source=/dev/null
    . "$dir/env"
    origin=http://127.0.0.1:$CALDAV_PORT

    # -- /.well-known/caldav redirects (RFC 6764), no credentials needed
    code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$origin/.well-known/caldav" || printf '000')
    check_code "$kind: GET /.well-known/caldav" "$code" 301 302 303 307 308 || true

    # -- auth: wrong password rejected (Xandikos has no auth)
    if [[ $kind != xandikos ]]; then
        local good=$CALDAV_PASSWORD
        CALDAV_PASSWORD=wrong-$good
        code=$(req PROPFIND "$CALDAV_URL" -H 'Depth: 0')
        CALDAV_PASSWORD=$good
        check_code "$kind: PROPFIND with wrong password" "$code" 401 || true
    fi

    # -- discovery: current-user-principal at CALDAV_URL
    code=$(req PROPFIND "$CALDAV_URL" -H 'Depth: 0' -H 'Content-Type: application/xml; charset=utf-8' \
        --data-binary '<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>')
    if check_code "$kind: PROPFIND current-user-principal" "$code" 207; then
        princ=$(path_of "$(xml href current-user-principal || true)")
        if [[ ${princ%/}/ == "$CALDAV_PRINCIPAL" ]]; then
            pass "$kind: principal = $princ"
        else
            fail "$kind: principal '$princ' != CALDAV_PRINCIPAL '$CALDAV_PRINCIPAL'"
        fi
    fi

    # -- discovery: calendar-home-set on the principal
    code=$(req PROPFIND "$origin$CALDAV_PRINCIPAL" -H 'Depth: 0' \
        -H 'Content-Type: application/xml; charset=utf-8' \
        --data-binary '<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-home-set/></d:prop></d:propfind>')
    if check_code "$kind: PROPFIND calendar-home-set" "$code" 207; then
        home=$(path_of "$(xml href calendar-home-set || true)")
        if [[ ${home%/}/ == "$CALDAV_HOME" ]]; then
            pass "$kind: calendar home = $home"
        else
            fail "$kind: calendar home '$home' != CALDAV_HOME '$CALDAV_HOME'"
        fi
    fi

    # -- MKCALENDAR
    cal=$origin${CALDAV_HOME}smoke-$RANDOM/
    code=$(req MKCALENDAR "$cal" -H 'Content-Type: application/xml; charset=utf-8' \
        --data-binary '<?xml version="1.0" encoding="utf-8"?>
<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop>
<d:displayname>Smoke test</d:displayname>
<c:supported-calendar-component-set><c:comp name="VEVENT"/><c:comp name="VTODO"/></c:supported-calendar-component-set>
</d:prop></d:set></c:mkcalendar>')
    check_code "$kind: MKCALENDAR" "$code" 201 || true

    # -- PUT (create only)
    ev=${cal}smoke-event@calplanebot.ics
    printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//CalPlaneBot//smoke//EN\r\nBEGIN:VEVENT\r\nUID:smoke-event@calplanebot\r\nDTSTAMP:20250101T000000Z\r\nDTSTART;VALUE=DATE:20250102\r\nDTEND;VALUE=DATE:20250103\r\nSUMMARY:Smoke test: p@ss\\, ok\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' >"$WORK/event.ics"
    code=$(req PUT "$ev" -H 'If-None-Match: *' -H 'Content-Type: text/calendar; charset=utf-8' \
        --data-binary "@$WORK/event.ics")
    etag=$(header_value etag)
    if check_code "$kind: PUT If-None-Match: *" "$code" 201; then
        if [[ -n $etag ]]; then pass "$kind: PUT returned ETag $etag"; else fail "$kind: PUT returned no ETag"; fi
    fi
    code=$(req PUT "$ev" -H 'If-None-Match: *' -H 'Content-Type: text/calendar; charset=utf-8' \
        --data-binary "@$WORK/event.ics")
    check_code "$kind: second PUT If-None-Match: *" "$code" 412 || true

    # -- REPORT calendar-query for getetag
    code=$(req REPORT "$cal" -H 'Depth: 1' -H 'Content-Type: application/xml; charset=utf-8' \
        --data-binary '<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/></d:prop>
<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/></c:comp-filter></c:filter>
</c:calendar-query>')
    if check_code "$kind: REPORT calendar-query getetag" "$code" 207; then
        listing=$(xml etags || true)
        newetag=
        while IFS=$'\t' read -r line rest; do
            if [[ $(path_of "$line") == "${ev#"$origin"}" ]]; then newetag=$rest; fi
        done <<<"$listing"
        if [[ -n $newetag ]]; then
            pass "$kind: REPORT lists the event (etag $newetag)"
            [[ -n $etag ]] || etag=$newetag
            if [[ $newetag != "$etag" ]]; then
                fail "$kind: REPORT etag $newetag != PUT ETag $etag"
            fi
        else
            fail "$kind: event not in REPORT: $(printf '%s' "$listing" | tr '\n\t' '; ')"
        fi
    fi

    # -- DELETE with If-Match (stale first, then the right one)
    code=$(req DELETE "$ev" -H 'If-Match: "stale-etag"')
    check_code "$kind: DELETE with stale If-Match" "$code" 412 || true
    code=$(req DELETE "$ev" -H "If-Match: ${etag:-\"none\"}")
    check_code "$kind: DELETE with If-Match" "$code" 200 204 || true
    code=$(req GET "$ev")
    check_code "$kind: GET after DELETE" "$code" 404 || true

    # -- stop
    "$SCRIPT" stop "$dir"
    if port_closed "$CALDAV_PORT"; then pass "$kind: port $CALDAV_PORT closed after stop"; else fail "$kind: port $CALDAV_PORT still open after stop"; fi
    if alive "$SERVER_PID"; then fail "$kind: server pid $SERVER_PID still alive"; else pass "$kind: server pid $SERVER_PID gone"; fi
    if "$SCRIPT" stop "$dir" && "$SCRIPT" stop "$WORK/never-started"; then
        pass "$kind: stop is idempotent"
    else
        fail "$kind: second stop failed"
    fi
}

for kind in "${KINDS[@]}"; do
    run_kind "$kind"
done
FINISHED=1
