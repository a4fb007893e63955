#!/usr/bin/python3
"""Plane API simulator for CalPlaneBot's tests.

Speaks the subset of Plane's REST API (/api/v1/) and webhooks that a sync
bridge uses, exactly as /work/shared/plane-api.md describes it, and offers a
control API under /_sim/ so tests can change data, inject faults and make the
simulator send webhooks.  Python standard library only.  See README.md.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import math
import os
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

UTC = timezone.utc

# --------------------------------------------------------------------------
# Exact bodies from plane-api.md
# --------------------------------------------------------------------------
BODY_NO_CREDS = {"detail": "Authentication credentials were not provided."}
BODY_BAD_TOKEN = {"detail": "Given API token is not valid"}
BODY_NO_PERM = {"detail": "You do not have permission to perform this action."}
BODY_NOT_FOUND = {"error": "The requested resource does not exist."}
BODY_UNEXPECTED = {"error": "Something went wrong please try again later"}
BODY_RATE = {"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"}
BODY_PER_PAGE_MAX = {"detail": "Invalid per_page value. Cannot exceed 1000."}
BODY_PER_PAGE_BAD = {"detail": "Invalid per_page parameter."}
BODY_BAD_CURSOR = {"detail": "Invalid cursor parameter."}
BODY_BAD_OFFSET = {"detail": "Error in parsing"}
# Django's production 404 page for URLs that match no route.
HTML_404 = (b'\n<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n'
            b'</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not '
            b'found on this server.</p>\n</body>\n</html>\n')

MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 1000
PRIORITIES = ["urgent", "high", "medium", "low", "none"]
STATE_GROUPS = ["backlog", "unstarted", "started", "completed", "cancelled", "triage"]
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ID_NS = uuid.UUID("6f1d9a52-3c1e-4b8a-9f57-2f7f0c3b6a10")

DEFAULT_STATES = [
    ("Backlog", "#A3A3A3", "backlog"),
    ("Todo", "#3A3A3A", "unstarted"),
    ("In Progress", "#F59E0B", "started"),
    ("Done", "#16A34A", "completed"),
    ("Cancelled", "#EF4444", "cancelled"),
    ("Triage", "#4E5355", "triage"),
]

# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


class BadInput(Exception):
    """Invalid fixture or control-API input (-> 400 on the control API)."""


def det_uuid(*parts):
    return str(uuid.uuid5(ID_NS, ":".join(str(p) for p in parts)))


def parse_tz(s):
    """'Z', 'UTC', '+05:30', '-0800' or an IANA name -> tzinfo."""
    if s is None or s in ("", "Z", "z", "UTC", "utc"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", s)
    if m:
        off = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        if off >= timedelta(hours=24):
            raise ValueError("bad offset %r" % s)
        return timezone(-off if m.group(1) == "-" else off)
    try:
        from zoneinfo import ZoneInfo
        return ZoneInfo(s)
    except Exception:
        raise ValueError("unknown time zone %r" % s)


def fmt_dt(dt, tz=UTC):
    """DRF DateTimeField output: isoformat in the active zone, +00:00 -> Z.
    Microseconds always present, as the spec shows."""
    if dt is None:
        return None
    s = dt.astimezone(tz).isoformat(timespec="microseconds")
    if s.endswith("+00:00"):
        s = s[:-6] + "Z"
    return s


def parse_dt(v, what="datetime"):
    if v is None:
        return None
    if isinstance(v, datetime):
        dt = v
    elif isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v.strip())
        except ValueError:
            raise BadInput("%s: not an ISO 8601 date-time: %r" % (what, v))
    else:
        raise BadInput("%s: not a string: %r" % (what, v))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_date(v, what="date"):
    """YYYY-MM-DD string (a date-time is cut to its UTC date) or None."""
    if v is None:
        return None
    if not isinstance(v, str):
        raise BadInput("%s: not a string: %r" % (what, v))
    try:
        return date.fromisoformat(v.strip()).isoformat()
    except ValueError:
        pass
    return parse_dt(v, what).date().isoformat()


def now_utc():
    return datetime.now(UTC)


class _Stripper(HTMLParser):
    """Django's strip_tags(): drop tags, keep text, keep entities verbatim."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.fed = []

    def handle_data(self, d):
        self.fed.append(d)

    def handle_entityref(self, name):
        self.fed.append("&%s;" % name)

    def handle_charref(self, name):
        self.fed.append("&#%s;" % name)


def strip_tags(value):
    value = str(value)
    for _ in range(50):
        if "<" not in value or ">" not in value:
            break
        s = _Stripper()
        try:
            s.feed(value)
            s.close()
        except Exception:
            break
        new = "".join(s.fed)
        if new == value:
            break
        value = new
    return value


def json_rest(obj):
    """DRF JSONRenderer: compact separators, UTF-8, U+2028/2029 escaped."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    s = s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return s.encode("utf-8")


def json_ctl(obj):
    return json.dumps(obj, ensure_ascii=False, indent=None).encode("utf-8")


def qget(q, name, default=None):
    """Django QueryDict.get: the last value of a repeated parameter."""
    v = q.get(name)
    if not v:
        return default
    return v[-1]


def parse_cursor(raw):
    """Plane's Cursor.from_string; returns (value, page, is_prev) or None."""
    try:
        bits = raw.split(":")
        if len(bits) != 3:
            return None
        value = float(bits[0]) if "." in bits[0] else int(bits[0])
        return value, int(bits[1]), bool(int(bits[2]))
    except (TypeError, ValueError, OverflowError):
        return None


# --------------------------------------------------------------------------
# The data store
# --------------------------------------------------------------------------

ISSUE_FIELDS = [
    "name", "description_html", "description_json", "priority", "start_date",
    "target_date", "state", "labels", "assignees", "created_at", "updated_at",
    "completed_at", "archived_at", "deleted_at", "is_draft", "sequence_id",
    "sort_order", "parent", "external_source", "external_id", "point",
    "estimate_point", "type_id", "created_by", "updated_by",
]
PROJECT_FIELDS = [
    "identifier", "name", "description", "network", "emoji", "icon_prop",
    "cover_image", "cover_image_url", "archived_at", "deleted_at",
    "created_at", "updated_at", "members", "sort_order", "timezone",
    "created_by", "updated_by", "logo_props",
]


