-- wrk script: GET /api/v1/audit-events?limit=50, rotating the bearer key over every organisation.
--
--   wrk -t2 -c64 -d20s -s bench/audit_list.lua http://127.0.0.1:8099 -- KEYS_FILE
--
-- KEYS_FILE holds one API secret per line. Every thread pre-builds one request per key and walks
-- through them round-robin from its own offset, so consecutive requests hit different organisations.
-- done() prints one line "WRK_JSON {...}" with the summary (latencies in microseconds); bench/run.py
-- parses it. wrk counts a response with status > 399 as errors.status; run.py also checks the API's
-- own per-status counters.

local PATH = "/api/v1/audit-events?limit=50"

local threads = {}
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_no", thread_count)
   table.insert(threads, thread)
end

local requests = {}
local n = 0
local i = 0

function init(args)
   local keys_file = args[1]
   if keys_file == nil then
      error("pass the keys file after --")
   end
   for line in io.lines(keys_file) do
      if line ~= "" then
         n = n + 1
         requests[n] = wrk.format("GET", PATH, {
            ["Authorization"] = "Bearer " .. line,
            ["Accept"] = "application/json",
         })
      end
   end
   if n == 0 then
      error("no keys in " .. keys_file)
   end
   -- Spread the threads' starting points over the key list (thread_no is set by setup()).
   local no = tonumber(thread_no) or 1
   i = ((no - 1) * 397) % n
end

function request()
   i = i + 1
   if i > n then
      i = 1
   end
   return requests[i]
end

function done(summary, latency, requests_)
   local result = string.format(
      '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, ' ..
      '"p50": %d, "p90": %d, "p95": %d, "p99": %d, "p99_9": %d}}',
      summary.requests, summary.duration, summary.bytes,
      summary.errors.connect, summary.errors.read, summary.errors.write,
      summary.errors.status, summary.errors.timeout,
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(95),
      latency:percentile(99), latency:percentile(99.9))
   io.write("WRK_JSON " .. result .. "\n")
end
