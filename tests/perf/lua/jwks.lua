-- The JWKS document (GET /jwks.json).
local common = require "common"
setup, done = common.setup, common.done

wrk.method = "GET"
wrk.path = "/jwks.json"