class Store:
    """All workspace data, guarded by one lock.  Times are aware UTC datetimes."""

    def __init__(self, fixture, token_override=None, slug_override=None):
        self.lock = threading.RLock()
        self.fixture = fixture
        self.token_override = token_override
        self.slug_override = slug_override
        self.load(fixture)

    # ---- loading -----------------------------------------------------
    def load(self, fx):
        if not isinstance(fx, dict):
            raise BadInput("fixture: top level must be an object")
        wsf = fx.get("workspace") or {}
        slug = self.slug_override or wsf.get("slug") or fx.get("slug") or "acme"
        self.ws = {
            "id": wsf.get("id") or det_uuid("workspace", slug),
            "slug": slug,
            "name": wsf.get("name") or slug,
        }
        wh = fx.get("webhook") or {}
        self.webhook = {
            "id": wh.get("id") or det_uuid("webhook", slug),
            "secret": wh.get("secret") or "plane_wh_" + hashlib.md5(slug.encode()).hexdigest(),
        }
        self.users = {}
        for i, u in enumerate(fx.get("users") or fx.get("members") or []):
            self._add_user(u, i)
        if not self.users:
            self._add_user({"first_name": "Api", "last_name": "User",
                            "email": "api@example.com", "display_name": "api"}, 0)
        api_user = fx.get("api_user") or next(iter(self.users))
        api_user = self.resolve_user(api_user)
        self.api_user = api_user
        self.tokens = {}
        tok = self.token_override or fx.get("api_token") or "plane_api_0123456789abcdef0123456789abcdef"
        self.api_token = tok
        self.tokens[tok] = {"user": api_user, "service": False}
        for t in fx.get("extra_tokens") or []:
            if not isinstance(t, dict) or not t.get("token"):
                raise BadInput("extra_tokens: each needs a token")
            self.tokens[t["token"]] = {
                "user": self.resolve_user(t.get("user") or api_user),
                "service": bool(t.get("service")),
            }
        self.projects = {}
        self.states = {}
        self.labels = {}
        self.issues = {}
        self.by_project = {}
        self.seq = {}
        self.seq_index = {}
        self.activities = {}
        for i, p in enumerate(fx.get("projects") or []):
            self.create_project(p, index=i, from_fixture=True)
        for i, iss in enumerate(fx.get("issues") or []):
            pid = iss.get("project") or iss.get("project_id")
            self.create_issue(pid, iss, index=i, from_fixture=True)

    def _add_user(self, u, i):
        if not isinstance(u, dict):
            raise BadInput("users: each must be an object")
        email = u.get("email") or "user%d@example.com" % i
        uid = u.get("id") or det_uuid("user", email)
        first = u.get("first_name", "")
        last = u.get("last_name", "")
        self.users[uid] = {
            "id": uid,
            "first_name": first,
            "last_name": last,
            "email": email,
            "avatar": u.get("avatar", ""),
            "avatar_url": u.get("avatar_url"),
            "display_name": u.get("display_name") or email.split("@")[0],
            "role": int(u.get("role", 15)),
        }
        return uid

    def resolve_user(self, ref):
        if ref in self.users:
            return ref
        for u in self.users.values():
            if ref in (u["email"], u["display_name"]):
                return u["id"]
        raise BadInput("unknown user %r" % (ref,))

    def create_project(self, p, index=None, from_fixture=False):
        if not isinstance(p, dict):
            raise BadInput("project must be an object")
        ident = p.get("identifier")
        if not ident or not isinstance(ident, str):
            raise BadInput("project: identifier is required")
        ident = ident.strip()
        for o in self.projects.values():
            if o["identifier"] == ident and o["deleted_at"] is None:
                raise BadInput("project identifier %r already used" % ident)
        pid = p.get("id") or det_uuid("project", self.ws["slug"], ident)
        if pid in self.projects:
            raise BadInput("project id %s already used" % pid)
        created = parse_dt(p.get("created_at"), "created_at") or (
            datetime(2026, 1, 5, 9, 0, tzinfo=UTC) + timedelta(days=index or 0)
            if from_fixture else now_utc())
        members = p.get("members")
        members = list(self.users) if members is None else [self.resolve_user(m) for m in members]
        proj = {
            "id": pid, "identifier": ident, "name": p.get("name") or ident,
            "description": p.get("description", ""),
            "network": int(p.get("network", 2)),
            "emoji": p.get("emoji"), "icon_prop": p.get("icon_prop"),
            "cover_image": p.get("cover_image"), "cover_image_url": p.get("cover_image_url"),
            "logo_props": p.get("logo_props", {}),
            "archived_at": parse_dt(p.get("archived_at"), "archived_at"),
            "deleted_at": parse_dt(p.get("deleted_at"), "deleted_at"),
            "created_at": created,
            "updated_at": parse_dt(p.get("updated_at"), "updated_at") or created,
            "members": members,
            "sort_order": float(p.get("sort_order", 65535 - 1000 * len(self.projects))),
            "timezone": p.get("timezone", "UTC"),
            "created_by": p.get("created_by") or self.api_user,
            "updated_by": p.get("updated_by") or self.api_user,
            "states": [], "labels": [],
        }
        self.projects[pid] = proj
        self.by_project[pid] = []
        self.seq[pid] = 0
        self.seq_index[pid] = {}
        states = p.get("states")
        if states is None:
            states = [{"name": n, "color": c, "group": g, "default": g == "unstarted"}
                      for n, c, g in DEFAULT_STATES]
        try:
            for i, s in enumerate(states):
                self.create_state(pid, s, i)
            for i, lab in enumerate(p.get("labels") or []):
                self.create_label(pid, lab, i)
            for i, iss in enumerate(p.get("issues") or []):
                self.create_issue(pid, iss, index=i, from_fixture=from_fixture)
        except BadInput:
            if not from_fixture:
                self._drop_project(pid)
            raise
        return proj

    def _drop_project(self, pid):
        p = self.projects.pop(pid, None)
        if not p:
            return
        for sid in p["states"]:
            self.states.pop(sid, None)
        for lid in p["labels"]:
            self.labels.pop(lid, None)
        for iid in self.by_project.pop(pid, []):
            self.issues.pop(iid, None)
        self.seq_index.pop(pid, None)

    def create_state(self, pid, s, i=0):
        if not isinstance(s, dict) or not s.get("name"):
            raise BadInput("state needs a name")
        group = s.get("group", "backlog")
        if group not in STATE_GROUPS:
            raise BadInput("state group must be one of %s" % STATE_GROUPS)
        sid = s.get("id") or det_uuid("state", pid, s["name"])
        p = self.projects[pid]
        st = {
            "id": sid, "project": pid, "name": s["name"],
            "description": s.get("description", ""),
            "color": s.get("color", "#3A3A3A"), "group": group,
            "sequence": float(s.get("sequence", 15000 + 10000 * len(p["states"]))),
            "default": bool(s.get("default", False)),
            "created_at": p["created_at"], "updated_at": p["created_at"],
        }
        self.states[sid] = st
        p["states"].append(sid)
        return st

    def create_label(self, pid, lab, i=0):
        if not isinstance(lab, dict) or not lab.get("name"):
            raise BadInput("label needs a name")
        lid = lab.get("id") or det_uuid("label", pid, lab["name"])
        p = self.projects[pid]
        lb = {
            "id": lid, "project": pid, "name": lab["name"],
            "description": lab.get("description", ""),
            "color": lab.get("color", "#6B7280"),
            "sort_order": float(lab.get("sort_order", 65535 + 10000 * len(p["labels"]))),
            "parent": lab.get("parent"),
            "created_at": p["created_at"] + timedelta(seconds=len(p["labels"]) + 1),
            "updated_at": p["created_at"] + timedelta(seconds=len(p["labels"]) + 1),
        }
        self.labels[lid] = lb
        p["labels"].append(lid)
        return lb

    def project_or_bad(self, pid):
        p = self.projects.get(pid)
        if p is None:
            raise BadInput("unknown project %r" % (pid,))
        return p

    def resolve_state(self, pid, ref):
        p = self.projects[pid]
        if ref in p["states"]:
            return ref
        for sid in p["states"]:
            if self.states[sid]["name"].lower() == str(ref).lower():
                return sid
        raise BadInput("state %r is not a state of project %s" % (ref, p["identifier"]))

    def resolve_label(self, pid, ref):
        p = self.projects[pid]
        if ref in p["labels"]:
            return ref
        for lid in p["labels"]:
            if self.labels[lid]["name"].lower() == str(ref).lower():
                return lid
        raise BadInput("label %r is not a label of project %s" % (ref, p["identifier"]))

    def default_state(self, pid):
        p = self.projects[pid]
        for sid in p["states"]:
            if self.states[sid]["default"]:
                return sid
        for sid in p["states"]:
            if self.states[sid]["group"] == "unstarted":
                return sid
        return p["states"][0] if p["states"] else None

    def _norm_issue_fields(self, pid, data, current=None):
        """Validate and convert input fields; returns dict of internal values."""
        out = {}
        for k, v in data.items():
            if k.startswith("_") or k in ("id", "project", "project_id", "workspace"):
                continue
            if k not in ISSUE_FIELDS:
                raise BadInput("unknown issue field %r" % k)
            if k == "name":
                if not isinstance(v, str) or not v.strip():
                    raise BadInput("name must be a non-empty string")
            elif k in ("description_html",):
                if v is not None and not isinstance(v, str):
                    raise BadInput("description_html must be a string")
                v = v if v is not None else "<p></p>"
            elif k == "priority":
                if v is None:
                    v = "none"
                if v not in PRIORITIES:
                    raise BadInput("priority must be one of %s" % PRIORITIES)
            elif k in ("start_date", "target_date", "archived_at"):
                v = parse_date(v, k)
            elif k in ("created_at", "updated_at", "completed_at", "deleted_at"):
                v = parse_dt(v, k)
            elif k == "state":
                v = self.resolve_state(pid, v) if v is not None else self.default_state(pid)
            elif k == "labels":
                if not isinstance(v, list):
                    raise BadInput("labels must be a list")
                v = list(dict.fromkeys(self.resolve_label(pid, x) for x in v))
            elif k == "assignees":
                if not isinstance(v, list):
                    raise BadInput("assignees must be a list")
                v = list(dict.fromkeys(self.resolve_user(x) for x in v))
            elif k == "is_draft":
                v = bool(v)
            elif k == "sequence_id":
                if not isinstance(v, int) or v < 1:
                    raise BadInput("sequence_id must be a positive integer")
            elif k == "sort_order":
                v = float(v)
            elif k in ("created_by", "updated_by"):
                v = self.resolve_user(v) if v is not None else None
            out[k] = v
        return out

    def create_issue(self, pid, data, index=None, from_fixture=False):
        if pid not in self.projects:
            raise BadInput("unknown project %r" % (pid,))
        if not isinstance(data, dict):
            raise BadInput("issue must be an object")
        if "name" not in data:
            raise BadInput("issue: name is required")
        f = self._norm_issue_fields(pid, data)
        iid = data.get("id") or (det_uuid("issue", pid, f.get("sequence_id") or index, data["name"])
                                 if from_fixture else str(uuid.uuid4()))
        if iid in self.issues:
            raise BadInput("issue id %s already used" % iid)
        seq = f.get("sequence_id")
        if seq is None:
            seq = self.seq[pid] + 1
        elif seq in self.seq_index[pid]:
            raise BadInput("sequence_id %d already used in this project" % seq)
        self.seq[pid] = max(self.seq[pid], seq)
        created = f.get("created_at") or (
            self.projects[pid]["created_at"] + timedelta(hours=seq) if from_fixture else now_utc())
        state = f.get("state") or self.default_state(pid)
        completed = f.get("completed_at")
        if "completed_at" not in f and state and self.states[state]["group"] == "completed":
            completed = f.get("updated_at") or created
        iss = {
            "id": iid, "project": pid,
            "name": f["name"],
            "description_html": f.get("description_html", "<p></p>"),
            "description_json": f.get("description_json", {}),
            "priority": f.get("priority", "none"),
            "start_date": f.get("start_date"), "target_date": f.get("target_date"),
            "sequence_id": seq,
            "sort_order": f.get("sort_order", 65535.0 + 10000 * len(self.by_project[pid])),
            "state": state,
            "labels": f.get("labels", []), "assignees": f.get("assignees", []),
            "created_at": created,
            "updated_at": f.get("updated_at") or created,
            "completed_at": completed,
            "archived_at": f.get("archived_at"), "deleted_at": f.get("deleted_at"),
            "is_draft": f.get("is_draft", False),
            "parent": f.get("parent"), "external_source": f.get("external_source"),
            "external_id": f.get("external_id"), "point": f.get("point"),
            "estimate_point": f.get("estimate_point"), "type_id": f.get("type_id"),
            "created_by": f.get("created_by") or self.api_user,
            "updated_by": f.get("updated_by") or f.get("created_by") or self.api_user,
        }
        self.issues[iid] = iss
        self.by_project[pid].append(iid)
        self.seq_index[pid][seq] = iid
        self.activities[iid] = []
        self.add_activity(iss, "created", None, None, None, iss["created_by"], created,
                          comment="created the work item")
        return iss

    def update_issue(self, iid, data):
        iss = self.issues.get(iid)
        if iss is None:
            raise KeyError(iid)
        pid = iss["project"]
        if "project" in data or "project_id" in data:
            if (data.get("project") or data.get("project_id")) != pid:
                raise BadInput("moving an issue to another project is not supported")
        f = self._norm_issue_fields(pid, data)
        if "sequence_id" in f and f["sequence_id"] != iss["sequence_id"]:
            if f["sequence_id"] in self.seq_index[pid]:
                raise BadInput("sequence_id already used in this project")
            del self.seq_index[pid][iss["sequence_id"]]
            self.seq_index[pid][f["sequence_id"]] = iid
            self.seq[pid] = max(self.seq[pid], f["sequence_id"])
        actor = data.get("_actor")
        actor = self.resolve_user(actor) if actor else self.api_user
        now = now_utc()
        changed = []
        for k, v in f.items():
            if k in ("updated_at",):
                continue
            old = iss[k]
            if old != v:
                changed.append(k)
                iss[k] = v
                self.add_activity(iss, "updated", k, old, v, actor, now)
        if "state" in changed and "completed_at" not in f:
            if self.states[iss["state"]]["group"] == "completed":
                iss["completed_at"] = now
            else:
                iss["completed_at"] = None
        if "updated_at" in f and f["updated_at"] is not None:
            iss["updated_at"] = f["updated_at"]
        else:
            iss["updated_at"] = max(now, iss["updated_at"] + timedelta(microseconds=1))
        iss["updated_by"] = actor
        return iss, changed

    def add_activity(self, iss, verb, field, old, new, actor, when, comment=None):
        self.activities.setdefault(iss["id"], []).append({
            "id": str(uuid.uuid4()), "verb": verb, "field": field,
            "old_raw": old, "new_raw": new, "actor": actor, "created_at": when,
            "comment": comment or ("updated the %s" % field if field else verb),
            "project": iss["project"], "issue": iss["id"],
        })

    # ---- visibility ----------------------------------------------------
    def project_alive(self, p):
        return p is not None and p["deleted_at"] is None

    def issue_visible(self, iss):
        if iss["deleted_at"] is not None or iss["archived_at"] is not None or iss["is_draft"]:
            return False
        st = self.states.get(iss["state"])
        if st is not None and st["group"] == "triage":
            return False
        p = self.projects.get(iss["project"])
        if p is None or p["deleted_at"] is not None or p["archived_at"] is not None:
            return False
        return True

    # ---- serializers (REST) -------------------------------------------
    def user_lite(self, uid):
        u = self.users[uid]
        return {"id": u["id"], "first_name": u["first_name"], "last_name": u["last_name"],
                "email": u["email"], "avatar": u["avatar"], "avatar_url": u["avatar_url"],
                "display_name": u["display_name"]}

    def state_lite(self, sid):
        s = self.states[sid]
        return {"id": s["id"], "name": s["name"], "color": s["color"], "group": s["group"]}

    def state_full(self, sid, tz):
        s = self.states[sid]
        return {
            "id": s["id"], "created_at": fmt_dt(s["created_at"], tz),
            "updated_at": fmt_dt(s["updated_at"], tz), "deleted_at": None,
            "name": s["name"], "description": s["description"], "color": s["color"],
            "slug": re.sub(r"[^a-z0-9]+", "-", s["name"].lower()).strip("-"),
            "sequence": s["sequence"], "group": s["group"],
            "is_triage": s["group"] == "triage", "default": s["default"],
            "external_source": None, "external_id": None,
            "created_by": self.api_user, "updated_by": self.api_user,
            "project": s["project"], "workspace": self.ws["id"],
        }

    def label_full(self, lid, tz):
        lb = self.labels[lid]
        return {
            "id": lb["id"], "created_at": fmt_dt(lb["created_at"], tz),
            "updated_at": fmt_dt(lb["updated_at"], tz), "deleted_at": None,
            "name": lb["name"], "description": lb["description"], "color": lb["color"],
            "sort_order": lb["sort_order"], "external_source": None, "external_id": None,
            "created_by": self.api_user, "updated_by": self.api_user,
            "workspace": self.ws["id"], "project": lb["project"], "parent": lb["parent"],
        }

    def project_lite(self, pid):
        p = self.projects[pid]
        return {"id": p["id"], "identifier": p["identifier"], "name": p["name"],
                "cover_image": p["cover_image"], "icon_prop": p["icon_prop"],
                "emoji": p["emoji"], "description": p["description"],
                "cover_image_url": p["cover_image_url"]}

    def project_full(self, pid, tz, user=None):
        p = self.projects[pid]
        user = user or self.api_user
        member = user in p["members"]
        return {
            "id": p["id"], "total_members": len(p["members"]), "total_cycles": 0,
            "total_modules": 0, "is_member": member, "sort_order": p["sort_order"],
            "member_role": 20 if member else None, "is_deployed": False,
            "cover_image_url": p["cover_image_url"],
            "created_at": fmt_dt(p["created_at"], tz), "updated_at": fmt_dt(p["updated_at"], tz),
            "deleted_at": fmt_dt(p["deleted_at"], tz),
            "name": p["name"], "description": p["description"], "description_text": None,
            "description_html": None, "network": p["network"], "identifier": p["identifier"],
            "emoji": p["emoji"], "icon_prop": p["icon_prop"], "module_view": True,
            "cycle_view": True, "issue_views_view": True, "page_view": True,
            "intake_view": False, "is_time_tracking_enabled": False,
            "is_issue_type_enabled": False, "guest_view_all_features": False,
            "cover_image": p["cover_image"], "archive_in": 0, "close_in": 0,
            "logo_props": p["logo_props"], "archived_at": fmt_dt(p["archived_at"], tz),
            "timezone": p["timezone"], "external_source": None, "external_id": None,
            "created_by": p["created_by"], "updated_by": p["updated_by"],
            "workspace": self.ws["id"], "default_assignee": None, "project_lead": None,
            "cover_image_asset": None, "estimate": None,
            "default_state": self.default_state(pid),
        }

    def issue_rest(self, iss, tz, expand=()):
        d = {
            "id": iss["id"], "type_id": iss["type_id"],
            "created_at": fmt_dt(iss["created_at"], tz),
            "updated_at": fmt_dt(iss["updated_at"], tz),
            "deleted_at": fmt_dt(iss["deleted_at"], tz),
            "point": iss["point"], "name": iss["name"],
            "description_html": iss["description_html"], "description_binary": None,
            "priority": iss["priority"], "start_date": iss["start_date"],
            "target_date": iss["target_date"], "sequence_id": iss["sequence_id"],
            "sort_order": iss["sort_order"], "completed_at": fmt_dt(iss["completed_at"], tz),
            "archived_at": iss["archived_at"], "is_draft": iss["is_draft"],
            "external_source": iss["external_source"], "external_id": iss["external_id"],
            "created_by": iss["created_by"], "updated_by": iss["updated_by"],
            "project": iss["project"], "workspace": self.ws["id"], "parent": iss["parent"],
            "state": iss["state"], "estimate_point": iss["estimate_point"], "type": None,
            "assignees": list(iss["assignees"]), "labels": list(iss["labels"]),
        }
        if "state" in expand and iss["state"] in self.states:
            d["state"] = self.state_lite(iss["state"])
        if "project" in expand:
            d["project"] = self.project_lite(iss["project"])
        if "assignees" in expand:
            d["assignees"] = [self.user_lite(u) for u in iss["assignees"] if u in self.users]
        if "labels" in expand:
            d["labels"] = [self.label_full(x, tz) for x in iss["labels"] if x in self.labels]
        return d

    def activity_rest(self, a, tz):
        def txt(field, v):
            if v is None:
                return None
            if field == "state":
                return self.states[v]["name"] if v in self.states else str(v)
            if field == "labels" and isinstance(v, list):
                return ", ".join(self.labels[x]["name"] for x in v if x in self.labels)
            if field == "assignees" and isinstance(v, list):
                return ", ".join(self.users[x]["display_name"] for x in v if x in self.users)
            if isinstance(v, datetime):
                return fmt_dt(v, UTC)
            return str(v)
        ident = a["field"] == "state"
        return {
            "id": a["id"], "created_at": fmt_dt(a["created_at"], tz),
            "updated_at": fmt_dt(a["created_at"], tz), "deleted_at": None,
            "verb": a["verb"], "field": a["field"],
            "old_value": txt(a["field"], a["old_raw"]), "new_value": txt(a["field"], a["new_raw"]),
            "comment": a["comment"], "attachments": [],
            "old_identifier": a["old_raw"] if ident else None,
            "new_identifier": a["new_raw"] if ident else None,
            "epoch": int(a["created_at"].timestamp()), "project": a["project"],
            "workspace": self.ws["id"], "issue": a["issue"], "issue_comment": None,
            "actor": a["actor"],
        }

    # ---- webhook data --------------------------------------------------
    def issue_webhook_data(self, iss):
        desc = iss["description_html"]
        return {
            "id": iss["id"], "cycle": None, "module": None,
            "labels": [{"id": x, "name": self.labels[x]["name"], "color": self.labels[x]["color"]}
                       for x in iss["labels"] if x in self.labels],
            "assignees": [self.user_lite(u) for u in iss["assignees"] if u in self.users],
            "state": self.state_lite(iss["state"]) if iss["state"] in self.states else None,
            "created_at": fmt_dt(iss["created_at"]), "updated_at": fmt_dt(iss["updated_at"]),
            "deleted_at": fmt_dt(iss["deleted_at"]), "point": iss["point"],
            "name": iss["name"], "description_json": iss["description_json"],
            "description_html": desc,
            "description_stripped": None if desc in (None, "") else strip_tags(desc),
            "priority": iss["priority"], "start_date": iss["start_date"],
            "target_date": iss["target_date"], "sequence_id": iss["sequence_id"],
            "sort_order": iss["sort_order"], "completed_at": fmt_dt(iss["completed_at"]),
            "archived_at": iss["archived_at"], "is_draft": iss["is_draft"],
            "external_source": iss["external_source"], "external_id": iss["external_id"],
            "created_by": iss["created_by"], "updated_by": iss["updated_by"],
            "project": iss["project"], "workspace": self.ws["id"], "parent": iss["parent"],
            "estimate_point": iss["estimate_point"], "type": None,
        }

    def last_change(self, iid, field):
        for a in reversed(self.activities.get(iid, [])):
            if a["field"] == field and a["verb"] == "updated":
                return a
        return None

    # ---- dump ----------------------------------------------------------
    def dump(self):
        """The current data in fixture format (times UTC)."""
        projects = []
        for pid, p in self.projects.items():
            projects.append({
                "id": pid, "identifier": p["identifier"], "name": p["name"],
                "description": p["description"], "network": p["network"],
                "emoji": p["emoji"], "icon_prop": p["icon_prop"],
                "cover_image": p["cover_image"], "cover_image_url": p["cover_image_url"],
                "archived_at": fmt_dt(p["archived_at"]), "deleted_at": fmt_dt(p["deleted_at"]),
                "created_at": fmt_dt(p["created_at"]), "updated_at": fmt_dt(p["updated_at"]),
                "members": list(p["members"]), "sort_order": p["sort_order"],
                "states": [{k: self.states[s][k] for k in ("id", "name", "color", "group", "default", "sequence", "description")}
                           for s in p["states"]],
                "labels": [{k: self.labels[x][k] for k in ("id", "name", "color", "description", "parent", "sort_order")}
                           for x in p["labels"]],
                "issues": [self.issue_dump(self.issues[i]) for i in self.by_project[pid]],
            })
        return {
            "workspace": dict(self.ws), "api_token": self.api_token, "api_user": self.api_user,
            "extra_tokens": [{"token": t, "user": v["user"], "service": v["service"]}
                             for t, v in self.tokens.items() if t != self.api_token],
            "webhook": dict(self.webhook),
            "users": [dict(u) for u in self.users.values()],
            "projects": projects,
        }

    def issue_dump(self, iss):
        d = {}
        for k in ["id"] + ISSUE_FIELDS:
            v = iss[k]
            d[k] = fmt_dt(v) if isinstance(v, datetime) else v
        return d


