#!/usr/bin/python3
"""CalPlaneBot's benchmarks (issue 7): `make bench`, `make bench-quick`.

Starts everything it needs on 127.0.0.1 (the Plane simulator, Radicale
through tests/servers/caldav-server.sh, nginx and the spawn-fcgi pool
through nginx/run.sh, a no-op libfcgi pool the same way), runs bounded
loads, stops everything it started (also on Ctrl-C and SIGTERM), and prints
one summary table.  Every result is set against a baseline measured in the
same run; docs/benchmarks.md explains each number and what limits it.

    bench.py --bindir BIN --tools DIR [--quick] [--only 1,2,...] [--keep]
             [--json FILE]

BIN holds calplanebot-sync and calplanebot-fcgi; DIR holds put_loop and
noop/calplanebot-fcgi (both built by tests/bench/bench.mk).

Only the standard library; run it with Debian's /usr/bin/python3.
"""

import argparse
import base64
import datetime
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIM = os.path.join(TOP, "tests", "sim", "plane_sim.py")
HARNESS = os.path.join(TOP, "tests", "servers", "caldav-server.sh")
RUN_SH = os.path.join(TOP, "nginx", "run.sh")
LUA = os.path.join(TOP, "tests", "bench", "wrk_bench.lua")
PYTHON = "/usr/bin/python3"

TOKEN = "plane_api_" + "b3c4" * 8           # the simulator's API token
SECRET = "plane_wh_" + "5e7a" * 8           # PLANE_WEBHOOK_SECRET of the pool
SLUG = "bench"

# Sizes: full (`make bench`, 11-18 minutes on 2 CPUs) and quick (about 3).
FULL = dict(projects=100, issues=100, wrk_seconds=10, wrk_rounds=2,
            wrk_threads=2, wrk_conns=8, webhook_bodies=1000, latency_n=300,
            mem_sizes=((5, 1000), (50, 1000)), responder_requests=100000,
            rate_limited=True, micro_n=3000)
QUICK = dict(projects=20, issues=50, wrk_seconds=3, wrk_rounds=1,
             wrk_threads=2, wrk_conns=8, webhook_bodies=300, latency_n=50,
             mem_sizes=((1, 1000), (5, 1000)), responder_requests=10000,
             rate_limited=True, micro_n=1000)

# RFC 4791 7.8, as shared/caldav.c asks for a calendar's ETags.
REPORT_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    '<D:prop><D:getetag/></D:prop>'
    '<C:filter><C:comp-filter name="VCALENDAR">'
    '<C:comp-filter name="VEVENT"/></C:comp-filter></C:filter>'
    '</C:calendar-query>\n')

MKCAL_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
    'xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop>'
    '<D:displayname>{name}</D:displayname>'
    '<A:calendar-color>#3f51b5</A:calendar-color>'
    '<C:supported-calendar-component-set><C:comp name="VEVENT"/>'
    '</C:supported-calendar-component-set>'
    '</D:prop></D:set></C:mkcalendar>\n')

T0 = time.monotonic()


def say(msg):
    print("[bench %5.0fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr,
          flush=True)


class BenchError(Exception):
    pass


def die(msg):
    raise BenchError(msg)


# ---------------------------------------------------------------- cleanup

class Cleanup:
    """Everything started, stopped in reverse order, exactly once."""

    def __init__(self):
        self.actions = []

    def push(self, name, fn):
        self.actions.append((name, fn))
        return len(self.actions) - 1

    def run_one(self, index):
        name, fn = self.actions[index]
        self.actions[index] = (name, None)
        if fn is not None:
            try:
                fn()
            except Exception as e:      # keep stopping the rest
                print("bench: stopping %s: %s" % (name, e), file=sys.stderr)

    def run_all(self):
        for i in reversed(range(len(self.actions))):
            self.run_one(i)


CLEANUP = Cleanup()


def on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


# ---------------------------------------------------------------- helpers

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, env=None, timeout=600, check=True, capture=True, **kw):
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = subprocess.run(cmd, env=full_env, timeout=timeout,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None,
                       text=True, **kw)
    if check and p.returncode != 0:
        die("%s exited %d: %s" % (" ".join(cmd[:3]), p.returncode,
                                  (p.stderr or "")[-2000:]))
    return p


