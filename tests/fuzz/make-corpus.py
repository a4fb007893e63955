#!/usr/bin/python3
"""Write the seed corpus of the fuzz harnesses: tests/fuzz/corpus/<name>/.

    tests/fuzz/make-corpus.py        (from the repository root)

Seeds are real payloads and the edge cases of the sync engine issue:

  - Plane pages, issues and webhook bodies as the Plane simulator
    (tests/sim/plane_sim.py, the API of plane-api.md) serves them for
    tests/sim/sample_workspace.json, in UTC and in +05:30; error bodies;
  - the multistatus bodies captured from Radicale, Xandikos, SabreDAV and
    DAViCal in tests/unit/data/caldav/, and the hrefs in them;
  - issue 3's names ("", 1000 x "A", "测试🎉", "עברית", "Test\\n\\r\\t<>&\\"'",
    NUL, U+200B, math bold, "<script>…"), dates, sequence ids, 0/1/10/100
    assignees, 0/50/250 labels, long descriptions.

The script writes only files named seed-*; anything else in a corpus
directory (regress-* inputs of fixed or open defects) is left alone.  It
starts the simulator on a free loopback port and always stops it.
"""

import base64
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
SIM = os.path.join(ROOT, "tests", "sim", "plane_sim.py")
FIXTURE = os.path.join(ROOT, "tests", "sim", "sample_workspace.json")
CALDAV_DATA = os.path.join(ROOT, "tests", "unit", "data", "caldav")

written = {}
contents = {}


