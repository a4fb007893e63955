#!/usr/bin/env bash
# Regenerate the multistatus fixtures of tests/unit/test_caldav.c from a real
# server started by tests/servers/caldav-server.sh:
#
#   tests/unit/data/caldav/capture.sh KIND
#
# Writes KIND-STEP.xml or .txt (bodies) and KIND-STEP.status (status line and the
# headers we care about) next to this script.  Bodies are stored as the
# server sent them, except the random port, which is replaced by 8080 so the
# fixtures do not change between captures.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../../.." && pwd)
KIND=${1:?usage: capture.sh radicale|xandikos|sabredav|davical}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/caldav-capture.XXXXXX")
chmod 0711 "$WORK"
trap '"$ROOT/tests/servers/caldav-server.sh" stop "$WORK/srv" >/dev/null 2>&1 || true; rm -rf -- "$WORK"' EXIT
"$ROOT/tests/servers/caldav-server.sh" start "$KIND" "$WORK/srv" >/dev/null
# shellcheck disable=SC1091
. "$WORK/srv/env"
ORIGIN="http://127.0.0.1:$CALDAV_PORT"
AUTH=(-u "$CALDAV_USERNAME:$CALDAV_PASSWORD")
[[ $CALDAV_AUTH_TYPE == digest ]] && AUTH+=(--digest) || AUTH+=(--basic)

# req STEP METHOD URL [curl args...]
req() {
	local step=$1 method=$2 url=$3
	shift 3
	curl -s -o "$WORK/body" -D "$WORK/hdr" -X "$method" "${AUTH[@]}" \
	    -H 'Expect:' "$@" "$url" >/dev/null
	local ext=txt
	[[ $(head -c 1 "$WORK/body") == "<" ]] && ext=xml
	rm -f "$HERE/$KIND-$step.xml" "$HERE/$KIND-$step.txt"
	sed -e "s/127\.0\.0\.1:$CALDAV_PORT/127.0.0.1:8080/g; s/127\.0\.0\.1%3A$CALDAV_PORT/127.0.0.1%3A8080/g" "$WORK/body" >"$HERE/$KIND-$step.$ext"
	# Last header block only (Digest and 100-continue add earlier ones).
	tr -d '\r' <"$WORK/hdr" | awk '/^HTTP\//{n=""} {n=n $0 "\n"} END{printf "%s", n}' |
	    grep -iE '^(HTTP/|etag:|location:|content-type:)' |
	    sed -e "s/127\.0\.0\.1:$CALDAV_PORT/127.0.0.1:8080/g" >"$HERE/$KIND-$step.status" || true
	[[ -s $HERE/$KIND-$step.$ext ]] || rm -f "$HERE/$KIND-$step.$ext"
	printf '%-22s %s\n' "$step" "$(head -n 1 "$HERE/$KIND-$step.status")"
}
XML=(-H 'Content-Type: application/xml; charset=utf-8')
CAL="$ORIGIN${CALDAV_HOME}capture-cal/"
EV="${CAL}plane-issue-0c5e%40calplanebot.ics"
ICS=$'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//CalPlaneBot//capture//EN\r\nBEGIN:VEVENT\r\nUID:plane-issue-0c5e@calplanebot\r\nDTSTAMP:20240101T000000Z\r\nDTSTART;VALUE=DATE:20240229\r\nDTEND;VALUE=DATE:20240301\r\nSUMMARY:[1] capture\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n'

req wellknown PROPFIND "$ORIGIN/.well-known/caldav" -H 'Depth: 0' "${XML[@]}" \
    --data-binary '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>'
req principal PROPFIND "$CALDAV_URL" -H 'Depth: 0' "${XML[@]}" \
    --data-binary '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:current-user-principal/><c:calendar-home-set/><d:resourcetype/></d:prop></d:propfind>'
req home PROPFIND "$ORIGIN$CALDAV_PRINCIPAL" -H 'Depth: 0' "${XML[@]}" \
    --data-binary '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-home-set/><d:displayname/></d:prop></d:propfind>'
MK='<?xml version="1.0" encoding="UTF-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop><D:displayname>Plane: R&amp;D &lt;1&gt;</D:displayname><C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set><A:calendar-color>#FF8800</A:calendar-color></D:prop></D:set></C:mkcalendar>'
req mkcalendar MKCALENDAR "$CAL" "${XML[@]}" --data-binary "$MK"
req mkcalendar-exists MKCALENDAR "$CAL" "${XML[@]}" --data-binary "$MK"
TEXT=(-H 'Content-Type: text/calendar; charset=utf-8')
req put-create PUT "$EV" "${TEXT[@]}" -H 'If-None-Match: *' --data-binary "$ICS"
ETAG=$(grep -i '^etag:' "$HERE/$KIND-put-create.status" | cut -d' ' -f2-)
req put-exists PUT "$EV" "${TEXT[@]}" -H 'If-None-Match: *' --data-binary "$ICS"
req put-update PUT "$EV" "${TEXT[@]}" -H "If-Match: $ETAG" --data-binary "${ICS/capture/captured}"
req put-stale PUT "$EV" "${TEXT[@]}" -H "If-Match: $ETAG" --data-binary "$ICS"
req put-dup-uid PUT "${CAL}other.ics" "${TEXT[@]}" -H 'If-None-Match: *' --data-binary "$ICS"
req put-invalid PUT "${CAL}bad.ics" "${TEXT[@]}" -H 'If-None-Match: *' --data-binary 'not a calendar'
req report REPORT "$CAL" -H 'Depth: 1' "${XML[@]}" \
    --data-binary '<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>'
req proppatch PROPPATCH "$CAL" "${XML[@]}" \
    --data-binary '<?xml version="1.0" encoding="UTF-8"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>Plane: renamed</D:displayname></D:prop></D:set></D:propertyupdate>'
req calendars PROPFIND "$ORIGIN$CALDAV_HOME" -H 'Depth: 1' "${XML[@]}" \
    --data-binary '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/"><d:prop><d:resourcetype/><d:displayname/><a:calendar-color/></d:prop></d:propfind>'
ETAG=$(grep -i '^etag:' "$HERE/$KIND-put-update.status" | cut -d' ' -f2-)
req delete DELETE "$EV" -H "If-Match: $ETAG"
req delete-gone DELETE "$EV"