def http_json(url, method="GET", body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(1, math.ceil(p / 100.0 * len(v)))
    return v[k - 1]


def mb(kb):
    return kb / 1024.0


def busy_ticks():
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    vals = [int(x) for x in fields]
    idle = vals[3] + vals[4]
    return sum(vals[:8]) - idle, sum(vals[:8])


def background_load(seconds=2.0):
    """Share of all CPUs busy while this benchmark does nothing."""
    b1, t1 = busy_ticks()
    time.sleep(seconds)
    b2, t2 = busy_ticks()
    return (b2 - b1) / max(1, t2 - t1)


def proc_mem(pid):
    """VmRSS, VmHWM and the private/proportional parts, in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Pss", "Private_Clean", "Private_Dirty",
                         "Shared_Clean"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    out["Private"] = out.get("Private_Clean", 0) + out.get("Private_Dirty", 0)
    return out


# ---------------------------------------------------------------- servers

class Sim:
    """The Plane simulator, stopped by SIGTERM."""

    def __init__(self, work, name, args):
        self.port_file = os.path.join(work, name + ".port")
        self.log = open(os.path.join(work, name + ".out"), "w")
        self.proc = subprocess.Popen(
            [PYTHON, SIM, "--port", "0", "--port-file", self.port_file,
             "--token", TOKEN, "--slug", SLUG] + args,
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            start_new_session=True)
        self.cleanup = CLEANUP.push("simulator " + name, self.stop)
        deadline = time.monotonic() + 180
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                die("the simulator %s exited: see %s" % (name, self.log.name))
            if time.monotonic() > deadline:
                die("the simulator %s did not start" % name)
            time.sleep(0.05)
        with open(self.port_file) as f:
            self.url = "http://127.0.0.1:%d" % int(f.read().strip())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def close(self):
        CLEANUP.run_one(self.cleanup)

    def get(self, path):
        return http_json(self.url + path)

    def post(self, path, body):
        return http_json(self.url + path, "POST", body)


class Radicale:
    """A fresh Radicale from tests/servers/caldav-server.sh."""

    def __init__(self, parent, name):
        self.dir = os.path.join(parent, name)
        self.cleanup = CLEANUP.push("radicale " + name, self.stop)
        p = run([HARNESS, "start", "radicale", self.dir], timeout=60)
        self.env = {}
        for line in p.stdout.splitlines():
            k, _, v = line.partition("=")
            if k:
                self.env[k] = v.strip("'")
        self.url = self.env["CALDAV_URL"]
        self.user = self.env["CALDAV_USERNAME"]
        self.password = self.env["CALDAV_PASSWORD"]
        self.auth = "Basic " + base64.b64encode(
            ("%s:%s" % (self.user, self.password)).encode()).decode()

    def cpu_s(self):
        """CPU seconds the server has used so far (all its threads)."""
        try:
            with open("/proc/%s/stat" % self.env["SERVER_PID"]) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf(
                "SC_CLK_TCK")
        except (OSError, KeyError, IndexError, ValueError):
            return float("nan")

    def stop(self):
        run([HARNESS, "stop", self.dir], timeout=60, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def close(self):
        CLEANUP.run_one(self.cleanup)

    def collection_root(self):
        return os.path.join(self.dir, "collections", "collection-root",
                            self.user)


class Stack:
    """nginx (TLS) in front of a spawn-fcgi pool, started by nginx/run.sh."""

    def __init__(self, work, name, bindir, config, pool_size):
        self.run_dir = os.path.join(work, name)
        self.port = free_port()
        self.env = {"RUN_DIR": self.run_dir, "HTTPS_PORT": str(self.port),
                    "POOL_SIZE": str(pool_size), "BINDIR": bindir,
                    "CALPLANEBOT_CONFIG": config}
        self.cleanup = CLEANUP.push("stack " + name, self.stop)
        run([RUN_SH, "start"], env=self.env, timeout=60)
        self.base = "https://127.0.0.1:%d" % self.port
        self.conf = os.path.join(self.run_dir, "conf", "nginx.conf")
        self.site = os.path.join(self.run_dir, "conf", "calplanebot.conf")
        self.access_log = os.path.join(self.run_dir, "logs",
                                       "nginx-access.log")
        self.lift_webhook_limit()

    def stop(self):
        run([RUN_SH, "stop"], env=self.env, timeout=60, check=False)

    def close(self):
        CLEANUP.run_one(self.cleanup)

    def pool_pids(self):
        with open(os.path.join(self.run_dir, "fcgi.pid")) as f:
            return [int(x) for x in f.read().split()]

    def lift_webhook_limit(self):
        """
        The production site limits webhooks to 100 a minute per address
        (burst 50): wrk on one address would get 429s after the burst.
        Raise that one rate in the rendered copy and reload; limit_req
        still runs on every request.
        """
        with open(self.site) as f:
            text = f.read()
        old = "zone=cpb_webhooks:10m rate=100r/m;"
        if text.count(old) != 1:
            die("%s: the webhook limit_req_zone is not where expected"
                % self.site)
        with open(self.site, "w") as f:
            f.write(text.replace(old, "zone=cpb_webhooks:10m rate=1000000r/s;"))
        run(["nginx", "-q", "-p", self.run_dir, "-c", self.conf, "-e",
             os.path.join(self.run_dir, "logs", "nginx-error.log"),
             "-s", "reload"], timeout=30)
        # The new workers answer 60 quick webhooks with the responder's
        # 415 (wrong Content-Type), not nginx's 429.
        ctx = ssl._create_unverified_context()
        deadline = time.monotonic() + 10
        while True:
            codes = []
            conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                               context=ctx, timeout=10)
            try:
                for _ in range(60):
                    conn.request("POST", "/webhooks/plane", body=b"x",
                                 headers={"Content-Type": "text/plain"})
                    r = conn.getresponse()
                    r.read()
                    codes.append(r.status)
            except (OSError, http.client.HTTPException):
                codes.append(429)       # an old worker closed: again
            finally:
                conn.close()
            if 429 not in codes:
                return
            if time.monotonic() > deadline:
                die("nginx still limits webhooks after the reload")
            time.sleep(0.3)

    def access_log_size(self):
        try:
            return os.path.getsize(self.access_log)
        except OSError:
            return 0

    def log_counter(self, offset, pattern):
        """A function counting matching lines appended since `offset`."""
        rx = re.compile(pattern)
        state = {"pos": offset, "n": 0, "rest": b""}

        def count():
            with open(self.access_log, "rb") as f:
                f.seek(state["pos"])
                data = state["rest"] + f.read()
                state["pos"] = f.tell()
            lines = data.split(b"\n")
            state["rest"] = lines.pop()
            for line in lines:
                if rx.search(line.decode("utf-8", "replace")):
                    state["n"] += 1
            return state["n"]
        return count

    def count_log(self, offset, pattern):
        rx = re.compile(pattern)
        n = 0
        with open(self.access_log, "rb") as f:
            f.seek(offset)
            for line in f:
                if rx.search(line.decode("utf-8", "replace")):
                    n += 1
        return n


# ---------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args):
        self.args = args
        self.size = QUICK if args.quick else FULL
        self.bindir = os.path.abspath(args.bindir)
        self.tools = os.path.abspath(args.tools)
        self.sync_bin = os.path.join(self.bindir, "calplanebot-sync")
        self.put_loop = os.path.join(self.tools, "put_loop")
        self.noop_dir = os.path.join(self.tools, "noop")
        self.only = set(args.only) if args.only else None
        self.results = {"quick": args.quick, "sizes": self.size}
        self.rows = []

    def want(self, item):
        return self.only is None or item in self.only

    # -- set-up ---------------------------------------------------------

    def setup_dirs(self):
        self.work = tempfile.mkdtemp(prefix="cpb-bench.", dir="/tmp")
        os.chmod(self.work, 0o711)      # nginx's workers (nobody) traverse it
        if not self.args.keep:
            CLEANUP.push("work dir", lambda: shutil.rmtree(
                self.work, ignore_errors=True))
        # Radicale's storage on tmpfs: its fsync per PUT on this VM's disk
        # would be most of every number of items 4 and 5 (docs/benchmarks.md).
        shm = "/dev/shm"
        if os.path.isdir(shm) and os.access(shm, os.W_OK):
            self.dav_parent = tempfile.mkdtemp(prefix="cpb-bench-dav.", dir=shm)
            self.results["radicale_storage"] = "tmpfs (/dev/shm)"
        else:
            self.dav_parent = os.path.join(self.work, "dav")
            os.makedirs(self.dav_parent)
            self.results["radicale_storage"] = "disk"
        CLEANUP.push("dav dir", lambda: shutil.rmtree(
            self.dav_parent, ignore_errors=True))
        say("work directory %s, Radicale storage in %s" %
            (self.work, self.dav_parent))

    def wait_quiet(self):
        deadline = time.monotonic() + self.args.wait_quiet
        while time.monotonic() < deadline:
            load = background_load(5)
            if load < 0.15:
                return
            say("the machine is %.0f%% busy with other work; waiting" %
                (100 * load))
            time.sleep(25)

    def machine(self):
        def first(cmd):
            try:
                p = subprocess.run(cmd, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True,
                                   timeout=10)
                return p.stdout.strip().splitlines()[0]
            except Exception:
                return "?"

        def deb(pkg):
            return first(["dpkg-query", "-W", "-f=${Version}", pkg])

        model = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        m = {
            "nproc": len(os.sched_getaffinity(0)),
            "cpu": model,
            "kernel": os.uname().release,
            "nginx": first(["nginx", "-v"]),
            "radicale": deb("radicale"),
            "wrk": first(["wrk", "-v"]),
            "spawn-fcgi": deb("spawn-fcgi"),
            "libfcgi": deb("libfcgi0ldbl") if deb("libfcgi0ldbl") != "?"
            else deb("libfcgi-bin"),
            "libcurl": first(["curl-config", "--version"]),
            "sqlite": first(["sqlite3", "--version"]).split()[0],
            "python (radicale, simulator)": first([PYTHON, "--version"]),
            "mem_total_mb": os.sysconf("SC_PAGE_SIZE") *
            os.sysconf("SC_PHYS_PAGES") // (1024 * 1024),
        }
        m["background_load"] = round(background_load(), 3)
        self.results["machine"] = m
        say("machine: %d CPUs (%s), background load %.0f%% of all CPUs" %
            (m["nproc"], m["cpu"], 100 * m["background_load"]))
        if m["background_load"] > 0.15:
            say("WARNING: the machine is busy with other work: numbers "
                "will be noisy (ratios less so)")

    def make_fixture(self):
        """
        The simulator's own --generate workspace, with a target_date on
        every issue, so P x N issues are exactly P x N events.
        """
        p, n = self.size["projects"], self.size["issues"]
        say("fixture: %d projects x %d issues, every one with a due date"
            % (p, n))
        gen = Sim(self.work, "sim-generate",
                  ["--generate", "%d,%d" % (p, n), "--rate-limit", "0"])
        state = gen.get("/_sim/state")
        gen.close()
        start = datetime.date(2026, 11, 1)
        k = 0
        for proj in state["projects"]:
            for issue in proj.get("issues", []):
                if not issue.get("target_date"):
                    issue["target_date"] = (
                        start + datetime.timedelta(days=k % 92)).isoformat()
                    k += 1
        state["api_token"] = TOKEN
        self.fixture = os.path.join(self.work, "fixture.json")
        with open(self.fixture, "w") as f:
            json.dump(state, f)
        self.n_events = sum(len(pr.get("issues", []))
                            for pr in state["projects"])

    def sync_env(self, name, sim, dav, db, extra=None):
        path = os.path.join(self.work, name + ".env")
        lines = {
            "PLANE_BASE_URL": sim.url,
            "PLANE_API_TOKEN": TOKEN,
            "PLANE_WORKSPACE_SLUG": SLUG,
            "PLANE_WEB_URL": "https://plane.example.com",
            "CALDAV_URL": dav.url,
            "CALDAV_USERNAME": dav.user,
            "CALDAV_PASSWORD": "'%s'" % dav.password,
            "CALDAV_AUTH_TYPE": "basic",
            "CALPLANEBOT_DB": db,
            "LOG_LEVEL": "INFO",
            "PLANE_WEBHOOK_SECRET": SECRET,
        }
        lines.update(extra or {})
        with open(path, "w") as f:
            for k, v in lines.items():
                f.write("%s=%s\n" % (k, v))
        os.chmod(path, 0o600)
        return path

    def run_sync(self, config, args=(), name="sync", strace_out=None,
                 timeout=1800):
        """calplanebot-sync under /usr/bin/time: wall, CPU, peak RSS."""
        tfile = os.path.join(self.work, name + ".time")
        log = os.path.join(self.work, name + ".log")
        cmd = ["/usr/bin/time", "-o", tfile, "-f", "%M %U %S %x"]
        if strace_out:
            cmd += ["strace", "-f", "-yy", "-qq", "-s", "48", "-e",
                    "trace=sendto,sendmsg,write", "-o", strace_out]
        cmd += [self.sync_bin] + list(args)
        t = time.monotonic()
        with open(log, "w") as lf:
            p = subprocess.run(cmd, env=dict(os.environ,
                                             CALPLANEBOT_CONFIG=config),
                               stdout=subprocess.PIPE, stderr=lf, text=True,
                               timeout=timeout)
        wall = time.monotonic() - t
        with open(tfile) as f:
            rss, user, sys_, code = f.read().split()[-4:]
        counts = dict(re.findall(r"(\w+)=(\d+)", p.stdout))
        return {"wall_s": wall, "maxrss_kb": int(rss), "user_s": float(user),
                "sys_s": float(sys_), "exit": int(code),
                "counts": {k: int(v) for k, v in counts.items()},
                "log": log}

    # -- item 4: cold full sync, and the PUT loop baseline ---------------

    def item4_cold(self):
        sim = self.sim
        self.dav = Radicale(self.dav_parent, "r-sync")
        self.db = os.path.join(self.work, "state.db")
        self.config = self.sync_env("sync", sim, self.dav, self.db)
        say("item 4: cold full sync of %d events into a fresh Radicale"
            % self.n_events)
        sim.post("/_sim/stats/reset", {})
        c0 = self.dav.cpu_s()
        r = self.run_sync(self.config, name="cold")
        r["radicale_cpu_s"] = self.dav.cpu_s() - c0
        st = sim.get("/_sim/stats?recent=0")
        r["plane_requests"] = st["total"]
        if r["exit"] != 0 or r["counts"].get("created") != self.n_events:
            die("cold sync: exit %d, %s (see %s)" % (r["exit"], r["counts"],
                                                     r["log"]))
        self.results["cold_sync"] = r
        say("  %.1f s, %.1f events/s, peak RSS %.1f MB, CPU %.1f s; Radicale "
            "busy %.0f%% of one CPU" % (
                r["wall_s"], self.n_events / r["wall_s"], mb(r["maxrss_kb"]),
                r["user_s"] + r["sys_s"],
                100 * r["radicale_cpu_s"] / r["wall_s"]))

    def extract_bodies(self):
        """The events as Radicale stored them, for the PUT loop."""
        root = self.dav.collection_root()
        bodies = os.path.join(self.work, "bodies")
        os.makedirs(bodies)
        db = sqlite3.connect(self.db)
        cals = db.execute("SELECT url, displayname FROM calendars").fetchall()
        db.close()
        mk, put = [], []
        for i, (url, name) in enumerate(sorted(cals)):
            path = urllib.parse.urlsplit(url).path      # /alice/plane-<id>/
            coll = os.path.join(root, os.path.basename(path.rstrip("/")))
            mkfile = os.path.join(bodies, "mk%04d.xml" % i)
            with open(mkfile, "w") as f:
                f.write(MKCAL_BODY.format(name=name))
            mk.append((path, mkfile))
            for fn in sorted(os.listdir(coll)):
                if fn.startswith(".") or not fn.endswith(".ics"):
                    continue
                dst = os.path.join(bodies, "%04d-%s" % (i, fn))
                shutil.copyfile(os.path.join(coll, fn), dst)
                put.append((path + urllib.parse.quote(fn, safe="-._~"), dst))
        if len(put) != self.n_events:
            die("found %d event files in Radicale, expected %d" %
                (len(put), self.n_events))
        self.put_plan = (mk, put)
        sizes = [os.path.getsize(p) for _, p in put]
        self.results["put_bodies"] = {"n": len(put),
                                      "mean_bytes": sum(sizes) / len(sizes)}

    def put_loop_run(self, dav, jobs):
        mk, put = self.put_plan
        base = dav.url.rstrip("/")
        mk_man = os.path.join(self.work, "mk-%d.txt" % jobs)
        put_man = os.path.join(self.work, "put-%d.txt" % jobs)
        with open(mk_man, "w") as f:
            for path, file in mk:
                f.write("MKCALENDAR\t%s%s\t%s\n" % (base, path, file))
        with open(put_man, "w") as f:
            for path, file in put:
                f.write("PUT\t%s%s\t%s\n" % (base, path, file))
        env = {"BENCH_USER": dav.user, "BENCH_PASS": dav.password}
        c0 = dav.cpu_s()
        a = json.loads(run([self.put_loop, "-j", "1", mk_man], env=env,
                           timeout=600).stdout)
        b = json.loads(run([self.put_loop, "-j", str(jobs), put_man],
                           env=env, timeout=1800).stdout)
        return {"mkcalendar_s": a["seconds"], "put_s": b["seconds"],
                "wall_s": a["seconds"] + b["seconds"],
                "radicale_cpu_s": dav.cpu_s() - c0,
                "requests": a["requests"] + b["requests"],
                "status": [a["status"], b["status"]]}

    def item4_baseline(self):
        say("item 4: baseline, the same %d bodies PUT by a plain libcurl "
            "loop (one easy handle) into a fresh Radicale" % self.n_events)
        dav = Radicale(self.dav_parent, "r-loop1")
        r = self.put_loop_run(dav, 1)
        dav.close()
        self.results["put_loop_1"] = r
        say("  %.1f s (%.1f PUT/s), Radicale busy %.0f%% of one CPU" % (
            r["wall_s"], self.n_events / r["put_s"],
            100 * r["radicale_cpu_s"] / r["wall_s"]))
        say("item 7: the same with 4 connections (libcurl multi)")
        dav = Radicale(self.dav_parent, "r-loop4")
        r4 = self.put_loop_run(dav, 4)
        dav.close()
        self.results["put_loop_4"] = r4
        say("  %.1f s (%.1f PUT/s), Radicale busy %.0f%% of one CPU" % (
            r4["wall_s"], self.n_events / r4["put_s"],
            100 * r4["radicale_cpu_s"] / r4["wall_s"]))

    def item4_rate_limited(self):
        say("item 4: cold full sync again, Plane's rate limit 60/min on")
        dav = Radicale(self.dav_parent, "r-rl")
        db = os.path.join(self.work, "state-rl.db")
        config = self.sync_env("sync-rl", self.sim, dav, db)
        self.sim.post("/_sim/rate_limit", {"per_minute": 60, "reset": True})
        self.sim.post("/_sim/stats/reset", {})
        try:
            r = self.run_sync(config, name="cold-rl")
            st = self.sim.get("/_sim/stats?recent=0")
        finally:
            self.sim.post("/_sim/rate_limit", {"per_minute": 0, "reset": True})
        dav.close()
        r["plane_requests"] = st["total"]
        r["plane_429"] = st.get("rate_limited", 0)
        if r["exit"] != 0 or r["counts"].get("created") != self.n_events:
            die("rate-limited cold sync: exit %d, %s (see %s)" %
                (r["exit"], r["counts"], r["log"]))
        self.results["cold_sync_rl"] = r
        say("  %.1f s, %d Plane requests, %d answered 429" %
            (r["wall_s"], r["plane_requests"], r["plane_429"]))

    # -- item 5: warm full sync ------------------------------------------

    def item5_warm(self):
        s = self.size
        say("item 5: warm full sync, nothing changed (3 runs, the median)")
        warm = []
        for k in range(3):
            self.sim.post("/_sim/stats/reset", {})
            w = self.run_sync(self.config, name="warm%d" % k)
            if w["exit"] != 0 or w["counts"].get("unchanged") != self.n_events:
                die("warm sync: exit %d, %s" % (w["exit"], w["counts"]))
            warm.append(w)
        st = self.sim.get("/_sim/stats")
        r = sorted(warm, key=lambda w: w["wall_s"])[1]
        r["walls"] = [w["wall_s"] for w in warm]
        r["plane_requests"] = st["total"]
        r["plane_by_kind"] = {k: v["total"] for k, v in st["by_kind"].items()}
        plane_gets = [e["path"] for e in st["recent"] if e["method"] == "GET"]

        # The same again under strace, to count what goes on the wire.
        trace = os.path.join(self.work, "warm.strace")
        self.sim.post("/_sim/stats/reset", {})
        r2 = self.run_sync(self.config, name="warm-strace", strace_out=trace)
        dav_port = int(self.dav.env["CALDAV_PORT"])
        sim_port = int(urllib.parse.urlsplit(self.sim.url).port)
        wire = {"caldav": {}, "plane": {}}
        rx = re.compile(r'^\d+\s+(?:sendto|sendmsg|write)\(\d+<TCP:\[[^\]]*->'
                        r'127\.0\.0\.1:(\d+)\]>, (?:\[\{iov_base=)?"([A-Z]+) ')
        with open(trace) as f:
            for line in f:
                m = rx.match(line)
                if not m:
                    continue
                port, method = int(m.group(1)), m.group(2)
                side = ("caldav" if port == dav_port else
                        "plane" if port == sim_port else None)
                if side:
                    wire[side][method] = wire[side].get(method, 0) + 1
        r["wire"] = wire
        r["wire_exit"] = r2["exit"]
        st2 = self.sim.get("/_sim/stats?recent=0")
        r["plane_requests_traced"] = st2["total"]

        # The lower bound, and a plain loop doing exactly those requests.
        p, n = s["projects"], s["issues"]
        lb_plane = math.ceil(p / 1000) + p * math.ceil(n / 1000)
        lb_caldav = p                       # one REPORT per calendar
        db = sqlite3.connect(self.db)
        cal_urls = [u for (u,) in db.execute("SELECT url FROM calendars")]
        home_cached = db.execute("SELECT count(*) FROM meta WHERE key LIKE "
                                 "'caldav_home %'").fetchone()[0]
        db.close()
        r["lower_bound"] = {"plane": lb_plane, "caldav": lb_caldav,
                            "caldav_writes": 0,
                            "discovery_cached": bool(home_cached)}
        report = os.path.join(self.work, "report.xml")
        with open(report, "w") as f:
            f.write(REPORT_BODY)
        plane_man = os.path.join(self.work, "replay-plane.txt")
        with open(plane_man, "w") as f:
            for path in plane_gets:
                f.write("GET\t%s%s\t-\n" % (self.sim.url, path))
        dav_man = os.path.join(self.work, "replay-caldav.txt")
        with open(dav_man, "w") as f:
            for u in cal_urls:
                f.write("REPORT\t%s\t%s\n" % (u, report))
        replays = []
        for k in range(3):
            a = json.loads(run([self.put_loop, "-H", "X-Api-Key: " + TOKEN,
                                plane_man], timeout=600).stdout)
            b = json.loads(run([self.put_loop, dav_man], timeout=600,
                               env={"BENCH_USER": self.dav.user,
                                    "BENCH_PASS": self.dav.password}).stdout)
            replays.append({"plane_s": a["seconds"], "caldav_s": b["seconds"],
                            "wall_s": a["seconds"] + b["seconds"],
                            "requests": a["requests"] + b["requests"]})
        r["replay"] = sorted(replays, key=lambda x: x["wall_s"])[1]
        self.results["warm_sync"] = r
        dav_total = sum(wire["caldav"].values())
        say("  %.2f s; Plane %d requests (bound %d), CalDAV %d %s (bound %d "
            "REPORTs); replay of the bound %.2f s" % (
                r["wall_s"], r["plane_requests"], lb_plane, dav_total,
                wire["caldav"], lb_caldav, r["replay"]["wall_s"]))

    # -- items 1, 2, 6b: the web stack -----------------------------------

    def start_stacks(self):
        self.stack_config = self.sync_env("stack", self.sim, self.dav, self.db)
        self.real = Stack(self.work, "run-real", self.bindir,
                          self.stack_config, 4)
        self.noop = Stack(self.work, "run-noop", self.noop_dir,
                          self.stack_config, 4)
        say("stacks: calplanebot-fcgi on %s, no-op on %s (pool of 4 each)"
            % (self.real.base, self.noop.base))

    def webhook_requests(self):
        """Signed Plane webhooks (body and signature), one per issue."""
        n = self.size["webhook_bodies"]
        issues = [i for i in self.sim.get("/_sim/issues")
                  if i.get("target_date")]
        # Spread over the projects.
        issues.sort(key=lambda i: (i["sequence_id"], i["project"]))
        path = os.path.join(self.work, "webhooks.txt")
        sizes = []
        with open(path, "w") as f:
            for issue in issues[:n]:
                q = urllib.parse.urlencode({
                    "issue_id": issue["id"], "action": "updated",
                    "field": "name", "secret": SECRET})
                d = self.sim.get("/_sim/webhook_payload?" + q)
                body = d["body"]
                if "\n" in body or "\t" in body:
                    die("webhook body with a newline or tab")
                f.write("%s\t%s\n" % (d["signature"], body))
                sizes.append(len(body.encode()))
        self.webhooks_file = path
        self.results["webhook_bodies"] = {
            "n": len(sizes), "mean_bytes": sum(sizes) / len(sizes),
            "min_bytes": min(sizes), "max_bytes": max(sizes)}

    def wrk(self, url, mode, run_id="", seconds=None, conns=None,
            max_requests=0, stop_when=None):
        s = self.size
        seconds = seconds or s["wrk_seconds"]
        conns = conns or s["wrk_conns"]
        env = dict(os.environ, BENCH_MODE=mode, BENCH_RUN_ID=run_id,
                   BENCH_REQUESTS=getattr(self, "webhooks_file", ""),
                   BENCH_THREADS=str(s["wrk_threads"]),
                   BENCH_MAX_REQUESTS=str(max_requests))
        cmd = ["wrk", "-t%d" % s["wrk_threads"], "-c%d" % conns,
               "-d%ds" % seconds, "--timeout", "10s", "-s", LUA, url]
        t = time.monotonic()
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        idx = CLEANUP.push("wrk", lambda: p.poll() is None and p.kill())
        try:
            if stop_when is not None:
                while p.poll() is None and not stop_when():
                    time.sleep(0.25)
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=seconds + 60)
        finally:
            CLEANUP.run_one(idx)
        wall = time.monotonic() - t
        line = [l for l in out.splitlines() if l.startswith("BENCH_JSON ")]
        if not line:
            die("wrk printed no result: %s %s" % (out[-1000:], err[-1000:]))
        r = json.loads(line[-1][len("BENCH_JSON "):])
        r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
        r["wall_s"] = wall
        r["non2xx"] = r["errors"]["status"]
        r["socket_errors"] = sum(v for k, v in r["errors"].items()
                                 if k != "status")
        return r

    def queue_depth(self):
        db = sqlite3.connect(self.db, timeout=30)
        try:
            return db.execute("SELECT count(*) FROM queue").fetchone()[0]
        finally:
            db.close()

    def stored(self, run_id):
        db = sqlite3.connect(self.db, timeout=30)
        try:
            return db.execute("SELECT count(*) FROM deliveries WHERE delivery "
                              "LIKE ?", (run_id + "-%",)).fetchone()[0]
        finally:
            db.close()

    def items12(self):
        s = self.size
        say("items 1, 2: wrk -t%d -c%d, %d s per run, %d round(s)" % (
            s["wrk_threads"], s["wrk_conns"], s["wrk_seconds"],
            s["wrk_rounds"]))
        runs = {k: [] for k in ("static", "noop_webhook", "webhook",
                                "noop_health", "health")}
        for rnd in range(s["wrk_rounds"]):
            runs["static"].append(self.wrk(self.real.base + "/favicon.svg",
                                           "get"))
            runs["noop_webhook"].append(self.wrk(
                self.noop.base + "/webhooks/plane", "webhook",
                "noop%d" % rnd))
            run_id = "ingest%d" % rnd
            off = self.real.access_log_size()
            r = self.wrk(self.real.base + "/webhooks/plane", "webhook", run_id)
            deadline = time.monotonic() + 120
            while self.queue_depth() > 0 and time.monotonic() < deadline:
                time.sleep(0.5)
            r["queue_left"] = self.queue_depth()
            r["stored"] = self.stored(run_id)
            # 499: wrk closed the connection at the end of the run while
            # the request was in hand; it may well have been stored.
            r["nginx_202"] = self.real.count_log(
                off, r'"POST /webhooks/plane [^"]*" 202 ')
            r["nginx_499"] = self.real.count_log(
                off, r'"POST /webhooks/plane [^"]*" 499 ')
            r["nginx_other"] = self.real.count_log(
                off, r'"POST /webhooks/plane [^"]*" (?!202 |499 )')
            runs["webhook"].append(r)
            runs["noop_health"].append(self.wrk(
                self.noop.base + "/api/v1/health", "get"))
            runs["health"].append(self.wrk(
                self.real.base + "/api/v1/health", "get"))
            for k, v in runs.items():
                say("  round %d %-13s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms"
                    "  non-2xx %d" % (rnd + 1, k, v[-1]["rps"],
                                      v[-1]["latency_us"]["p50"] / 1000,
                                      v[-1]["latency_us"]["p99"] / 1000,
                                      v[-1]["non2xx"]))
        self.results["wrk"] = runs
        self.results["pool_after_wrk"] = {
            "real": [proc_mem(p) for p in self.real.pool_pids()],
            "noop": [proc_mem(p) for p in self.noop.pool_pids()],
        }

    def item1_micro(self):
        """Where a webhook's time goes: the library in a loop, no nginx."""
        n = self.size["micro_n"]
        say("item 1: in-process, %d webhooks through webhook_receive and "
            "the drain, 1 and 4 processes on one store" % n)
        db = os.path.join(self.work, "micro.db")
        src = sqlite3.connect(self.db, timeout=30)
        dst = sqlite3.connect(db)
        src.backup(dst)
        src.close()
        dst.close()
        micro = os.path.join(self.tools, "micro_webhook")
        env = {"CALPLANEBOT_CONFIG": self.stack_config}
        one = json.loads(run([micro, "-n", str(n), "-d", db,
                              self.webhooks_file], env=env).stdout)
        four = json.loads(run([micro, "-n", str(n), "-d", "-P", "4", db,
                               self.webhooks_file], env=env).stdout)
        self.results["micro"] = {"one": one, "four": four}
        u = one["us"]
        say("  1 process: receive %.0f us (HMAC %.0f, JSON %.0f, issue %.0f, "
            "store push %.0f, counter %.0f), drain %.0f us (lock %.0f, empty "
            "lease %.0f, depth %.0f, apply unchanged %.0f); 4 processes: "
            "%.0f webhooks/s with drain" % (
                u["receive"], u["hmac"], u["json_parse"], u["issue_parse"],
                u["store_push"], u["counter"], u["drain"], u["drain_lock"],
                u["lease_empty"], u["queue_depth"], u["apply_unchanged"],
                four["procs_per_s"]))

    def item1_outage(self):
        """
        Ingest while CalDAV is down, with the production configuration:
        webhooks that change their event, so every drain needs CalDAV.
        The pool works on a copy of the store whose calendar URLs point at
        a closed port (the main store and Radicale are left alone).
        """
        n = min(200, self.size["webhook_bodies"])
        say("item 1: ingest while CalDAV is down (%d changed issues)" % n)
        db = sqlite3.connect(self.db, timeout=30)
        ids = [r[0] for r in db.execute(
            "SELECT issue_id FROM events ORDER BY issue_id DESC LIMIT ?",
            (n,))]
        copy = os.path.join(self.work, "down.db")
        dst = sqlite3.connect(copy)
        db.backup(dst)
        db.close()
        dead = free_port()              # nothing listens there
        old = ":%s/" % self.dav.env["CALDAV_PORT"]
        new = ":%d/" % dead
        dst.execute("UPDATE calendars SET url = replace(url, ?, ?)", (old, new))
        dst.execute("UPDATE events SET href = replace(href, ?, ?), "
                    "calendar_url = replace(calendar_url, ?, ?)",
                    (old, new, old, new))
        dst.execute("DELETE FROM meta WHERE key LIKE 'caldav_home %'")
        dst.commit()
        dst.close()
        path = os.path.join(self.work, "webhooks-changed.txt")
        with open(path, "w") as f:
            for i, issue_id in enumerate(ids):
                http_json("%s/_sim/issues/%s" % (self.sim.url, issue_id),
                          "PATCH", {"name": "bench-down-%d" % i})
                q = urllib.parse.urlencode({
                    "issue_id": issue_id, "action": "updated",
                    "field": "name", "secret": SECRET})
                d = self.sim.get("/_sim/webhook_payload?" + q)
                f.write("%s\t%s\n" % (d["signature"], d["body"]))
        config = self.sync_env("down", self.sim, self.dav, copy, {
            "CALDAV_URL": "http://127.0.0.1:%d/" % dead})
        down = Stack(self.work, "run-down", self.bindir, config, 4)
        saved = self.webhooks_file
        self.webhooks_file = path
        try:
            r = self.wrk(down.base + "/webhooks/plane", "webhook", "down")
        finally:
            self.webhooks_file = saved
        db = sqlite3.connect(copy, timeout=30)
        r["stored"] = db.execute("SELECT count(*) FROM deliveries WHERE "
                                 "delivery LIKE 'down-%'").fetchone()[0]
        db.close()
        down.close()
        self.results["ingest_caldav_down"] = r
        say("  %.0f req/s, p50 %.1f ms, p99 %.1f ms, non-2xx %d, stored %d" % (
            r["rps"], r["latency_us"]["p50"] / 1000,
            r["latency_us"]["p99"] / 1000, r["non2xx"], r["stored"]))

    # -- item 3: webhook to calendar ------------------------------------

    def poll_until(self, dav, url, token, deadline):
        path = urllib.parse.urlsplit(url).path
        while True:
            c = http.client.HTTPConnection("127.0.0.1", int(dav.env["CALDAV_PORT"]),
                                           timeout=10)
            c.request("GET", path, headers={"Authorization": dav.auth})
            r = c.getresponse()
            body = r.read().decode("utf-8", "replace")
            c.close()
            if r.status == 200 and token in body.replace("\r\n ", ""):
                return time.perf_counter()
            if time.perf_counter() > deadline:
                return None
            time.sleep(0.001)

    def item3(self):
        n = self.size["latency_n"]
        say("item 3: webhook to calendar, %d webhooks one after the other" % n)
        db = sqlite3.connect(self.db)
        rows = db.execute("SELECT issue_id, href FROM events WHERE href IS "
                          "NOT NULL ORDER BY issue_id").fetchall()
        db.close()
        # Issues the ingest bodies did not use, in many projects.
        step = max(1, len(rows) // n)
        picks = rows[::step][:n]
        ctx = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection("127.0.0.1", self.real.port,
                                           context=ctx, timeout=30)
        lat, resp, fails = [], [], 0
        for i, (issue_id, href) in enumerate(picks):
            token = "bench-lat-%04d-%s" % (i, os.urandom(3).hex())
            http_json("%s/_sim/issues/%s" % (self.sim.url, issue_id), "PATCH",
                      {"name": token})
            q = urllib.parse.urlencode({"issue_id": issue_id,
                                        "action": "updated", "field": "name",
                                        "secret": SECRET})
            d = self.sim.get("/_sim/webhook_payload?" + q)
            headers = {"Content-Type": "application/json",
                       "User-Agent": "Autopilot", "X-Plane-Event": "issue",
                       "X-Plane-Signature": d["signature"],
                       "X-Plane-Delivery": "lat-%s-%d" % (token, i)}
            body = d["body"].encode()
            t0 = time.perf_counter()
            conn.request("POST", "/webhooks/plane", body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            t1 = time.perf_counter()
            if r.status != 202:
                die("webhook answered %d" % r.status)
            t2 = self.poll_until(self.dav, href, token, t0 + 10)
            if t2 is None:
                fails += 1
                continue
            resp.append(t1 - t0)
            lat.append(t2 - t0)
        conn.close()

        # The floor: the same write and read-back without CalPlaneBot, a
        # PUT straight into Radicale from this process.
        say("item 3: floor, a PUT straight into Radicale, then the same poll")
        cal = self.dav.url.rstrip("/") + "/%s/bench-floor/" % self.dav.user
        self.dav_request("MKCALENDAR", cal,
                         MKCAL_BODY.format(name="bench floor").encode(),
                         "application/xml; charset=utf-8")
        _, sample = self.put_plan[1][0]
        with open(sample) as f:
            template = f.read()
        floor = []
        for i in range(n):
            token = "bench-floor-%04d-%s" % (i, os.urandom(3).hex())
            text = re.sub(r"(?m)^UID:.*$", "UID:floor-%d@bench" % (i % 20),
                          template)
            text = re.sub(r"(?m)^SUMMARY:.*$", "SUMMARY:" + token, text)
            url = cal + "floor-%d.ics" % (i % 20)
            t0 = time.perf_counter()
            self.dav_request("PUT", url, text.encode(),
                             "text/calendar; charset=utf-8")
            t2 = self.poll_until(self.dav, url, token, t0 + 10)
            if t2 is not None:
                floor.append(t2 - t0)
        self.results["latency"] = {
            "n": n, "failed": fails,
            "p50_ms": 1000 * pct(lat, 50), "p99_ms": 1000 * pct(lat, 99),
            "max_ms": 1000 * max(lat),
            "response_p50_ms": 1000 * pct(resp, 50),
            "response_p99_ms": 1000 * pct(resp, 99),
            "floor_p50_ms": 1000 * pct(floor, 50),
            "floor_p99_ms": 1000 * pct(floor, 99),
        }
        L = self.results["latency"]
        say("  p50 %.1f ms, p99 %.1f ms (202 after %.1f ms); floor p50 %.1f "
            "ms, p99 %.1f ms" % (L["p50_ms"], L["p99_ms"],
                                 L["response_p50_ms"], L["floor_p50_ms"],
                                 L["floor_p99_ms"]))

    def dav_request(self, method, url, body, ctype):
        u = urllib.parse.urlsplit(url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        c.request(method, u.path, body=body, headers={
            "Authorization": self.dav.auth, "Content-Type": ctype})
        r = c.getresponse()
        r.read()
        c.close()
        if r.status // 100 != 2:
            die("%s %s: %d" % (method, url, r.status))

    # -- item 6: memory ---------------------------------------------------

    def item6_responder(self):
        n = self.size["responder_requests"]
        say("item 6: one responder (pool of 1) through %d requests, "
            "webhooks and GET /api/v1/health taking turns" % n)
        one = Stack(self.work, "run-one", self.bindir, self.stack_config, 1)
        pid = one.pool_pids()[0]
        ctx = ssl._create_unverified_context()
        c = http.client.HTTPSConnection("127.0.0.1", one.port, context=ctx)
        c.request("GET", "/api/v1/health")
        c.getresponse().read()
        c.close()
        before = proc_mem(pid)
        served = one.log_counter(one.access_log_size(),
                                 r'"(GET /api/v1/health|POST /webhooks/plane) ')
        last = [0.0]

        def stop_when():
            if time.monotonic() - last[0] < 1:
                return False
            last[0] = time.monotonic()
            return served() >= n
        r = self.wrk(one.base + "/webhooks/plane", "mix", "rss",
                     seconds=1200, conns=4, max_requests=n,
                     stop_when=stop_when)
        time.sleep(0.5)
        served = served()
        after = proc_mem(pid)
        one.close()
        noop = [proc_mem(p) for p in self.noop.pool_pids()]
        self.results["responder_mem"] = {
            "requests": served, "rps": r["rps"], "non2xx": r["non2xx"],
            "before": before, "after": after, "noop": noop[0]}
        say("  after %d requests: RSS %.1f MB (peak %.1f), private %.1f MB, "
            "PSS %.1f MB; no-op RSS %.1f MB" % (
                served, mb(after["VmRSS"]), mb(after["VmHWM"]),
                mb(after["Private"]), mb(after.get("Pss", 0)),
                mb(noop[0]["VmRSS"])))

    def item6_sync(self):
        say("item 6: calplanebot-sync --dry-run, peak RSS")
        dav = Radicale(self.dav_parent, "r-mem")
        out = []
        for p, n in self.size["mem_sizes"]:
            sim = Sim(self.work, "sim-mem-%d" % (p * n),
                      ["--generate", "%d,%d" % (p, n), "--rate-limit", "0"])
            db = os.path.join(self.work, "state-mem-%d.db" % (p * n))
            config = self.sync_env("mem-%d" % (p * n), sim, dav, db)
            r = self.run_sync(config, ["--dry-run"], name="dry-%d" % (p * n))
            sim.close()
            if r["exit"] != 0:
                die("dry run at %d issues: exit %d (see %s)" %
                    (p * n, r["exit"], r["log"]))
            r["issues"] = p * n
            out.append(r)
            say("  %6d issues: peak RSS %.1f MB, %.1f s" % (
                p * n, mb(r["maxrss_kb"]), r["wall_s"]))
        dav.close()
        self.results["dry_run_mem"] = out

    # -- the whole run ------------------------------------------------------

    def run(self):
        self.setup_dirs()
        if self.args.wait_quiet:
            self.wait_quiet()
        self.machine()
        need_sync = any(self.want(i) for i in (1, 2, 3, 4, 5, 6, 7))
        if need_sync:
            self.make_fixture()
            self.sim = Sim(self.work, "sim", ["--fixture", self.fixture,
                                              "--rate-limit", "0"])
            self.item4_cold()
            self.extract_bodies()
        if self.want(5):
            self.item5_warm()
        if self.want(4) or self.want(7):
            self.item4_baseline()
        if self.want(1) or self.want(2) or self.want(3) or self.want(6):
            self.start_stacks()
        if self.want(1) or self.want(2) or self.want(3):
            self.webhook_requests()
        if self.want(1) or self.want(2):
            self.items12()
        if self.want(1):
            self.item1_micro()
            self.item1_outage()
        if self.want(3):
            self.item3()
        if self.want(6):
            self.item6_responder()
        if hasattr(self, "real"):
            self.real.close()
            self.noop.close()
        if self.want(6):
            self.item6_sync()
        if self.want(4) and self.size["rate_limited"]:
            self.item4_rate_limited()
        self.results["machine"]["background_load_end"] = round(
            background_load(), 3)
        self.results["total_s"] = time.monotonic() - T0

    # -- the table ----------------------------------------------------------

    def table(self):
        R = self.results
        rows = []

        def row(item, what, result, baseline, ratio, target, met):
            rows.append((item, what, result, baseline, ratio, target, met))

        def yn(ok):
            return "yes" if ok else "**no**"

        wrk = R.get("wrk")
        if wrk:
            def best(k):
                return max(wrk[k], key=lambda r: r["rps"])
            st, nw, w = best("static"), best("noop_webhook"), best("webhook")
            nh, h = best("noop_health"), best("health")

            def lat(r):
                return "p50 %.2f / p99 %.2f ms" % (
                    r["latency_us"]["p50"] / 1000, r["latency_us"]["p99"] / 1000)
            non2xx = sum(r["non2xx"] + r["socket_errors"] for r in wrk["webhook"])
            # Every 202 stored, and nothing stored that was not sent.
            all_stored = all(r["nginx_202"] <= r["stored"] <=
                             r["nginx_202"] + r["nginx_499"] and
                             r["nginx_202"] >= r["requests"] and
                             r["nginx_other"] == 0 for r in wrk["webhook"])
            ratio = w["rps"] / nw["rps"]
            row("1", "webhook ingest, 2 KB signed, nginx+pool of 4",
                "%.0f req/s, %s" % (w["rps"], lat(w)),
                "no-op %.0f req/s, %s" % (nw["rps"], lat(nw)),
                "%.2f" % ratio, ">= 0.5", yn(ratio >= 0.5))
            row("1", "  same, against nginx's static file",
                "%.0f req/s" % w["rps"],
                "static %.0f req/s, %s" % (st["rps"], lat(st)),
                "%.2f" % (w["rps"] / st["rps"]), "-", "-")
            row("1", "  non-2xx; stored / nginx 202 (+499) / wrk completed",
                "%d; %s" % (non2xx, ", ".join(
                    "%d / %d (+%d) / %d" % (r["stored"], r["nginx_202"],
                                            r["nginx_499"], r["requests"])
                    for r in wrk["webhook"])),
                "-", "-", "0; all stored", yn(non2xx == 0 and all_stored))
            ratio = h["rps"] / nh["rps"]
            od = R.get("ingest_caldav_down")
            if od:
                row("1", "  same while CalDAV is down",
                    "%.0f req/s, %s, non-2xx %d, stored %d" % (
                        od["rps"], lat(od), od["non2xx"], od["stored"]),
                    "CalDAV up %.0f req/s" % w["rps"],
                    "%.2f" % (od["rps"] / w["rps"]), "-", "-")
            mc = R.get("micro")
            if mc:
                u = mc["one"]["us"]
                row("1", "  in-process, 1 process: us per webhook",
                    "receive %.0f (HMAC %.0f, JSON %.0f, issue %.0f, store "
                    "push %.0f, counter %.0f); drain %.0f (apply %.0f)" % (
                        u["receive"], u["hmac"], u["json_parse"],
                        u["issue_parse"], u["store_push"], u["counter"],
                        u["drain"], u["apply_unchanged"]),
                    "-", "-", "-", "-")
                row("1", "  in-process, 4 processes, one store",
                    "%.0f webhooks/s received+drained, CPU %.0f us each" % (
                        mc["four"]["procs_per_s"], mc["four"]["procs_cpu_us"]),
                    "-", "-", "-", "-")
            row("2", "GET /api/v1/health",
                "%.0f req/s, %s" % (h["rps"], lat(h)),
                "no-op %.0f req/s, %s" % (nh["rps"], lat(nh)),
                "%.2f" % ratio, ">= 0.8", yn(ratio >= 0.8))
        L = R.get("latency")
        if L:
            row("3", "webhook -> event readable in Radicale (n=%d)" % L["n"],
                "p50 %.1f / p99 %.1f ms" % (L["p50_ms"], L["p99_ms"]),
                "PUT+read floor p50 %.1f / p99 %.1f ms" % (
                    L["floor_p50_ms"], L["floor_p99_ms"]),
                "%.2f" % (L["p50_ms"] / L["floor_p50_ms"]), "p50 < 50 ms",
                yn(L["p50_ms"] < 50 and L["failed"] == 0))
        c, b1 = R.get("cold_sync"), R.get("put_loop_1")
        if c and b1:
            n = R["put_bodies"]["n"]
            ratio = c["wall_s"] / b1["wall_s"]
            row("4", "cold full sync, %d events, rate limit off" % n,
                "%.1f s (%.0f ev/s); CPU %.1f s; Radicale CPU %.0f s" % (
                    c["wall_s"], n / c["wall_s"], c["user_s"] + c["sys_s"],
                    c["radicale_cpu_s"]),
                "PUT loop %.1f s (%.0f/s); Radicale CPU %.0f s" % (
                    b1["wall_s"], n / b1["wall_s"], b1["radicale_cpu_s"]),
                "%.2f" % ratio, "<= 1.25", yn(ratio <= 1.25))
        rl = R.get("cold_sync_rl")
        if rl and b1:
            ratio = rl["wall_s"] / b1["wall_s"]
            row("4", "  same, Plane limit 60/min",
                "%.1f s, %d Plane req, %d x 429" % (
                    rl["wall_s"], rl["plane_requests"], rl["plane_429"]),
                "PUT loop %.1f s" % b1["wall_s"], "%.2f" % ratio, "-", "-")
        wm = R.get("warm_sync")
        if wm:
            lb = wm["lower_bound"]
            dav = wm["wire"]["caldav"]
            dav_total = sum(dav.values())
            writes = sum(v for k, v in dav.items()
                         if k in ("PUT", "DELETE", "MKCALENDAR", "PROPPATCH"))
            exact = (wm["plane_requests"] == lb["plane"] and
                     dav_total == lb["caldav"] and writes == 0)
            row("5", "warm full sync, nothing changed: requests",
                "Plane %d, CalDAV %d (%s), writes %d" % (
                    wm["plane_requests"], dav_total,
                    " ".join("%s %d" % kv for kv in sorted(dav.items())),
                    writes),
                "bound: Plane %d, CalDAV %d, writes 0" % (
                    lb["plane"], lb["caldav"]),
                "-", "= bound", yn(exact))
            row("5", "  wall time",
                "%.2f s, CPU %.2f s" % (wm["wall_s"],
                                        wm["user_s"] + wm["sys_s"]),
                "same requests, plain loop: %.2f s" % wm["replay"]["wall_s"],
                "%.2f" % (wm["wall_s"] / wm["replay"]["wall_s"]), "-", "-")
        dm = R.get("dry_run_mem")
        if dm and len(dm) == 2:
            a, b = dm
            row("6", "sync --dry-run peak RSS, %d vs %d issues" %
                (b["issues"], a["issues"]),
                "%.1f MB" % mb(b["maxrss_kb"]), "%.1f MB" % mb(a["maxrss_kb"]),
                "%.2f" % (b["maxrss_kb"] / a["maxrss_kb"]),
                "< 32 MB at 50 000",
                yn(mb(b["maxrss_kb"]) < 32) if b["issues"] >= 50000 else
                "(quick)")
        rm = R.get("responder_mem")
        if rm:
            a = rm["after"]
            row("6", "responder after %d requests" % rm["requests"],
                "RSS %.1f MB (peak %.1f); private %.1f, PSS %.1f MB" % (
                    mb(a["VmRSS"]), mb(a["VmHWM"]), mb(a["Private"]),
                    mb(a.get("Pss", 0))),
                "no-op RSS %.1f MB; at start %.1f MB" % (
                    mb(rm["noop"]["VmRSS"]), mb(rm["before"]["VmRSS"])),
                "%.2f" % (a["VmRSS"] / rm["noop"]["VmRSS"]), "< 8 MB",
                yn(mb(a["VmHWM"]) < 8))
        b4 = R.get("put_loop_4")
        if b1 and b4:
            gain = b1["put_s"] / b4["put_s"]
            row("7", "PUT loop, 4 connections vs 1 (Radicale's headroom)",
                "%.1f s, Radicale busy %.0f%%" % (
                    b4["wall_s"], 100 * b4["radicale_cpu_s"] / b4["wall_s"]),
                "1 connection %.1f s, Radicale busy %.0f%%" % (
                    b1["wall_s"], 100 * b1["radicale_cpu_s"] / b1["wall_s"]),
                "%.2fx" % gain, "-", "-")
            if c and c.get("radicale_cpu_s", 0) > 0:
                # Radicale is one Python process: its CPU time for the
                # sync's requests is the floor any parallelism can reach.
                row("7", "  cold sync: the most a bounded multi could gain",
                    "floor ~%.0f s (Radicale's CPU time for it)" %
                    c["radicale_cpu_s"], "now %.1f s" % c["wall_s"],
                    "%.2fx" % (c["wall_s"] / c["radicale_cpu_s"]), "-", "-")
        self.rows = rows
        head = ("#", "measurement", "result", "baseline (same run)", "ratio",
                "target", "met")
        widths = [max(len(str(r[i])) for r in rows + [head])
                  for i in range(len(head))]
        lines = ["| " + " | ".join(h.ljust(widths[i])
                                   for i, h in enumerate(head)) + " |",
                 "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        for r in rows:
            lines.append("| " + " | ".join(str(v).ljust(widths[i])
                                           for i, v in enumerate(r)) + " |")
        m = R["machine"]
        foot = [
            "",
            "machine: %d CPUs, %s, kernel %s; %s, radicale %s, %s, sqlite %s, "
            "%s" % (m["nproc"], m["cpu"], m["kernel"], m["nginx"],
                    m["radicale"], m["wrk"].split(" [")[0], m["sqlite"],
                    m["libcurl"]),
            "background load (other processes) at start %.0f%%, at end %.0f%% "
            "of all CPUs; Radicale storage on %s; total %.0f s" % (
                100 * m["background_load"],
                100 * m.get("background_load_end", 0),
                R.get("radicale_storage", "?"), R.get("total_s", 0)),
        ]
        return "\n".join(lines + foot)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--tools", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", type=lambda s: [int(x) for x in s.split(",")],
                    help="comma-separated items (1-7) to run")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (logs, databases)")
    ap.add_argument("--json", help="write all results here")
    ap.add_argument("--wait-quiet", type=int, default=0, metavar="SECONDS",
                    help="first wait up to this long for the other "
                    "processes to leave the CPUs (under 15%% busy)")
    args = ap.parse_args()

    for tool in ("wrk", "nginx", "spawn-fcgi", "strace", "/usr/bin/time",
                 "/usr/bin/radicale", "openssl"):
        if shutil.which(tool) is None:
            print("bench: %s not found (make deps installs it)" % tool,
                  file=sys.stderr)
            return 2
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    b = Bench(args)
    rc = 0
    try:
        b.run()
    except KeyboardInterrupt as e:
        print("bench: interrupted (%s); stopping everything" % e,
              file=sys.stderr)
        rc = 130
    except (BenchError, subprocess.SubprocessError, OSError) as e:
        print("bench: %s" % e, file=sys.stderr)
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        CLEANUP.run_all()
    if "machine" in b.results:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(b.results, f, indent=1)
        if rc == 0 or any(k in b.results for k in ("cold_sync", "wrk")):
            try:
                table = b.table() if b.results.get("cold_sync") else None
            except Exception as e:
                table = "bench: no table (%r)" % e
            if table:
                print()
                print(table)
    return rc


if __name__ == "__main__":
    sys.exit(main())
