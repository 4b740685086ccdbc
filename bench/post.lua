-- wrk script for bench/chat.py: POST a JSON body, stop after a request budget, print one
-- JSON line (prefixed BENCH_JSON) with the same fields as bench/loadgen.py.
-- Environment: BENCH_BODY_FILE (the body), BENCH_KEYS_FILE (API keys, one a line, used in
-- turn; optional), BENCH_MAX_REQUESTS (per wrk thread). "sent" counts requests written, including the ones
-- still in flight when the time is up (wrk drops those; the server still answers them).

local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local keys = {}
local keys_file = os.getenv("BENCH_KEYS_FILE")
if keys_file and keys_file ~= "" then
  for line in io.lines(keys_file) do
    if line ~= "" then
      table.insert(keys, line)
    end
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  budget = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "1000000000")
  seen = 0
  n2xx = 0
  n4xx = 0
  n5xx = 0
  nother = 0
  sent = 0
  prepared = {}
  for i, key in ipairs(keys) do
    wrk.headers["Authorization"] = "Bearer " .. key
    prepared[i] = wrk.format()
  end
  if #prepared == 0 then
    prepared[1] = wrk.format()
  end
end

function request()
  sent = sent + 1
  return prepared[(sent - 1) % #prepared + 1]
end

function response(status, headers, body)
  seen = seen + 1
  if status >= 200 and status < 300 then
    n2xx = n2xx + 1
  elseif status >= 400 and status < 500 then
    n4xx = n4xx + 1
  elseif status >= 500 then
    n5xx = n5xx + 1
  else
    nother = nother + 1
  end
  if seen >= budget then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local c2, c4, c5, co, ns = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    ns = ns + (t:get("sent") or 0)
    c2 = c2 + (t:get("n2xx") or 0)
    c4 = c4 + (t:get("n4xx") or 0)
    c5 = c5 + (t:get("n5xx") or 0)
    co = co + (t:get("nother") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"tool":"wrk","requests":%d,"sent":%d,"seconds":%.6f,"non_2xx":%d,'
      .. '"status":{"2xx":%d,"4xx":%d,"5xx":%d,"other":%d},'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
      .. '"latency_ms":{"p50":%.3f,"p95":%.3f,"p99":%.3f,"max":%.3f,"mean":%.3f}}\n',
    summary.requests, ns, summary.duration / 1e6, e.status, c2, c4, c5, co,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
