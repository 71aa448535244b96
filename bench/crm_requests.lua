-- wrk script for bench/crm.py: GET requests read from a file, each with its own organisation's API key.
--
--   wrk -t2 -c32 -d20s -s bench/crm_requests.lua http://127.0.0.1:8098 -- REQUESTS_FILE THREADS [cache]
--
-- REQUESTS_FILE holds one request per line: "<API secret><TAB><path and query>". Thread t of THREADS
-- takes lines t, t + THREADS, t + 2 * THREADS, ... so two threads never send the same line, and a file
-- of distinct URLs gives distinct requests until it runs out (then it starts over). With "cache", every
-- response's Cache-Status header is counted (a hit, or anything else); without it wrk skips the
-- header parsing. done() prints one line "WRK_JSON {...}" (latencies in microseconds) that crm.py reads;
-- wrk counts responses with a status above 399 as errors.status.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_no", #threads)
end

local requests = {}
local n = 0
local i = 0
local stride = 1

hits = 0
others = 0
ok = 0
not_ok = 0

local function count(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      not_ok = not_ok + 1
   end
   local cache_status = headers["cache-status"] or headers["Cache-Status"]
   if cache_status ~= nil and string.find(cache_status, "; hit", 1, true) then
      hits = hits + 1
   else
      others = others + 1
   end
end

function init(args)
   local file = args[1]
   if file == nil then
      error("pass the requests file after --")
   end
   stride = tonumber(args[2]) or 1
   for line in io.lines(file) do
      local key, path = string.match(line, "^([^\t]+)\t(.+)$")
      if key ~= nil then
         n = n + 1
         requests[n] = wrk.format("GET", path, {
            ["Authorization"] = "Bearer " .. key,
            ["Accept"] = "application/json",
         })
      end
   end
   if n == 0 then
      error("no requests in " .. file)
   end
   i = (tonumber(thread_no) or 1) - stride
   if args[3] == "cache" then
      response = count
   end
end

function request()
   i = i + stride
   if i > n then
      i = ((i - 1) % stride) + 1
   end
   return requests[i]
end

function done(summary, latency, requests_)
   local h, o, good, bad = 0, 0, 0, 0
   for _, thread in ipairs(threads) do
      h = h + (thread:get("hits") or 0)
      o = o + (thread:get("others") or 0)
      good = good + (thread:get("ok") or 0)
      bad = bad + (thread:get("not_ok") or 0)
   end
   local result = string.format(
      '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"cache": {"hits": %d, "others": %d, "ok": %d, "not_ok": %d}, ' ..
      '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, ' ..
      '"p50": %d, "p90": %d, "p95": %d, "p99": %d, "p99_9": %d}}',
      summary.requests, summary.duration, summary.bytes,
      summary.errors.connect, summary.errors.read, summary.errors.write,
      summary.errors.status, summary.errors.timeout,
      h, o, good, bad,
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(95),
      latency:percentile(99), latency:percentile(99.9))
   io.write("WRK_JSON " .. result .. "\n")
end