# --------------------------------------------------------------------------
# Synthetic workspace (--generate P,N)
# --------------------------------------------------------------------------

FIRST = ["Ann", "Bilal", "Chen", "Dagny", "Émile", "Farah", "Goran", "Hana", "Ivo", "Jun"]
LAST = ["Lee", "Okafor", "Wang", "Berg", "Durand", "Haddad", "Petrović", "Sato", "Novak", "Kim"]
IDENTS = ["WEB", "MOB", "OPS", "API", "DATA", "INFRA", "DOCS", "SEC", "BILL", "CRM", "QA", "HR"]
PNAMES = ["Website", "Mobile App", "Operations", "Public API", "Data Platform", "Infrastructure",
          "Documentation", "Security", "Billing", "CRM", "Quality", "People"]
VERBS = ["Fix", "Update", "Review", "Prepare", "Design", "Implement", "Refactor", "Migrate",
         "Document", "Test", "Deploy", "Audit", "Plan", "Draft", "Clean up", "Benchmark"]
OBJECTS = ["login page", "release notes", "billing API", "onboarding flow", "search index",
           "CI pipeline", "dashboard", "invoice export", "backup job", "navigation bar",
           "analytics events", "password reset", "DNS records", "Q1 roadmap", "customer survey",
           "rate limiter", "cache layer", "email templates", "audit log", "calendar sync"]
