-- client_credentials token requests (RFC 6749 §4.4), client_secret_basic.
local common = require "common"
setup, done = common.setup, common.done

wrk.method = "POST"
wrk.path = "/api/v2/oauth/token"
wrk.headers["Authorization"] = "Basic " .. common.env("BENCH_CC_BASIC")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=client_credentials"
