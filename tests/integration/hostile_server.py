#!/usr/bin/python3
"""A hostile Plane or CalDAV server for tests/integration/test_hostile.c.

Either a recorder ("the other host" that credentials must never reach) or
a proxy in front of the real thing (the Plane simulator, Radicale) that
spoils one kind of answer, chosen by --mode.  Loopback only; every request
is logged as one JSON line (method, path, headers) to --log.

  hostile_server.py --mode MODE [--upstream http://127.0.0.1:P]
                    [--evil http://127.0.0.2:Q] --host 127.0.0.1
                    --port-file FILE --log FILE
"""
import argparse
import http.client
import http.server
import json
import os
import re
import socketserver
import sys
import threading
import urllib.parse

ARGS = None
LOCK = threading.Lock()
COUNT = {"n": 0}


def log(handler, body):
    rec = {"method": handler.command, "path": handler.path,
           "headers": {k: v for k, v in handler.headers.items()},
           "body": body[:200].decode("utf-8", "replace")}
    with LOCK:
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        COUNT["n"] += 1
        return COUNT["n"]


def envelope(results, more=False, cursor="1000:1:0"):
    return {"grouped_by": None, "sub_grouped_by": None,
            "total_count": len(results), "next_cursor": cursor,
            "prev_cursor": "1000:-1:1", "next_page_results": more,
            "prev_page_results": False, "count": len(results),
            "total_pages": 1, "total_results": len(results),
            "extra_stats": None, "results": results}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, ctype="application/json", headers=None,
             length=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length",
                         str(len(body) if length is None else length))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def upstream(self, body):
        u = urllib.parse.urlsplit(ARGS.upstream)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "expect")}
        conn.request(self.command, self.path, body=body or None,
                     headers=headers)
        r = conn.getresponse()
        data = r.read()
        hdrs = {k: v for k, v in r.getheaders()
                if k.lower() not in ("content-length", "connection",
                                     "transfer-encoding", "date", "server",
                                     "content-type")}
        ctype = r.getheader("Content-Type")
        conn.close()
        return r.status, hdrs, ctype, data

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        count = log(self, body)
        mode = ARGS.mode
        if mode == "record":
            if self.command == "PROPFIND":
                return self.send(207, '<?xml version="1.0"?><d:multistatus '
                                 'xmlns:d="DAV:"/>', "application/xml")
            return self.send(200, "{}")
        path = self.path
        is_plane = path.startswith("/api/v1/")
        issues = is_plane and "/issues/" in path
        projects = is_plane and re.search(r"/projects/(\?|$)", path)
        evil = ARGS.evil

        # ---- Plane ----------------------------------------------------
        if mode == "p_html" and projects:
            return self.send(200, "<html><body>Welcome to nginx</body></html>",
                             "text/html")
        if mode == "p_garbage" and projects:
            return self.send(200, bytes(range(256)) * 4,
                             "application/octet-stream")
        if mode == "p_deep" and projects:
            return self.send(200, "[" * 100000 + "]" * 100000)
        if mode == "p_results_object" and issues:
            doc = envelope([])
            doc["results"] = {"id": "x"}
            return self.send(200, json.dumps(doc))
        if mode == "p_no_more_flag" and issues:
            doc = envelope([])
            del doc["next_page_results"]
            return self.send(200, json.dumps(doc))
        if mode == "p_cursor_cycle" and issues:
            # Real results every time, and two cursors taking turns.
            self.path = re.sub(r"&cursor=[^&]*", "", self.path)
            st, h, ct, data = self.upstream(body)
            doc = json.loads(data)
            doc["next_page_results"] = True
            doc["next_cursor"] = "1000:%d:0" % (1 + count % 2)
            return self.send(200, json.dumps(doc))
        if mode == "p_huge_length" and projects:
            # Announces 200 MB, sends a few bytes, closes.
            return self.send(200, '{"results": [', length=200 * 1024 * 1024)
        if mode == "p_huge_stream" and projects:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b" " * (1024 * 1024)
            try:
                self.wfile.write(b"{\"results\": [")
                for _ in range(80):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        if mode == "p_redirect_other" and projects:
            return self.send(302, "", None, {"Location": evil + path})
        if mode == "p_redirect_same" and projects:
            return self.send(301, "", None, {"Location": path + "x/"})
        if mode in ("p_bad_items", "p_wrong_types", "p_traversal") and issues:
            st, h, ct, data = self.upstream(body)
            doc = json.loads(data)
            res = doc.get("results", [])
            if res and mode == "p_bad_items":
                res[0] = {"id": 5, "name": ["x"]}
                res.append("not an object")
                res.append(None)
            if res and mode == "p_wrong_types":
                res[0]["target_date"] = 20261204
                res[1 % len(res)]["name"] = {"html": "<b>x</b>"}
                res[2 % len(res)]["state"] = "completed"
                res[3 % len(res)]["sequence_id"] = int("9" * 400)
            if res and mode == "p_traversal":
                res[0]["id"] = "../../../../etc/passwd"
                res[1 % len(res)]["id"] = "a/b%2f..%2fc"
            return self.send(st, json.dumps(doc))

        # ---- CalDAV ---------------------------------------------------
        if mode == "c_wellknown_other" and path.startswith("/.well-known/"):
            return self.send(301, "", None, {"Location": evil + "/alice/"})
        if mode == "c_propfind_redirect_other" and self.command == "PROPFIND":
            return self.send(302, "", None, {"Location": evil + path})
        st, h, ct, data = self.upstream(body)
        text = data.decode("utf-8", "replace")
        if mode == "c_principal_other" and \
                "current-user-principal" in text:
            text = re.sub(r"(<[A-Za-z0-9]*:?current-user-principal>\s*<[A-Za-z0-9]*:?href>)[^<]*",
                          r"\g<1>" + evil + "/alice/", text)
            return self.send(st, text, ct, h)
        if mode == "c_home_other" and "calendar-home-set" in text:
            text = re.sub(r"(<[A-Za-z0-9]*:?calendar-home-set>\s*<[A-Za-z0-9]*:?href>)[^<]*",
                          r"\g<1>" + evil + "/alice/", text)
            return self.send(st, text, ct, h)
        if mode == "c_junk_207" and self.command == "PROPFIND":
            return self.send(207, "this is <not> xml &&& \x01\x02",
                             "application/xml")
        if mode == "c_html_200" and self.command == "PROPFIND":
            return self.send(200, "<html><body>It works!</body></html>",
                             "text/html")
        if mode == "c_xxe" and self.command == "PROPFIND" and \
                "current-user-principal" in text:
            doc = ('<?xml version="1.0"?>\n<!DOCTYPE d:multistatus [\n'
                   '<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
                   '<d:multistatus xmlns:d="DAV:"><d:response><d:href>/</d:href>'
                   '<d:propstat><d:prop><d:current-user-principal><d:href>'
                   '/&xxe;/</d:href></d:current-user-principal></d:prop>'
                   '<d:status>HTTP/1.1 200 OK</d:status></d:propstat>'
                   '</d:response></d:multistatus>')
            return self.send(207, doc, "application/xml")
        if mode == "c_laughs" and self.command == "PROPFIND":
            ents = ['<!ENTITY l0 "lol">']
            for i in range(1, 12):
                ents.append('<!ENTITY l%d "%s">' % (i, ("&l%d;" % (i - 1)) * 10))
            doc = ('<?xml version="1.0"?>\n<!DOCTYPE d:multistatus [\n' +
                   "\n".join(ents) + ']>\n<d:multistatus xmlns:d="DAV:">'
                   '<d:response><d:href>/&l11;/</d:href><d:propstat><d:prop>'
                   '<d:displayname>&l11;</d:displayname></d:prop><d:status>'
                   'HTTP/1.1 200 OK</d:status></d:propstat></d:response>'
                   '</d:multistatus>')
            return self.send(207, doc, "application/xml")
        if mode == "c_huge_etag_header" and self.command == "PUT":
            h["ETag"] = '"' + "e" * 100000 + '"'
            return self.send(st, data, ct, h)
        if mode == "c_huge_getetag" and self.command == "REPORT":
            text = re.sub(r"(<[A-Za-z0-9]*:?getetag>)[^<]*",
                          r'\g<1>"' + "g" * (1024 * 1024) + '"', text)
            return self.send(st, text, ct, h)
        if mode == "c_report_junk" and self.command == "REPORT":
            return self.send(207, '<?xml version="1.0"?><d:multistatus '
                             'xmlns:d="DAV:"><d:response><d:href>'
                             '</d:href><d:status>HTTP/1.1 999 What'
                             '</d:status></d:response><d:response>'
                             '<d:propstat><d:status>garbage</d:status>'
                             '</d:propstat></d:response><junk/>'
                             '</d:multistatus>', "application/xml")
        if mode == "c_report_foreign" and self.command == "REPORT":
            # Resources of ours, but on another host and outside the
            # calendar: never to be touched.
            m = re.search(r"plane-issue-[^<]*\.ics", text)
            name = m.group(0) if m else "plane-issue-x%40calplanebot.ics"
            extra = ('<d:response><d:href>%s/alice/%s</d:href><d:propstat>'
                     '<d:prop><d:getetag>"x"</d:getetag></d:prop><d:status>'
                     'HTTP/1.1 200 OK</d:status></d:propstat></d:response>'
                     '<d:response><d:href>/alice/../../etc/%s</d:href>'
                     '<d:propstat><d:prop><d:getetag>"y"</d:getetag></d:prop>'
                     '<d:status>HTTP/1.1 200 OK</d:status></d:propstat>'
                     '</d:response>' % (evil, name, name))
            text = re.sub(r"(<[A-Za-z0-9]*:?multistatus[^>]*>)",
                          lambda mm: mm.group(1).replace(
                              ">", ' xmlns:d="DAV:">', 1)
                          if 'xmlns:d=' not in mm.group(1) else mm.group(1),
                          text, count=1)
            text = re.sub(r"(</[A-Za-z0-9]*:?multistatus>)",
                          extra + r"\g<1>", text, count=1)
            return self.send(st, text, ct, h)
        if mode == "c_put_207" and self.command == "PUT":
            return self.send(207, '<?xml version="1.0"?><d:multistatus '
                             'xmlns:d="DAV:"><d:response><d:href>' + path +
                             '</d:href><d:status>HTTP/1.1 500 Oops</d:status>'
                             '</d:response></d:multistatus>',
                             "application/xml")
        return self.send(st, data, ct, h)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any
    do_PROPFIND = do_REPORT = do_MKCALENDAR = do_PROPPATCH = handle_any
    do_OPTIONS = do_PATCH = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--mode", required=True)
    p.add_argument("--upstream", default="")
    p.add_argument("--evil", default="http://127.0.0.2:9")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    ARGS = p.parse_args()
    if not (ARGS.host.startswith("127.") or ARGS.host == "::1"):
        sys.exit("loopback only")
    srv = Server((ARGS.host, 0), Handler)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