QUALS = ["", "", "", " for v2", " (follow-up)", " – phase 2", " for Zürich office",
         " & rollout", " <beta>", " in staging"]
LABELS = [("bug", "#ff4444"), ("feature", "#3b82f6"), ("backend", "#8b5cf6"),
          ("frontend", "#10b981"), ("urgent-fix", "#f97316"), ("docs", "#64748b")]
DESCS = [
    "<p></p>",
    "<p>Draft and review.</p>",
    "<p>See the thread with <strong>Ann</strong> &amp; the design team.</p>",
    "<p>Steps:</p><ul><li><p>reproduce</p></li><li><p>fix &lt;root cause&gt;</p></li><li><p>add a test</p></li></ul>",
    "<h2>Context</h2><p>Customers in Zürich report “slow” pages&nbsp;— measure first.</p>",
    "<p>Checklist:</p><ol><li>backup</li><li>migrate</li><li>verify</li></ol>",
]


def generate_workspace(projects, per_project, seed=20261201, slug=None, hidden=0):
    rng = random.Random(seed)

    def rid():
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def rdt(start, end):
        span = int((end - start).total_seconds())
        return start + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1, 1000000))

    slug = slug or "sim-workspace"
    users = []
    for i in range(8):
        fn, ln = FIRST[i], LAST[i]
        users.append({"id": rid(), "first_name": fn, "last_name": ln,
                      "email": "%s.%s@example.com" % (fn.lower().replace("é", "e"), ln.lower().replace("ć", "c")),
                      "display_name": fn.lower().replace("é", "e"), "avatar": "", "avatar_url": None,
                      "role": 20 if i == 0 else 15})
    fx = {"workspace": {"id": rid(), "slug": slug, "name": "Simulated Workspace"},
          "api_token": "plane_api_" + "%032x" % rng.getrandbits(128),
          "api_user": users[0]["id"],
          "webhook": {"id": rid(), "secret": "plane_wh_" + "%032x" % rng.getrandbits(128)},
          "users": users, "projects": []}
    t0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    t1 = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    for pi in range(projects):
        ident = IDENTS[pi] if pi < len(IDENTS) else "P%d" % (pi + 1)
        pname = PNAMES[pi] if pi < len(PNAMES) else "Project %d" % (pi + 1)
        states = [{"id": rid(), "name": n, "color": c, "group": g, "default": g == "unstarted"}
                  for n, c, g in DEFAULT_STATES]
        labels = [{"id": rid(), "name": n, "color": c} for n, c in LABELS]
        pcreated = t0 + timedelta(days=pi)
        issues = []
        total = per_project + hidden
        for k in range(total):
            created = rdt(pcreated, t1)
            updated = min(created + timedelta(seconds=rng.randrange(0, 40 * 86400),
                                              microseconds=rng.randrange(1000000)),
                          datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
            grp = rng.choices(["backlog", "unstarted", "started", "completed", "cancelled"],
                              [15, 30, 30, 18, 7])[0]
            st = next(s for s in states if s["group"] == grp)
            has_target = rng.random() < 0.8
            target = start = None
            if has_target:
                td = date(2026, 11, 1) + timedelta(days=rng.randrange(0, 92))
                target = td.isoformat()
                if rng.random() < 0.5:
                    start = (td - timedelta(days=rng.randrange(0, 15))).isoformat()
            elif rng.random() < 0.15:
                start = (date(2026, 11, 15) + timedelta(days=rng.randrange(0, 45))).isoformat()
            iss = {
                "id": rid(), "sequence_id": k + 1,
                "name": "%s %s%s" % (rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(QUALS)),
                "description_html": rng.choice(DESCS),
                "priority": rng.choices(PRIORITIES, [5, 15, 30, 25, 25])[0],
                "start_date": start, "target_date": target, "state": st["id"],
                "labels": [x["id"] for x in rng.sample(labels, rng.choice([0, 0, 1, 1, 1, 2, 3]))],
                "assignees": [u["id"] for u in rng.sample(users, rng.choice([0, 1, 1, 1, 2]))],
                "created_at": fmt_dt(created), "updated_at": fmt_dt(updated),
                "created_by": rng.choice(users)["id"],
            }
            if grp == "completed":
                iss["completed_at"] = fmt_dt(updated)
            if k >= per_project:  # hidden extras: deleted, archived, draft, triage
                kind = (k - per_project) % 4
                if kind == 0:
                    iss["deleted_at"] = fmt_dt(updated)
                elif kind == 1:
                    iss["archived_at"] = updated.date().isoformat()
                elif kind == 2:
                    iss["is_draft"] = True
                else:
                    iss["state"] = next(s for s in states if s["group"] == "triage")["id"]
                    iss.pop("completed_at", None)
            issues.append(iss)
        fx["projects"].append({
            "id": rid(), "identifier": ident, "name": pname,
            "description": "Synthetic project %s" % ident,
            "created_at": fmt_dt(pcreated), "states": states, "labels": labels, "issues": issues,
        })
    return fx


# --------------------------------------------------------------------------
# Rate limiting, faults, stats, logging
# --------------------------------------------------------------------------


class RateLimiter:
    """DRF SimpleRateThrottle-style sliding window per API key."""

    def __init__(self, per_minute):
        self.per_minute = per_minute
        self.duration = 60.0
        self.hist = {}
        self.lock = threading.Lock()

    def check(self, key, service=False):
        """None if limiting is off; else (allowed, remaining, reset, retry_after)."""
        with self.lock:
            n = self.per_minute * (5 if service else 1)
            if n <= 0:
                return None
            now = time.time()
            h = self.hist.setdefault(key, deque())
            while h and h[0] <= now - self.duration:
                h.popleft()
            if len(h) >= n:
                wait = self.duration - (now - h[0])
                return False, 0, 0, max(1, math.ceil(wait))
            h.append(now)
            return True, max(0, n - len(h)), int(now + self.duration), 0

    def reset(self):
        with self.lock:
            self.hist.clear()


class Faults:
    def __init__(self):
        self.rules = []
        self.lock = threading.Lock()
        self.next_id = 1

    def add(self, rules):
        if isinstance(rules, dict):
            rules = [rules]
        if not isinstance(rules, list):
            raise BadInput("faults: expected a list of rules")
        new = []
        for r in rules:
            if not isinstance(r, dict) or not isinstance(r.get("path_regex"), str):
                raise BadInput("fault rule needs a path_regex string")
            try:
                rx = re.compile(r["path_regex"])
            except re.error as e:
                raise BadInput("bad path_regex: %s" % e)
            st = r.get("status")
            if st is not None and (not isinstance(st, int) or not 100 <= st <= 599):
                raise BadInput("status must be an int 100..599")
            times = r.get("times", 1)
            if not isinstance(times, int):
                raise BadInput("times must be an int")
            page = r.get("page")
            if page is not None and not isinstance(page, int):
                raise BadInput("page must be an int")
            rule = {
                "id": None, "path_regex": r["path_regex"], "rx": rx, "page": page,
                "method": (r.get("method") or "").upper() or None,
                "status": st, "body": r.get("body"), "content_type": r.get("content_type"),
                "retry_after": r.get("retry_after"), "headers": r.get("headers") or {},
                "times": times, "delay_ms": int(r.get("delay_ms") or 0),
                "truncate": bool(r.get("truncate")), "hits": 0,
            }
            new.append(rule)
        with self.lock:
            for rule in new:
                rule["id"] = self.next_id
                self.next_id += 1
                self.rules.append(rule)
        return [self.public(x) for x in new]

    @staticmethod
    def public(r):
        return {k: v for k, v in r.items() if k != "rx"}

    def list(self):
        with self.lock:
            return [self.public(r) for r in self.rules]

    def clear(self):
        with self.lock:
            n = len(self.rules)
            self.rules = []
            return n

    def match(self, method, target, page):
        with self.lock:
            for r in self.rules:
                if r["times"] == 0:
                    continue
                if r["method"] and r["method"] != method:
                    continue
                if r["page"] is not None and r["page"] != page:
                    continue
                if not r["rx"].search(target):
                    continue
                if r["times"] > 0:
                    r["times"] -= 1
                r["hits"] += 1
                return dict(r)
        return None


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            self.total = 0
            self.by_kind = {}
            self.by_status = {}
            self.faulted = 0
            self.rate_limited = 0
            self.webhooks_sent = 0
            self.recent = deque(maxlen=5000)

    def record(self, kind, method, target, status, faulted, api_key_sent):
        with self.lock:
            self.total += 1
            k = self.by_kind.setdefault(kind, {"total": 0})
            k["total"] += 1
            k[str(status)] = k.get(str(status), 0) + 1
            self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1
            if faulted:
                self.faulted += 1
            if status == 429 and not faulted:
                self.rate_limited += 1
            self.recent.append({"t": round(time.time(), 6), "method": method, "path": target,
                                "kind": kind, "status": status, "faulted": faulted,
                                "api_key": api_key_sent})

    def snapshot(self, recent=True):
        with self.lock:
            d = {"total": self.total, "by_kind": json.loads(json.dumps(self.by_kind)),
                 "by_status": dict(self.by_status), "faulted": self.faulted,
                 "rate_limited": self.rate_limited, "webhooks_sent": self.webhooks_sent}
            if recent:
                d["recent"] = list(self.recent)
            return d


class Log:
    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8") if path else None
        self.lock = threading.Lock()

    def line(self, s):
        if not self.f:
            return
        with self.lock:
            try:
                self.f.write(s + "\n")
                self.f.flush()
            except Exception:
                pass


# --------------------------------------------------------------------------
# Webhook building and sending
# --------------------------------------------------------------------------


class Sim:
    def __init__(self, store, tz, rate, log, tz_name):
        self.store = store
        self.tz = tz
        self.tz_name = tz_name
        self.rate = RateLimiter(rate)
        self.faults = Faults()
        self.stats = Stats()
        self.log = log

    def build_webhook(self, req):
        """Returns (payload_dict, event, extra) or raises BadInput / KeyError.
        extra = {"dropped": reason} when Plane would drop the delivery."""
        st = self.store
        event = req.get("event", "issue")
        action = req.get("action", "updated")
        if action not in ("created", "updated", "deleted"):
            raise BadInput("action must be created, updated or deleted")
        actor = req.get("actor")
        with st.lock:
            actor = st.resolve_user(actor) if actor else st.api_user
            actor_obj = {"id": actor, "display_name": st.users[actor]["display_name"]}
            field = req.get("field")
            old = req.get("old_value")
            new = req.get("new_value")
            if event == "issue":
                iid = req.get("issue_id")
                iss = st.issues.get(iid)
                if iss is None:
                    raise KeyError("unknown issue %r" % (iid,))
                if iss["deleted_at"] is not None and not req.get("force"):
                    return None, event, {"dropped": "issue is deleted: Plane drops the delivery"}
                data = st.issue_webhook_data(iss)
                if action == "updated" and field:
                    last = st.last_change(iid, field)
                    if "old_value" not in req:
                        old = last["old_raw"] if last else None
                    if "new_value" not in req:
                        new = last["new_raw"] if last else iss.get(field)
                    old = fmt_dt(old) if isinstance(old, datetime) else old
                    new = fmt_dt(new) if isinstance(new, datetime) else new
            elif event == "project":
                pid = req.get("project_id")
                if action == "deleted":
                    if not pid:
                        raise BadInput("project_id is required")
                    data = {"id": pid}
                else:
                    if pid not in st.projects:
                        raise KeyError("unknown project %r" % (pid,))
                    data = st.project_full(pid, UTC)
            else:
                raise BadInput("event must be issue or project")
            payload = {
                "event": event, "action": action,
                "webhook_id": req.get("webhook_id") or st.webhook["id"],
                "workspace_id": st.ws["id"], "data": data,
                "activity": {"field": field, "new_value": new, "old_value": old,
                             "actor": actor_obj, "old_identifier": None, "new_identifier": None},
            }
            secret = req["secret"] if "secret" in req else st.webhook["secret"]
        return payload, event, {"secret": secret}

    @staticmethod
    def sign(secret, body):
        return hmac.new(secret.encode("utf-8"), body.encode("utf-8"), hashlib.sha256).hexdigest()

    def webhook_headers(self, event, body, secret, delivery=None, prefix="", bad=False):
        h = {
            "Content-Type": "application/json",
            "User-Agent": "Autopilot",
            "X-Plane-Delivery": delivery or str(uuid.uuid4()),
            "X-Plane-Event": event,
        }
        sig = None
        if secret:
            sig = self.sign(secret, body)
            if bad:
                sig = ("0" if sig[0] != "0" else "1") + sig[1:]
            h["X-Plane-Signature"] = prefix + sig
        return h, sig

    def send_webhook(self, req):
        payload, event, extra = self.build_webhook(req)
        if payload is None:
            return {"status": None, "dropped": extra["dropped"]}
        url = req.get("url")
        if not isinstance(url, str) or not url:
            raise BadInput("url is required")
        body = json.dumps(payload)
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise BadInput("url must be http(s)://host[:port]/path")
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        timeout = float(req.get("timeout", 30))
        retries = int(req.get("retries", 0))
        attempts = []
        result = None
        for attempt in range(retries + 1):
            delivery = req.get("delivery") if attempt == 0 and req.get("delivery") else None
            headers, sig = self.webhook_headers(event, body, extra["secret"], delivery,
                                                req.get("signature_prefix", ""),
                                                bool(req.get("bad_signature")))
            send_h = {"User-Agent": headers.pop("User-Agent"), "Accept-Encoding": "gzip, deflate",
                      "Accept": "*/*", "Connection": "keep-alive"}
            send_h.update(headers)
            try:
                if u.scheme == "https":
                    ctx = ssl._create_unverified_context() if req.get("insecure") else ssl.create_default_context()
                    conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=timeout, context=ctx)
                else:
                    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
                try:
                    conn.request("POST", path, body=body.encode("utf-8"), headers=send_h)
                    resp = conn.getresponse()
                    rbody = resp.read()
                    result = {"status": resp.status,
                              "body": rbody.decode("utf-8", "replace"),
                              "response_headers": dict(resp.getheaders())}
                finally:
                    conn.close()
            except (OSError, http.client.HTTPException) as e:
                result = {"status": None, "error": "%s: %s" % (type(e).__name__, e)}
            with self.stats.lock:
                self.stats.webhooks_sent += 1
            attempts.append({"delivery": headers["X-Plane-Delivery"], "status": result["status"],
                             "error": result.get("error")})
            if result["status"] is not None:
                break
            if attempt < retries:
                time.sleep(float(req.get("retry_delay_ms", 0)) / 1000.0)
        send_h["Content-Length"] = str(len(body.encode("utf-8")))
        result.update({"delivery": attempts[-1]["delivery"], "signature": sig,
                       "payload": body, "headers": send_h, "attempts": attempts})
        return result


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

