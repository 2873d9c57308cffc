-- Password login (POST /login) with the right password. Each form rides on
-- its own anonymous session (cookie + CSRF token) from the pool: a login
-- ends the session that carried the form, so each line is good once.
local common = require "common"
setup, done = common.setup, common.done

local cookies, bodies, n

function init(args)
  cookies, bodies = {}, {}
  for _, line in ipairs(common.read_pool(common.env("BENCH_POOL"), id, tonumber(common.env("BENCH_WRK_THREADS")))) do
    local tab = line:find("\t", 1, true)
    cookies[#cookies + 1] = line:sub(1, tab - 1)
    bodies[#bodies + 1] = line:sub(tab + 1)
  end
  n = 0
  exhausted = 0
  unexpected = 0
end

-- Success is a 303 to return_to; a 200 would be the form again.
function response(status, headers, body)
  if status ~= 303 then unexpected = unexpected + 1 end
end

function request()
  n = n + 1
  if n > #bodies then
    exhausted = exhausted + 1
    n = 1
  end
  return wrk.format("POST", "/login", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = cookies[n],
  }, bodies[n])
end
