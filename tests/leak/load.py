#!/usr/bin/python3
"""Mixed requests against the stack (nginx over TLS + the responder pool),
for tests/leak/leak.sh: the leak check under valgrind and the RSS curve.

  load.py --url https://127.0.0.1:PORT --cacert FILE --requests N
          --secret S --admin T --payloads FILE [--rss-pid PID]
          [--rss-every K] [--seed N] [--only KIND,...]

The mix (per 100 requests): 30 GET /health, 15 GET /api/v1/health,
10 GET /api/v1/status, 10 GET /api/v1/metrics, 10 signed webhooks (new
delivery ids), 5 repeated deliveries, 5 bad signatures, 5 signed invalid
JSON, 3 admin dead-letter lists, 3 unknown routes, 2 wrong methods, 2 HEAD.
Each connection is kept alive for 100 requests from its own 127.x address,
so nginx's per-address webhook limit (bursts of 50) never answers 429.
Prints the answers by status, and with --rss-pid the responder's VmRSS
every K requests ("rss REQUESTS KB").
"""
import argparse
import hashlib
import hmac
import http.client
import json
import random
import ssl
import sys
import time
import urllib.parse

MIX = ([("health", 30), ("api_health", 15), ("status", 10), ("metrics", 10),
        ("hook", 10), ("dup", 5), ("badsig", 5), ("badjson", 5),
        ("dead", 3), ("nope", 3), ("method", 2), ("head", 2)])


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--cacert", required=True)
    p.add_argument("--requests", type=int, default=10000)
    p.add_argument("--secret", required=True)
    p.add_argument("--admin", required=True)
    p.add_argument("--payloads", required=True)
    p.add_argument("--rss-pid", type=int, default=0)
    p.add_argument("--rss-every", type=int, default=10000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", default="",
                   help="comma-separated kinds of the mix to keep")
    a = p.parse_args()
    rnd = random.Random(a.seed)
    u = urllib.parse.urlsplit(a.url)
    ctx = ssl.create_default_context(cafile=a.cacert)
    with open(a.payloads) as f:
        payloads = [line.rstrip("\n") for line in f if line.strip()]
    only = set(a.only.split(",")) if a.only else None
    kinds = [k for k, w in MIX for _ in range(w) if not only or k in only]
    secret = a.secret.encode()
    counts = {}
    conn = None
    addr = 0
    delivered = []
    t0 = time.time()
    if a.rss_pid:
        print("rss 0 %d" % rss_kb(a.rss_pid), flush=True)
    for i in range(a.requests):
        if i % 100 == 0:
            if conn:
                conn.close()
            addr += 1
            src = "127.%d.%d.%d" % (1 + addr // 62500, (addr // 250) % 250 + 1,
                                     addr % 250 + 2)
            conn = http.client.HTTPSConnection(u.hostname, u.port,
                                               context=ctx, timeout=120,
                                               source_address=(src, 0))
        kind = rnd.choice(kinds)
        method, path, body, headers = "GET", "/health", None, {}
        if kind == "api_health":
            path = "/api/v1/health"
        elif kind == "status":
            path = "/api/v1/status"
        elif kind == "metrics":
            path = "/api/v1/metrics"
        elif kind in ("hook", "dup", "badsig", "badjson"):
            method, path = "POST", "/webhooks/plane"
            body = rnd.choice(payloads) if kind != "badjson" else \
                '{"event": "issue", "action": '
            sig = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
            if kind == "badsig":
                sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
            if kind == "dup" and delivered:
                delivery = rnd.choice(delivered)
            else:
                delivery = "load-%d-%d" % (a.seed, i)
                if kind == "hook":
                    delivered.append(delivery)
            headers = {"Content-Type": "application/json",
                       "X-Plane-Signature": sig,
                       "X-Plane-Delivery": delivery}
        elif kind == "dead":
            path = "/api/v1/dead-letters?limit=5"
            headers = {"Authorization": "Bearer " + a.admin}
        elif kind == "nope":
            path = "/api/v1/nope"
        elif kind == "method":
            method, path = "PUT", "/api/v1/health"
            body = "{}"
        elif kind == "head":
            method, path = "HEAD", "/api/v1/health"
        for attempt in range(3):
            try:
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPSConnection(
                    u.hostname, u.port, context=ctx, timeout=120,
                    source_address=(src, 0))
        else:
            counts["error"] = counts.get("error", 0) + 1
            continue
        key = "%s %d" % (kind, r.status)
        counts[key] = counts.get(key, 0) + 1
        if a.rss_pid and (i + 1) % a.rss_every == 0:
            print("rss %d %d" % (i + 1, rss_kb(a.rss_pid)), flush=True)
    if conn:
        conn.close()
    if a.rss_pid and a.requests % a.rss_every != 0:
        print("rss %d %d" % (a.requests, rss_kb(a.rss_pid)), flush=True)
    dt = time.time() - t0
    print("requests %d in %.1f s (%.0f/s)" % (a.requests, dt,
                                              a.requests / dt))
    for k in sorted(counts):
        print("answer %s: %d" % (k, counts[k]))
    bad = [k for k in counts if k == "error" or k.endswith(" 429") or
           k.split()[-1].startswith("5")]
    if bad:
        print("unexpected answers: %s" % ", ".join(bad), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