WS = r"^/api/v1/workspaces/(?P<slug>[^/]+)"
PRJ = WS + r"/projects/(?P<pid>" + UUID_RE + r")"
ROUTES = [
    (re.compile(r"^/api/v1/users/me/$"), "me"),
    (re.compile(WS + r"/projects/$"), "projects"),
    (re.compile(PRJ + r"/$"), "project"),
    (re.compile(PRJ + r"/(?:issues|work-items)/$"), "issues"),
    (re.compile(PRJ + r"/(?:issues|work-items)/(?P<iid>" + UUID_RE + r")/$"), "issue"),
    (re.compile(PRJ + r"/(?:issues|work-items)/(?P<iid>" + UUID_RE + r")/activities/$"), "issue_activities"),
    (re.compile(PRJ + r"/states/$"), "states"),
    (re.compile(PRJ + r"/labels/$"), "labels"),
    (re.compile(PRJ + r"/members/$"), "project_members"),
    (re.compile(WS + r"/members/$"), "workspace_members"),
    (re.compile(WS + r"/(?:issues|work-items)/(?P<ident>[^/]+)-(?P<seq>[^/]+)/$"), "issue_by_key"),
]
LIST_KINDS = {"projects", "issues", "issue_activities", "states", "labels"}

ISSUE_ORDER = {"created_at", "updated_at", "sequence_id", "name", "priority", "target_date",
               "start_date", "sort_order", "id", "completed_at", "state__name", "state__group"}