def put(name, label, data):
    """Write one seed (bytes or str) as corpus/<name>/seed-<label>."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    digest = hashlib.sha1(data).hexdigest()
    if digest in contents.setdefault(name, set()):
        return
    contents[name].add(digest)
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")[:60] or "x"
    path = os.path.join(d, "seed-" + label)
    n = 2
    while path in written.get(name, set()):
        path = os.path.join(d, "seed-%s-%d" % (label, n))
        n += 1
    with open(path, "wb") as f:
        f.write(data)
    written.setdefault(name, set()).add(path)


def clear_seeds():
    for path in glob.glob(os.path.join(CORPUS, "*", "seed-*")):
        os.unlink(path)


# --------------------------------------------------------------------------
# Plane, from the simulator
# --------------------------------------------------------------------------

class Sim:
    def __init__(self, tz):
        self.tmp = tempfile.mkdtemp(prefix="cpb-fuzz-sim-")
        portfile = os.path.join(self.tmp, "port")
        self.proc = subprocess.Popen(
            [sys.executable, SIM, "--fixture", FIXTURE, "--port-file", portfile,
             "--tz", tz, "--rate-limit", "100000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(portfile) and open(portfile).read().strip():
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise SystemExit("make-corpus: the Plane simulator did not start")
        self.base = "http://127.0.0.1:%s" % open(portfile).read().strip()
        fx = json.load(open(FIXTURE))
        self.token = fx["api_token"]
        self.slug = fx["workspace"]["slug"]

    def get(self, path):
        req = urllib.request.Request(self.base + path,
                                     headers={"X-Api-Key": self.token})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            return e.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def plane_seeds(tz, tag):
    sim = Sim(tz)
    try:
        ws = "/api/v1/workspaces/%s" % sim.slug
        expand = "expand=state,labels,assignees,project"
        issues, bodies = [], []
        for pp, label in ((2, "p2"), (1000, "p1000")):
            cursor, page = None, 0
            while page < 4:
                q = "?per_page=%d" % pp + ("&cursor=" + cursor if cursor else "")
                body = sim.get(ws + "/projects/" + q)
                put("plane_page", "%s-projects-%s-%d" % (tag, label, page), body)
                doc = json.loads(body)
                projects = doc["results"]
                if not doc.get("next_page_results"):
                    break
                cursor, page = doc["next_cursor"], page + 1
        projects = json.loads(sim.get(ws + "/projects/?per_page=1000"))["results"]
        for p in projects:
            base = ws + "/projects/%s/issues/" % p["id"]
            for q, label in (("?per_page=1000&" + expand, "expanded"),
                             ("?per_page=2&" + expand, "expanded-pp2"),
                             ("?per_page=1000", "plain")):
                body = sim.get(base + q)
                put("plane_page", "%s-issues-%s-%s" % (tag, p["identifier"], label),
                    body)
                doc = json.loads(body)
                for it in doc.get("results", []):
                    kind = "expanded" if "expanded" in label else "plain"
                    if label != "expanded-pp2":
                        issues.append((kind, it))
                if label == "expanded-pp2" and doc.get("next_cursor"):
                    body = sim.get(base + q + "&cursor=" + doc["next_cursor"])
                    put("plane_page", "%s-issues-%s-page2" % (tag, p["identifier"]),
                        body)
        for kind, it in issues:
            put("issue_json", "%s-%s-%s" % (tag, kind, it["id"][:8]),
                json.dumps(it, ensure_ascii=False, separators=(",", ":")))
            bodies.append(it)
        # webhook bodies: the envelope as Plane sends it, and its data
        for kind, it in issues[:6]:
            for action in ("created", "updated"):
                q = "?event=issue&action=%s&issue_id=%s" % (action, it["id"])
                if action == "updated":
                    q += "&field=name"
                resp = json.loads(sim.get("/_sim/webhook_payload" + q))
                if not resp.get("body"):
                    continue
                body = resp["body"].encode()
                n = len(written.get("webhook", ()))
                # flags byte (fuzz_webhook.c): right HMAC, with or without
                # "sha256=", X-Plane-Event, a delivery id, a wrong HMAC
                variants = [b"\x00", b"\x02", b"\x08",
                            b"\x04" + resp["headers"].get(
                                "X-Plane-Delivery", "d").encode() + b"\n",
                            b"\x01" + resp["signature"][::-1].encode() + b"\n"]
                put("webhook", "%s-issue-%s-%s" % (tag, action, it["id"][:8]),
                    variants[n % len(variants)] + body)
                put("issue_json", "%s-webhook-data-%s" % (tag, it["id"][:8]),
                    json.dumps(json.loads(resp["body"])["data"]))
        for p in projects[:2]:
            resp = json.loads(sim.get("/_sim/webhook_payload?event=project&"
                                      "action=updated&project_id=" + p["id"]))
            if resp.get("body"):
                put("webhook", "%s-project-updated-%s" % (tag, p["identifier"]),
                    b"\x00" + resp["body"].encode())
        # error bodies a listing may get instead of a page
        put("plane_page", tag + "-error-per-page",
            sim.get(ws + "/projects/?per_page=5000"))
        put("plane_page", tag + "-error-cursor",
            sim.get(ws + "/projects/?per_page=10&cursor=x"))
        put("plane_page", tag + "-error-404",
            sim.get(ws + "/projects/00000000-0000-0000-0000-000000000000/issues/"))
        put("plane_page", tag + "-error-route", sim.get("/api/v1/nothing/"))
        return bodies
    finally:
        sim.stop()


# --------------------------------------------------------------------------
# Edge cases of issue 3
# --------------------------------------------------------------------------

NAMES = [
    ("empty", ""),
    ("A1000", "A" * 1000),
    ("chinese-emoji", "测试🎉"),
    ("hebrew", "עברית"),
    ("controls", "Test\n\r\t<>&\"'"),
    ("nul", "Test\x00Issue"),
    ("zwsp", "Test\u200bIssue"),
    ("math-bold", "Test 𝕳𝖊𝖑𝖑𝖔"),
    ("script", "<script>alert('xss')</script>"),
    ("ical-injection", "x\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil"),
    ("escapes", "a;b,c\\d:e"),
    ("c1", "a\u0085b\u009fc"),
    ("fold-73", "a" * 73),
    ("fold-147", "b" * 147),
]

DATES = ["2024-02-29", "2024-12-31", "2099-12-31", "1970-01-02", "0001-01-01",
         "3000-12-30", "3000-12-31", "9999-12-30", "2023-02-29", "2024-13-01"]

HTML = [
    ("p", "<p>Draft and review.</p>"),
    ("empty-p", "<p></p>"),
    ("lists", "<ul><li><p>one</p></li><li><p>two &amp; three</p></li></ul>"
              "<ol><li>first</li></ol>"),
    ("pre", "<pre><code>line 1\n  line 2\n\n\nline 5</code></pre>"),
    ("table", "<table><tr><th>a</th><td>b</td></tr><tr><td>c</td></tr></table>"),
    ("script-style", "<p>x</p><script>alert(1)</script><style>p{}</style><p>y</p>"),
    ("entities", "<p>&lt;b&gt; &nbsp;&nbsp; &#233; &#x1F389; &#13;&#10; &#0; &#x85;</p>"),
    ("br", "a<br>b<br/><br>c"),
    ("mention", '<p>Hi <mention-component entity_identifier="u1" '
                'entity_name="user_mention"></mention-component> see '
                '<a href="https://x.example/?a=1&amp;b=2">link</a></p>'),
    ("image", '<image-component src="x.png"></image-component><p>after</p>'),
    ("nested", "<div>" * 300 + "deep" + "</div>" * 300),
    ("blank-lines", "<p></p><p></p><p></p><p>text</p><p></p><p></p>"),
    ("cr", "<p>a\r\nb\rc</p><pre>x\r\ny</pre>"),
    ("latin1", "<p>caf\xe9</p>"),
    ("plane-editor", '<p class="editor-paragraph-block">Steps:</p>'
                     '<ul class="list-disc pl-7 space-y-[--list-spacing-y] tight" '
                     'data-tight="true"><li class="not-prose space-y-2">'
                     '<p class="editor-paragraph-block">open</p></li></ul>'
                     '<h2 class="editor-heading-block">Notes</h2><hr>'
                     '<blockquote><p>quoted</p></blockquote>'),
    ("long-10000", "<p>" + "x" * 10000 + "</p>"),
]


def base_issue(i=0):
    return {
        "id": "8c0e4d1a-6b0f-4d7e-9a1e-2f3b4c5d6e%02x" % (i % 256),
        "name": "Prepare Q2 release notes",
        "description_html": "<p>Draft and review.</p>",
        "priority": "high",
        "start_date": "2025-05-12",
        "target_date": "2025-05-16",
        "sequence_id": 42,
        "created_at": "2025-05-10T09:15:22.481233Z",
        "updated_at": "2025-05-12T14:03:51.902114Z",
        "project": {"id": "0d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                    "identifier": "WEB", "name": "Website"},
        "state": {"id": "5d4c3b2a-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
                  "name": "In Progress", "color": "#F59E0B", "group": "started"},
        "labels": [{"id": "11111111-2222-4333-8444-555555555555", "name": "bug",
                    "color": "#ff4444"}],
        "assignees": [{"id": "6c117fab-991e-4818-a632-c043b9289cd7",
                       "first_name": "Ann", "last_name": "Lee",
                       "email": "ann@x.io", "avatar": "", "avatar_url": None,
                       "display_name": "ann"}],
    }


def label(i, name):
    return {"id": "1abe1000-0000-4000-8000-%012d" % i, "name": name,
            "color": "#00ff00"}


def user(i, name):
    return {"id": "a55e1000-0000-4000-8000-%012d" % i, "display_name": name,
            "first_name": "", "last_name": "", "email": "u%d@x.io" % i}


def edge_issues():
    out = []
    for tag, name in NAMES:
        it = base_issue()
        it["name"] = name
        out.append(("name-" + tag, it))
        it = base_issue()
        it["labels"] = [label(0, name), label(1, "ok")]
        it["assignees"] = [user(0, name)]
        it["state"]["name"] = name
        it["project"]["name"] = name
        out.append(("fields-" + tag, it))
    for d in DATES:
        it = base_issue()
        it["target_date"] = d
        out.append(("date-" + d, it))
    for tag, t in (("utc", "2025-05-12T14:03:51.902114Z"),
                   ("ist", "2025-05-12T19:33:51.902114+05:30"),
                   ("y3001", "3001-01-01T00:00:00Z"),
                   ("y1", "0001-01-01T00:00:00+01:00")):
        it = base_issue()
        it["updated_at"] = t
        out.append(("updated-" + tag, it))
    for seq in (0, 2147483647):
        it = base_issue()
        it["sequence_id"] = seq
        out.append(("seq-%d" % seq, it))
    for n in (0, 1, 10, 100):
        it = base_issue()
        it["assignees"] = [user(i, "user %d" % i) for i in range(n)]
        out.append(("assignees-%d" % n, it))
    for n in (0, 50, 250):
        it = base_issue()
        it["labels"] = [label(i, "label %d" % i) for i in range(n)]
        out.append(("labels-%d" % n, it))
    for tag, html in HTML:
        it = base_issue()
        it["description_html"] = html
        out.append(("html-" + tag, it))
    # shapes: webhook (project as UUID), unexpanded, nulls
    it = base_issue()
    it["project"] = it["project"]["id"]
    out.append(("webhook-shape", it))
    it = base_issue()
    it["state"] = it["state"]["id"]
    it["labels"] = [it["labels"][0]["id"]]
    it["assignees"] = [it["assignees"][0]["id"]]
    out.append(("unexpanded", it))
    it = base_issue()
    for k in ("description_html", "priority", "target_date", "updated_at", "state"):
        it[k] = None
    out.append(("nulls", it))
    it = base_issue()
    it["state"]["group"] = "somethingnew"
    it["priority"] = "none"
    out.append(("new-group", it))
    return out


# --------------------------------------------------------------------------
# The ical harness's binary issues (see fuzz_ical.c for the layout)
# --------------------------------------------------------------------------

PRIOS = {"none": 0, "low": 1, "medium": 2, "high": 3, "urgent": 4}
GROUPS = {None: 0, "backlog": 1, "unstarted": 2, "started": 3, "completed": 4,
          "cancelled": 5, "triage": 6}
T_MIN = -62135596800000000
T_MAX = 253402300799999999


def ical_blob(it, flags=0, sequence=1, dtstamp=1764340000):
    import datetime
    d = it.get("target_date") or "2025-05-16"
    try:
        day = (datetime.date.fromisoformat(d) - datetime.date(1, 1, 1)).days
        raw = None
    except ValueError:
        day, raw = 0, d
    if raw is not None:
        flags |= 2
        y, m, dd = (int(x) for x in raw.split("-"))
        datebytes = struct.pack("<HBB", y, m, dd)
    else:
        datebytes = struct.pack("<I", day)
    up = 0
    if it.get("updated_at"):
        t = datetime.datetime.fromisoformat(it["updated_at"].replace("Z", "+00:00"))
        us = (t - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) \
            // datetime.timedelta(microseconds=1)
        up = max(0, us - T_MIN)
    else:
        flags |= 16
    state = it.get("state") if isinstance(it.get("state"), dict) else {}
    proj = it.get("project") if isinstance(it.get("project"), dict) else {}
    labels = [l["name"] for l in it.get("labels") or [] if isinstance(l, dict)]
    users = [u.get("display_name") or "x" for u in it.get("assignees") or []
             if isinstance(u, dict)]
    labels, users = labels[:255], users[:255]
    hdr = bytes([flags, PRIOS.get(it.get("priority") or "none", 0),
                 GROUPS.get(state.get("group"), 0)])
    hdr += struct.pack("<I", it.get("sequence_id", 0)) + datebytes
    hdr += struct.pack("<Q", up) + struct.pack("<I", sequence)
    hdr += struct.pack("<I", dtstamp) + bytes([len(labels), len(users)])
    assert len(hdr) == 29
    strs = [it.get("name") or "", it.get("description_html") or "",
            state.get("name") or "", proj.get("name") or "",
            proj.get("identifier") or "",
            proj.get("id") or (it.get("project") if isinstance(it.get("project"), str) else ""),
            it["id"]] + labels + users
    return hdr + b"\0".join(s.encode("utf-8", "surrogatepass") for s in strs)


# --------------------------------------------------------------------------
# CalDAV
# --------------------------------------------------------------------------

def caldav_seeds():
    hrefs = set()
    for path in sorted(glob.glob(os.path.join(CALDAV_DATA, "*"))):
        if path.endswith((".status", ".sh")):
            continue
        data = open(path, "rb").read()
        if not data.strip():
            continue
        put("multistatus", os.path.basename(path), data)
        for h in re.findall(rb"<(?:[A-Za-z0-9]+:)?href>([^<]*)</", data):
            hrefs.add(h.decode("utf-8", "replace"))
    extra_ms = {
        "minimal": '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">'
                   '<d:response><d:href>/c/a.ics</d:href><d:propstat><d:prop>'
                   '<d:getetag>"1"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK'
                   '</d:status></d:propstat></d:response></d:multistatus>',
        "doctype": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM '
                   '"file:///etc/passwd">]><d:multistatus xmlns:d="DAV:">'
                   '<d:response><d:href>&e;</d:href></d:response></d:multistatus>',
        "mixed-status": '<multistatus xmlns="DAV:"><response><href>/x/</href>'
                        '<propstat><prop><displayname>a</displayname></prop>'
                        '<status>HTTP/1.1 424 Failed Dependency</status></propstat>'
                        '<propstat><prop><getetag/></prop><status>HTTP/1.1 403 '
                        'Forbidden</status></propstat></response>'
                        '<response><href>http%3A//h/y/</href><status>HTTP/1.1 '
                        '404 Not Found</status></response></multistatus>',
        "huge-etag": '<multistatus xmlns="DAV:"><response><href>/a</href><propstat>'
                     '<prop><getetag>"' + "e" * 2000 + '"</getetag></prop><status>'
                     'HTTP/1.1 200 OK</status></propstat></response></multistatus>',
        "ctl-etag": '<multistatus xmlns="DAV:"><response><href>/a</href><propstat>'
                    '<prop><getetag>"a&#10;X-Evil: 1"</getetag></prop><status>'
                    'HTTP/1.1 200 OK</status></propstat></response></multistatus>',
        "no-href": '<multistatus xmlns="DAV:"><response><status>HTTP/1.1 200 OK'
                   '</status></response></multistatus>',
        "not-multistatus": '<error xmlns="DAV:"><valid-calendar-data/></error>',
    }
    for k, v in extra_ms.items():
        put("multistatus", "edge-" + k, v)
    base = "http://127.0.0.1:5232/user/calendars/"
    for h in sorted(hrefs):
        put("href", "server-" + hashlib.sha1(h.encode()).hexdigest()[:10], h)
        put("href", "based-" + hashlib.sha1(h.encode()).hexdigest()[:10],
            base + "\n" + h)
    for i, h in enumerate([
            "/a+b/", "/a%2bb", "/a%2Bb", "/cal/plane-issue-x%40calplanebot.ics",
            "/cal/plane-issue-x@calplanebot.ics", "http%3A//localhost:8000/u/c/",
            "https://host:8443//dav.php///calendars/u/", "/caf%C3%A9/", "/%",
            "/%zz", "/a?b=c#d", "", "/", "//", "a/b", "/a%2Fb/c", "/x\x01y",
            "/" + "a" * 4096, "/" + "%41" * 1400, "../../etc/passwd",
            "https://other.example/steal", "//other.example/x",
            "http://u:p@h/x", "/é/ü", "/a b/"]):
        put("href", "edge-%02d" % i, h)
        put("href", "edge-based-%02d" % i, "https://cal.example.com/dav.php/\n" + h)


# --------------------------------------------------------------------------
# dotenv and times
# --------------------------------------------------------------------------

DOTENV = {
    "example": """# CalPlaneBot configuration
