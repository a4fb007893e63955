-- wrk_bench.lua - the wrk side of tests/bench/bench.py.
--
--   BENCH_MODE=get      the URL given to wrk, as wrk builds it (no Lua per
--                       request: the static file, the health endpoints)
--   BENCH_MODE=webhook  POST /webhooks/plane, cycling through the signed
--                       bodies of BENCH_REQUESTS (lines "signature TAB body",
--                       made by bench.py from the simulator's
--                       /_sim/webhook_payload); every request gets its own
--                       X-Plane-Delivery "<BENCH_RUN_ID>-<thread>-<n>", so no
--                       two are duplicates (the signature covers only the body)
--   BENCH_MODE=mix      webhooks and GET /api/v1/health taking turns
--
-- BENCH_MAX_REQUESTS, if set, stops each of the BENCH_THREADS threads
-- after its share of that many responses (for "a responder after 100 000
-- requests").
--
-- done() prints one JSON line starting with BENCH_JSON for bench.py.

local mode = os.getenv("BENCH_MODE") or "get"
local run_id = os.getenv("BENCH_RUN_ID") or "bench"
local max_total = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0") or 0
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1") or 1

local threads = {}
local next_tid = 1

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

if mode == "webhook" or mode == "mix" then
   local sigs, bodies = {}, {}
   local n, i = 0, 0

   function init(args)
      local f = assert(io.open(os.getenv("BENCH_REQUESTS"), "r"))
      for line in f:lines() do
         local tab = line:find("\t", 1, true)
         if tab then
            sigs[#sigs + 1] = line:sub(1, tab - 1)
            bodies[#bodies + 1] = line:sub(tab + 1)
         end
      end
      f:close()
      assert(#bodies > 0, "no requests in BENCH_REQUESTS")
      -- Threads start at different places in the list.
      i = ((tid or 1) - 1) * 7919 % #bodies
   end

   function request()
      n = n + 1
      if mode == "mix" and n % 2 == 0 then
         return wrk.format("GET", "/api/v1/health")
      end
      i = i % #bodies + 1
      return wrk.format("POST", "/webhooks/plane", {
         ["Content-Type"] = "application/json",
         ["User-Agent"] = "Autopilot",
         ["X-Plane-Event"] = "issue",
         ["X-Plane-Signature"] = sigs[i],
         ["X-Plane-Delivery"] = string.format("%s-%d-%d", run_id, tid or 0, n),
      }, bodies[i])
   end
end

if max_total > 0 then
   local seen = 0
   function response(status, headers, body)
      seen = seen + 1
      if seen >= max_total / nthreads then
         wrk.thread:stop()
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