def match_route(path):
    for rx, kind in ROUTES:
        m = rx.match(path)
        if m:
            return kind, m.groupdict()
    return None, None


class Reply(Exception):
    """Raised by handlers to send a response."""

    def __init__(self, status, body, headers=None, ctype="application/json"):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.ctype = ctype


def sort_issues(st, items, order):
    desc = order.startswith("-")
    key = order[1:] if desc else order
    if key not in ISSUE_ORDER:
        raise Reply(500, BODY_UNEXPECTED)
    items = sorted(items, key=lambda i: i["id"])
    if key == "priority":
        # Plane: "priority" -> urgent first, "-priority" -> none first.
        rank = {p: n for n, p in enumerate(PRIORITIES)}
        return sorted(items, key=lambda i: rank.get(i["priority"], 9), reverse=desc)
    if key == "state__group":
        rank = {g: n for n, g in enumerate(STATE_GROUPS)}
        return sorted(items, key=lambda i: rank.get(st.states[i["state"]]["group"], 9), reverse=desc)
    if key == "state__name":
        getv = lambda i: st.states[i["state"]]["name"]  # noqa: E731
    else:
        getv = lambda i: i[key]  # noqa: E731
    nonnull = [i for i in items if getv(i) is not None]
    nulls = [i for i in items if getv(i) is None]
    nonnull.sort(key=getv, reverse=desc)
    # PostgreSQL: NULLs last ascending, first descending.
    return nulls + nonnull if desc else nonnull + nulls


def paginate(items, q, serialize):
    raw = qget(q, "per_page")
    if raw is None:
        per_page = DEFAULT_PER_PAGE
    else:
        try:
            per_page = int(raw)
        except ValueError:
            raise Reply(400, BODY_PER_PAGE_BAD)
        if per_page > MAX_PER_PAGE:
            raise Reply(400, BODY_PER_PAGE_MAX)
        if per_page <= 0:
            raise Reply(400, BODY_PER_PAGE_BAD)
    page = 0
    craw = qget(q, "cursor")
    if craw is not None:
        c = parse_cursor(craw)
        if c is None:
            raise Reply(400, BODY_BAD_CURSOR)
        page = c[1]
        if page < 0:
            raise Reply(400, BODY_BAD_OFFSET)
    offset = page * per_page
    total = len(items)
    chunk = items[offset:offset + per_page]
    return {
        "grouped_by": None, "sub_grouped_by": None, "total_count": total,
        "next_cursor": "%d:%d:0" % (per_page, page + 1),
        "prev_cursor": "%d:%d:1" % (per_page, page - 1),
        "next_page_results": total > offset + per_page,
        "prev_page_results": page > 0,
        "count": len(chunk), "total_pages": math.ceil(total / per_page),
        "total_results": total, "extra_stats": None,
        "results": [serialize(x) for x in chunk],
    }


def filter_fields(d, fields):
    if not fields:
        return d
    return {k: v for k, v in d.items() if k in fields}