PLANE_BASE_URL=https://app.plane.so
PLANE_API_TOKEN=plane_api_4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99
PLANE_WORKSPACE_SLUG=acme
CALDAV_URL=https://cal.example.com/dav.php/
CALDAV_USERNAME=ann
CALDAV_PASSWORD="p@ss w#rd \\"quoted\\""
CALDAV_AUTH_TYPE=digest
PLANE_WEBHOOK_SECRET='plane_wh_9a8b7c6d5e4f30211203f4e5d6c7b8a9'
SYNC_INTERVAL_SECONDS=300   # five minutes
LOG_LEVEL=INFO
export CALPLANEBOT_DB=/var/lib/calplanebot/state.db
""",
    "python-original": """HOST=0.0.0.0
PORT=8000
ENABLE_SYNC=true
EVENT_TIMEZONE=Europe/Berlin
CACHE_TTL_SECONDS=300
PLANE_BASE_URL=https://plane.example.com/api/v1/
""",
    "crlf": "A=1\r\nB=\"two\"\r\n\r\n#c\r\nC='3'\r\n",
    "escapes": 'A="line1\\nline2\\ttab\\\\back\\"q\\x"\nB=a#b\nC=a #b\nD=""\nE=\n',
    "errors": "=x\n1A=2\nA B=3\nexport\nA='unterminated\n",
    "unterminated-dq": 'A="open\n',
    "after-quote": 'A="x" y\n',
    "dup": "A=1\nA=2\nexport A=3\n",
    "nul": "A=1\nB=\x00\n",
    "bom": "\ufeffA=1\n",
    "blank": "",
    "spaces": "   \t\n  A  =  spaced value  \t \n",
}

TIMES = ["2025-05-10T09:15:22.481233Z", "2025-05-12T19:33:51.902114+05:30",
         "2026-11-20T14:03:51.902114-08:00", "2024-02-29T23:59:59Z",
         "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
         "2025-05-12T14:03:51Z", "2025-05-12t14:03:51.1z",
         "2025-05-12T14:03:51.123456789+0530", "2025-05-12T14:03:51.1234567890Z",
         "2025-05-12T24:00:00Z", "2025-05-12T14:03:60Z", "2023-02-29T00:00:00Z",
         "2025-05-12 14:03:51Z", "2025-05-12T14:03:51", "2025-05-12T14:03:51+24:00",
         "2025-05-16", "2024-02-29", "2024-12-31", "2099-12-31", "1970-01-02",
         "0000-01-01", "9999-12-31", "2025-5-16", "+2025-05-16", "2025-05-16\n"]


def main():
    os.chdir(ROOT)
    clear_seeds()
    issues = plane_seeds("Z", "utc") + plane_seeds("+05:30", "ist")
    edges = edge_issues()
    for tag, it in edges:
        put("issue_json", "edge-" + tag,
            json.dumps(it, ensure_ascii=(tag.endswith("ascii")), separators=(",", ":")))
    # webhook-style JSON (Python's json.dumps: ", " / ": " and \\uXXXX)
    for tag, it in edges[:8]:
        put("issue_json", "edge-pyjson-" + tag, json.dumps(it))
    # pages of edge issues
    page = {"grouped_by": None, "sub_grouped_by": None, "total_count": 3,
            "next_cursor": "2:1:0", "prev_cursor": "2:-1:1",
            "next_page_results": True, "prev_page_results": False, "count": 3,
            "total_pages": 2, "total_results": 3, "extra_stats": None,
            "results": [it for _, it in edges[:3]]}
    put("plane_page", "edge-page-more", json.dumps(page))
    page["next_page_results"] = False
    page["results"] = [it for _, it in edges]
    put("plane_page", "edge-page-all", json.dumps(page, ensure_ascii=False))
    put("plane_page", "edge-page-no-cursor",
        '{"results":[],"next_page_results":true,"next_cursor":""}')
    put("plane_page", "edge-page-long-cursor",
        '{"results":[{}],"next_page_results":true,"next_cursor":"%s"}' % ("9" * 200))
    put("plane_page", "edge-page-not-bool",
        '{"results":[],"next_page_results":"false"}')
    put("plane_page", "edge-page-rate-limited",
        '{"error_code":5900,"error_message":"RATE_LIMIT_EXCEEDED"}')
    # ical harness: the same issues as decoded bytes
    for i, (kind, it) in enumerate([("real", x) for x in issues[:12]] +
                                   [(t, x) for t, x in edges]):
        put("ical", "%s-%s" % (kind, it["id"][:8] if kind == "real" else ""),
            ical_blob(it, flags=128 if i % 2 else 0, sequence=i, dtstamp=1764340000 + i))
    # html: real descriptions and edge cases; names too (they are text)
    for it in issues:
        if it.get("description_html"):
            put("html", "real-" + it["id"][:8], it["description_html"])
    for tag, h in HTML:
        put("html", "edge-" + tag, h)
    for tag, n in NAMES:
        put("html", "name-" + tag, n)
    caldav_seeds()
    for k, v in DOTENV.items():
        put("dotenv", k, v)
    example = os.path.join(ROOT, "docs", "calplanebot.env.example")
    if os.path.exists(example):
        put("dotenv", "docs-env-example", open(example, "rb").read())
    for i, t in enumerate(TIMES):
        put("time", "%02d" % i, t)
    for it in issues:
        for k in ("updated_at", "created_at", "target_date"):
            if it.get(k):
                put("time", "real-" + k, it[k])
    for name in sorted(written):
        print("%-12s %4d seeds" % (name, len(written[name])))


if __name__ == "__main__":
    main()
