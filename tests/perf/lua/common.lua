-- Shared by the scenario scripts (found through LUA_PATH, which run.py sets).
-- done() prints one `BENCH_JSON {...}` line that run.py parses; pools are
-- files of single-use lines (refresh tokens, login forms), split between
-- wrk threads so that no line is ever sent twice.
local M = {}
local threads = {}

function M.setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- This thread's share of a pool file: lines i with i % nthreads == id.
function M.read_pool(path, id, nthreads)
  local pool, i = {}, 0
  for line in io.lines(path) do
    if i % nthreads == id then pool[#pool + 1] = line end
    i = i + 1
  end
  return pool
end

function M.env(name)
  local value = os.getenv(name)
  if value == nil or value == "" then error(name .. " is not set (run.py sets it)") end
  return value
end

function M.done(summary, latency, requests)
  local exhausted, unexpected = 0, 0
  for _, t in ipairs(threads) do
    exhausted = exhausted + (t:get("exhausted") or 0)
    unexpected = unexpected + (t:get("unexpected") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p75_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"p999_us":%d,"mean_us":%.1f,"max_us":%d,"exhausted":%d,"unexpected":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max, exhausted, unexpected))
end

return M