def csv_param(q, name):
    v = qget(q, name, "")
    out = [x for x in v.split(",") if x]
    return out or None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "plane-sim/1.0"
    timeout = 300  # drop idle keep-alive connections after 5 minutes
    sim = None  # set by main

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # silence http.server's stderr log
        pass

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    # ---- plumbing ------------------------------------------------------
    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            data = b""
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                try:
                    n = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise Reply(400, {"error": "bad chunked encoding"})
                if n == 0:
                    while True:
                        t = self.rfile.readline(65537)
                        if not t or t in (b"\r\n", b"\n"):
                            break
                    break
                if len(data) + n > 16 * 1024 * 1024:
                    self.close_connection = True
                    raise Reply(413, {"error": "body too large"})
                data += self.rfile.read(n)
                self.rfile.readline(65537)
            return data
        cl = self.headers.get("Content-Length")
        if not cl:
            return b""
        try:
            n = int(cl)
        except ValueError:
            self.close_connection = True
            raise Reply(400, {"error": "bad Content-Length"})
        if n < 0 or n > 16 * 1024 * 1024:
            self.close_connection = True
            raise Reply(413, {"error": "body too large"})
        return self.rfile.read(n)

    def send(self, status, body, ctype="application/json", headers=None, truncate=False,
             rest=True):
        if isinstance(body, (dict, list)):
            body = json_rest(body) if rest else json_ctl(body)
        elif isinstance(body, str):
            body = body.encode("utf-8")
        elif body is None:
            body = b""
        self.send_response(status)
        if status not in (204, 304):
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        sent = body
        declared = len(body)
        if truncate:
            declared = max(len(body), 64) + 1
            sent = body[:len(body) // 2]
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(sent)
        self.wfile.flush()
        self.status_sent = status
        if truncate:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def dispatch(self, method):
        sim = self.sim
        t0 = time.monotonic()
        self.status_sent = None
        kind = "unknown"
        target = self.path
        if target.startswith("http://") or target.startswith("https://"):
            sp = urlsplit(target)
            target = sp.path + ("?" + sp.query if sp.query else "")
        sp = urlsplit(target)
        path = unquote(sp.path)
        query = sp.query
        faulted = False
        is_sim = path == "/_sim" or path.startswith("/_sim/")
        key_sent = bool(self.headers.get("X-Api-Key"))
        try:
            try:
                body = self.read_body()
                if is_sim:
                    kind = "sim"
                    self.handle_sim(method, path, query, body)
                else:
                    kind, faulted = self.handle_api(method, path, query, target)
            except Reply as r:
                self.send(r.status, r.body, r.ctype, r.headers, rest=not is_sim)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout):
            self.close_connection = True
        except Exception:
            traceback.print_exc(file=sys.stderr)
            if self.status_sent is None:
                try:
                    self.send(500, BODY_UNEXPECTED)
                except Exception:
                    self.close_connection = True
            else:
                self.close_connection = True
        finally:
            status = self.status_sent if self.status_sent is not None else 0
            if not is_sim:
                sim.stats.record(kind, method, target, status, faulted, key_sent)
            sim.log.line("%s %s %s %s %d %s %.1fms%s" % (
                datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), self.client_address[0],
                method, target, status, kind, (time.monotonic() - t0) * 1000,
                " FAULT" if faulted else ""))

    # ---- REST API ------------------------------------------------------
    def handle_api(self, method, path, query, target):
        sim = self.sim
        st = sim.store
        q = parse_qs(query, keep_blank_values=True)
        kind, args = match_route(path)
        # Faults come first: they stand for a proxy or a crash in front of Plane.
        page = 0
        craw = qget(q, "cursor")
        if craw is not None:
            c = parse_cursor(craw)
            page = c[1] if c else None
        rule = sim.faults.match(method, target, page)
        truncate = False
        if rule:
            if rule["delay_ms"] > 0:
                time.sleep(rule["delay_ms"] / 1000.0)
            truncate = rule["truncate"]
            if rule["status"] is not None:
                self.send_fault(rule)
                return kind or "unknown", True
        try:
            self.api_inner(method, path, q, kind, args)
        except Reply as r:
            self.send(r.status, r.body, r.ctype, r.headers, truncate=truncate)
        if kind is None:
            kind = "redirect" if self.status_sent == 301 else "no_route"
        return kind, bool(rule)

    def send_fault(self, rule):
        status = rule["status"]
        body = rule["body"]
        ctype = rule["content_type"]
        headers = dict(rule["headers"])
        if body is None:
            if status == 429:
                body = BODY_RATE
            elif status == 500:
                body = BODY_UNEXPECTED
            elif status in (502, 503, 504):
                text = {502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable",
                        504: "504 Gateway Time-out"}[status]
                body = ("<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s"
                        "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                        % (text, text))
                ctype = ctype or "text/html"
            else:
                body = {"detail": "simulated fault"}
        if rule["retry_after"] is not None:
            headers["Retry-After"] = rule["retry_after"]
        elif status == 429:
            headers["Retry-After"] = 1
        if ctype is None:
            ctype = "application/json" if isinstance(body, (dict, list)) else "text/plain"
        self.send(status, body, ctype, headers, truncate=rule["truncate"])

    def api_inner(self, method, path, q, kind, args):
        sim = self.sim
        st = sim.store
        if kind is None:
            # Django's APPEND_SLASH: redirect only if the slashed URL exists.
            if not path.endswith("/") and match_route(path + "/")[0] is not None:
                loc = self.path
                sp = urlsplit(loc)
                loc = sp.path + "/" + ("?" + sp.query if sp.query else "")
                raise Reply(301, b"", {"Location": loc}, ctype="text/html; charset=utf-8")
            raise Reply(404, HTML_404, ctype="text/html; charset=utf-8")
        dj = {"Vary": "Accept, Cookie", "Allow": "GET, HEAD, OPTIONS",
              "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
              "Referrer-Policy": "same-origin", "Cross-Origin-Opener-Policy": "same-origin"}
        key = self.headers.get("X-Api-Key")
        if not key:
            raise Reply(401, BODY_NO_CREDS, dj)
        with st.lock:
            tok = st.tokens.get(key)
            if tok is None:
                raise Reply(403, BODY_BAD_TOKEN, dj)
            user = tok["user"]
            if "slug" in args and args["slug"] != st.ws["slug"]:
                raise Reply(403, BODY_NO_PERM, dj)
            proj = None
            if "pid" in args:
                proj = st.projects.get(args["pid"])
                if not st.project_alive(proj) or user not in proj["members"]:
                    raise Reply(403, BODY_NO_PERM, dj)
        rl = sim.rate.check(key, tok["service"])
        if rl is not None:
            allowed, remaining, reset, retry = rl
            if not allowed:
                raise Reply(429, BODY_RATE, {"Retry-After": retry})
            dj["X-RateLimit-Remaining"] = remaining
            dj["X-RateLimit-Reset"] = reset
        if method not in ("GET", "HEAD"):
            raise Reply(405, {"detail": 'Method "%s" not allowed.' % method}, dj)
        try:
            status, body = self.api_get(kind, args, q, user, proj)
        except Reply as r:
            r.headers = dict(dj, **r.headers)
            raise
        raise Reply(status, body, dj)

    def api_get(self, kind, args, q, user, proj):
        sim = self.sim
        st = sim.store
        tz = sim.tz
        fields = csv_param(q, "fields")
        expand = csv_param(q, "expand") or ()
        with st.lock:
            if kind == "me":
                return 200, st.user_lite(user)
            if kind == "workspace_members":
                return 200, [dict(st.user_lite(u), role=st.users[u]["role"]) for u in st.users]
            if kind == "project_members":
                return 200, [st.user_lite(u) for u in proj["members"] if u in st.users]
            if kind == "projects":
                ps = [p for p in st.projects.values()
                      if p["deleted_at"] is None and p["archived_at"] is None
                      and (user in p["members"] or p["network"] == 2)]
                ps.sort(key=lambda p: p["created_at"], reverse=True)
                return 200, paginate(ps, q, lambda p: filter_fields(
                    st.project_full(p["id"], tz, user), fields))
            if kind == "project":
                return 200, filter_fields(st.project_full(proj["id"], tz, user), fields)
            if kind == "states":
                ss = [st.states[s] for s in proj["states"] if st.states[s]["group"] != "triage"]
                ss.sort(key=lambda s: s["sequence"])
                return 200, paginate(ss, q, lambda s: filter_fields(st.state_full(s["id"], tz), fields))
            if kind == "labels":
                ls = [st.labels[x] for x in proj["labels"]]
                ls.sort(key=lambda x: x["created_at"], reverse=True)
                return 200, paginate(ls, q, lambda x: filter_fields(st.label_full(x["id"], tz), fields))
            if kind == "issues":
                items = [st.issues[i] for i in st.by_project[proj["id"]]]
                items = [i for i in items if st.issue_visible(i)]
                items = sort_issues(st, items, qget(q, "order_by", "-created_at"))
                return 200, paginate(items, q, lambda i: filter_fields(
                    st.issue_rest(i, tz, expand), fields))
            if kind == "issue":
                iss = st.issues.get(args["iid"])
                if iss is None or iss["project"] != proj["id"] or not st.issue_visible(iss):
                    raise Reply(404, BODY_NOT_FOUND)
                return 200, filter_fields(st.issue_rest(iss, tz, expand), fields)
            if kind == "issue_activities":
                acts = [a for a in st.activities.get(args["iid"], []) if a["project"] == proj["id"]]
                acts = sorted(acts, key=lambda a: a["created_at"], reverse=True)
                return 200, paginate(acts, q, lambda a: filter_fields(st.activity_rest(a, tz), fields))
            if kind == "issue_by_key":
                seq = args["seq"]
                if not re.fullmatch(r"[0-9]+", seq):
                    raise Reply(500, BODY_UNEXPECTED)  # Django: ValueError on an int lookup
                seq = int(seq)
                for p in st.projects.values():
                    if p["identifier"] == args["ident"] and p["deleted_at"] is None:
                        i = st.seq_index[p["id"]].get(seq)
                        iss = st.issues.get(i)
                        if iss is not None and st.issue_visible(iss):
                            return 200, filter_fields(st.issue_rest(iss, tz, expand), fields)
                raise Reply(404, BODY_NOT_FOUND)
        raise Reply(500, BODY_UNEXPECTED)

    # ---- control API (/_sim/) -----------------------------------------
    def handle_sim(self, method, path, query, body):
        sim = self.sim
        st = sim.store
        q = parse_qs(query, keep_blank_values=True)
        p = path.rstrip("/") or "/"
        data = None
        if body.strip():
            try:
                data = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise Reply(400, {"error": "invalid JSON body: %s" % e})

        def need_obj():
            if not isinstance(data, dict):
                raise Reply(400, {"error": "expected a JSON object body"})
            return data

        def ok(obj, status=200):
            raise Reply(status, obj)

        try:
            if p == "/_sim/health" and method == "GET":
                ok({"ok": True, "slug": st.ws["slug"], "tz": sim.tz_name})
            if p == "/_sim/stats" and method == "GET":
                ok(sim.stats.snapshot(qget(q, "recent", "1") not in ("0", "false")))
            if p == "/_sim/stats/reset" and method == "POST":
                sim.stats.reset()
                ok({"ok": True})
            if p == "/_sim/state" and method == "GET":
                with st.lock:
                    ok(st.dump())
            if p == "/_sim/summary" and method == "GET":
                with st.lock:
                    out = []
                    for pid, pr in st.projects.items():
                        iss = [st.issues[i] for i in st.by_project[pid]]
                        vis = [i for i in iss if st.issue_visible(i)]
                        out.append({"id": pid, "identifier": pr["identifier"], "name": pr["name"],
                                    "archived": pr["archived_at"] is not None,
                                    "deleted": pr["deleted_at"] is not None,
                                    "issues_total": len(iss), "issues_visible": len(vis),
                                    "visible_with_target_date": sum(1 for i in vis if i["target_date"])})
                    ok({"workspace": st.ws, "api_token": st.api_token, "projects": out})
            if p == "/_sim/reset" and method == "POST":
                with st.lock:
                    st.load(st.fixture)
                sim.faults.clear()
                sim.rate.reset()
                sim.stats.reset()
                ok({"ok": True})
            if p == "/_sim/tz" and method == "POST":
                d = need_obj()
                try:
                    sim.tz = parse_tz(d.get("tz"))
                except ValueError as e:
                    raise BadInput(str(e))
                sim.tz_name = d.get("tz") or "Z"
                ok({"tz": sim.tz_name})
            if p == "/_sim/rate_limit":
                if method == "GET":
                    ok({"per_minute": sim.rate.per_minute})
                if method == "POST":
                    d = need_obj()
                    n = d.get("per_minute", sim.rate.per_minute)
                    if not isinstance(n, int) or n < 0:
                        raise BadInput("per_minute must be an int >= 0")
                    sim.rate.per_minute = n
                    if d.get("reset", True):
                        sim.rate.reset()
                    ok({"per_minute": n})
            if p == "/_sim/faults":
                if method == "GET":
                    ok({"faults": sim.faults.list()})
                if method == "POST":
                    ok({"faults": sim.faults.add(data)})
                if method == "DELETE":
                    ok({"cleared": sim.faults.clear()})
            if p == "/_sim/webhook" and method == "POST":
                try:
                    ok(sim.send_webhook(need_obj()))
                except KeyError as e:
                    raise Reply(404, {"error": str(e.args[0])})
            if p == "/_sim/webhook_payload" and method == "GET":
                req = {k: v[-1] for k, v in q.items()}
                for k in ("old_value", "new_value"):
                    if k in req:
                        try:
                            req[k] = json.loads(req[k])
                        except ValueError:
                            pass
                try:
                    payload, event, extra = sim.build_webhook(req)
                except KeyError as e:
                    raise Reply(404, {"error": str(e.args[0])})
                if payload is None:
                    ok({"body": None, "headers": {}, "dropped": extra["dropped"]})
                body_s = json.dumps(payload)
                headers, sig = sim.webhook_headers(event, body_s, extra["secret"], req.get("delivery"),
                                                   req.get("signature_prefix", ""))
                ok({"body": body_s, "headers": headers, "signature": sig})
            # issues
            if p == "/_sim/issues":
                if method == "GET":
                    with st.lock:
                        pid = qget(q, "project_id")
                        hidden = qget(q, "include_hidden", "0") not in ("0", "false")
                        out = [st.issue_rest(i, UTC) for i in st.issues.values()
                               if (pid is None or i["project"] == pid)
                               and (hidden or st.issue_visible(i))]
                    ok(out)
                if method == "POST":
                    d = need_obj()
                    with st.lock:
                        pid = d.get("project_id") or d.get("project")
                        iss = st.create_issue(pid, d)
                        res = st.issue_rest(iss, UTC)
                    wh = d.get("_webhook")
                    if isinstance(wh, dict):
                        r = sim.send_webhook(dict(wh, event="issue", action="created", issue_id=iss["id"]))
                        ok({"issue": res, "webhooks": [r]})
                    ok(res)
            m = re.fullmatch(r"/_sim/issues/([^/]+)(/archive|/unarchive)?", p)
            if m:
                iid, sub = m.group(1), m.group(2)
                with st.lock:
                    iss = st.issues.get(iid)
                    if iss is None:
                        raise Reply(404, {"error": "unknown issue %s" % iid})
                    if sub is None and method == "GET":
                        ok(dict(st.issue_rest(iss, UTC), visible=st.issue_visible(iss)))
                    if sub is None and method == "DELETE":
                        now = now_utc()
                        iss["deleted_at"] = now
                        st.add_activity(iss, "deleted", None, None, None, st.api_user, now,
                                        comment="deleted the work item")
                        ok(st.issue_rest(iss, UTC))
                    if sub == "/archive" and method == "POST":
                        now = now_utc()
                        old = iss["archived_at"]
                        iss["archived_at"] = now.date().isoformat()
                        st.add_activity(iss, "updated", "archived_at", old, iss["archived_at"],
                                        st.api_user, now)
                        ok(st.issue_rest(iss, UTC))
                    if sub == "/unarchive" and method == "POST":
                        now = now_utc()
                        old = iss["archived_at"]
                        iss["archived_at"] = None
                        st.add_activity(iss, "updated", "archived_at", old, None, st.api_user, now)
                        ok(st.issue_rest(iss, UTC))
                    if sub is None and method == "PATCH":
                        d = need_obj()
                        iss, changed = st.update_issue(iid, d)
                        res = st.issue_rest(iss, UTC)
                wh = (data or {}).get("_webhook") if isinstance(data, dict) else None
                if sub is None and method == "PATCH":
                    if isinstance(wh, dict):
                        results = [sim.send_webhook(dict(wh, event="issue", action="updated",
                                                         issue_id=iid, field=f)) for f in changed]
                        ok({"issue": res, "changed_fields": changed, "webhooks": results})
                    ok(res)
            # projects
            if p == "/_sim/projects":
                if method == "GET":
                    with st.lock:
                        ok([dict(st.project_full(x, UTC), states=[st.state_full(s, UTC) for s in pr["states"]],
                                 labels=[st.label_full(lb, UTC) for lb in pr["labels"]],
                                 members=list(pr["members"]))
                            for x, pr in st.projects.items()])
                if method == "POST":
                    d = need_obj()
                    with st.lock:
                        pr = st.create_project(d)
                        ok(dict(st.project_full(pr["id"], UTC),
                                states=[st.state_full(s, UTC) for s in pr["states"]],
                                labels=[st.label_full(lb, UTC) for lb in pr["labels"]],
                                members=list(pr["members"])))
            m = re.fullmatch(r"/_sim/projects/([^/]+)(/states|/labels)?", p)
            if m:
                pid, sub = m.group(1), m.group(2)
                with st.lock:
                    pr = st.projects.get(pid)
                    if pr is None:
                        raise Reply(404, {"error": "unknown project %s" % pid})
                    if sub == "/states" and method == "POST":
                        ok(st.state_full(st.create_state(pid, need_obj())["id"], UTC))
                    if sub == "/labels" and method == "POST":
                        ok(st.label_full(st.create_label(pid, need_obj())["id"], UTC))
                    if sub is None and method == "DELETE":
                        pr["deleted_at"] = now_utc()
                        ok(st.project_full(pid, UTC))
                    if sub is None and method == "PATCH":
                        d = need_obj()
                        for k, v in d.items():
                            if k not in PROJECT_FIELDS:
                                raise BadInput("unknown project field %r" % k)
                        for k, v in d.items():
                            if k in ("archived_at", "deleted_at", "created_at", "updated_at"):
                                pr[k] = parse_dt(v, k)
                            elif k == "members":
                                pr[k] = [st.resolve_user(x) for x in v]
                            elif k == "identifier":
                                if not isinstance(v, str) or not v:
                                    raise BadInput("identifier must be a non-empty string")
                                pr[k] = v
                            else:
                                pr[k] = v
                        if "updated_at" not in d:
                            pr["updated_at"] = now_utc()
                        ok(st.project_full(pid, UTC))
            m = re.fullmatch(r"/_sim/(states|labels)/([^/]+)", p)
            if m and method == "PATCH":
                coll = st.states if m.group(1) == "states" else st.labels
                d = need_obj()
                with st.lock:
                    obj = coll.get(m.group(2))
                    if obj is None:
                        raise Reply(404, {"error": "unknown %s %s" % (m.group(1)[:-1], m.group(2))})
                    allowed = {"name", "color", "description"} | ({"group", "default", "sequence"}
                                                                  if m.group(1) == "states" else set())
                    for k in d:
                        if k not in allowed:
                            raise BadInput("unknown field %r" % k)
                    if "group" in d and d["group"] not in STATE_GROUPS:
                        raise BadInput("bad group")
                    obj.update(d)
                    obj["updated_at"] = now_utc()
                    ok(st.state_full(obj["id"], UTC) if m.group(1) == "states" else st.label_full(obj["id"], UTC))
            m = re.fullmatch(r"/_sim/users(?:/([^/]+))?", p)
            if m:
                with st.lock:
                    if m.group(1) is None and method == "GET":
                        ok([dict(u) for u in st.users.values()])
                    if m.group(1) is None and method == "POST":
                        d = need_obj()
                        if d.get("id") in st.users:
                            raise BadInput("user id already used")
                        uid = st._add_user(d, len(st.users))
                        for pid in d.get("projects") or []:
                            st.project_or_bad(pid)["members"].append(uid)
                        ok(dict(st.users[uid]))
                    if m.group(1) is not None and method == "PATCH":
                        u = st.users.get(m.group(1))
                        if u is None:
                            raise Reply(404, {"error": "unknown user"})
                        d = need_obj()
                        for k in d:
                            if k not in ("first_name", "last_name", "email", "display_name",
                                         "avatar", "avatar_url", "role"):
                                raise BadInput("unknown user field %r" % k)
                        u.update(d)
                        ok(dict(u))
            raise Reply(404, {"error": "no such control route: %s %s" % (method, path)})
        except BadInput as e:
            raise Reply(400, {"error": str(e)})
        except KeyError as e:
            raise Reply(404, {"error": "not found: %s" % (e.args[0] if e.args else "")})
        except (TypeError, ValueError) as e:
            raise Reply(400, {"error": "%s: %s" % (type(e).__name__, e)})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128


class Server6(Server):
    address_family = socket.AF_INET6


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description="Plane API simulator (see tests/sim/README.md)")
    ap.add_argument("--fixture", help="workspace fixture JSON (required unless --generate)")
    ap.add_argument("--generate", metavar="PROJECTS,ISSUES_PER_PROJECT",
                    help="build a deterministic synthetic workspace instead of reading a fixture")
    ap.add_argument("--seed", type=int, default=20261201, help="seed for --generate")
    ap.add_argument("--hidden-per-project", type=int, default=0,
                    help="with --generate: extra deleted/archived/draft/triage issues per project")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--port-file", help="write the port number here once listening")
    ap.add_argument("--token", help="API token (overrides the fixture's)")
    ap.add_argument("--slug", help="workspace slug (overrides the fixture's)")
    ap.add_argument("--rate-limit", type=int, default=60,
                    help="requests per minute per API key (0 = off), default 60")
    ap.add_argument("--tz", default="Z", help="API user's time zone: Z, +05:30, -08:00, Europe/Berlin")
    ap.add_argument("--log", help="append one line per request to this file")
    a = ap.parse_args(argv)

    try:
        tz = parse_tz(a.tz)
    except ValueError as e:
        ap.error(str(e))
    if a.host not in ("127.0.0.1", "localhost", "::1") and not a.host.startswith("127."):
        ap.error("--host must be a loopback address")
    if a.rate_limit < 0:
        ap.error("--rate-limit must be >= 0")
    try:
        if a.generate:
            if a.fixture:
                print("plane_sim: --generate given: ignoring --fixture %s" % a.fixture, file=sys.stderr)
            m = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*", a.generate)
            if not m:
                ap.error("--generate wants PROJECTS,ISSUES_PER_PROJECT")
            fixture = generate_workspace(int(m.group(1)), int(m.group(2)), a.seed, a.slug,
                                         a.hidden_per_project)
        elif a.fixture:
            with open(a.fixture, encoding="utf-8") as f:
                fixture = json.load(f)
        else:
            ap.error("--fixture FILE or --generate P,N is required")
        store = Store(fixture, a.token, a.slug)
    except (OSError, ValueError, BadInput) as e:
        print("plane_sim: cannot load workspace: %s" % e, file=sys.stderr)
        return 2

    Handler.sim = Sim(store, tz, a.rate_limit, Log(a.log), a.tz)
    host = "127.0.0.1" if a.host == "localhost" else a.host
    cls = Server6 if ":" in host else Server
    try:
        httpd = cls((host, a.port), Handler)
    except OSError as e:
        print("plane_sim: cannot listen on %s:%d: %s" % (host, a.port, e), file=sys.stderr)
        return 2
    port = httpd.server_address[1]

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    if a.port_file:
        tmp = "%s.tmp.%d" % (a.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.port_file)
    print("PORT=%d" % port, flush=True)
    while not stop.is_set():
        stop.wait(0.5)
    httpd.shutdown()
    httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
