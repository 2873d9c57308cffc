-- refresh_token grant: every request presents a fresh token from the pool.
-- Tokens rotate, so each is good once; a reused one would be a replay that
-- revokes its grant. When the pool runs out, `exhausted` counts the
-- requests sent past its end and run.py declares the figure invalid.
local common = require "common"
setup, done = common.setup, common.done

local pool, n, headers

function init(args)
  pool = common.read_pool(common.env("BENCH_POOL"), id, tonumber(common.env("BENCH_WRK_THREADS")))
  n = 0
  exhausted = 0
  headers = {
    ["Authorization"] = "Basic " .. common.env("BENCH_WEB_BASIC"),
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }
end

function request()
  n = n + 1
  if n > #pool then
    exhausted = exhausted + 1
    n = 1
  end
  return wrk.format("POST", "/api/v2/oauth/token", headers, "grant_type=refresh_token&refresh_token=" .. pool[n])
end
