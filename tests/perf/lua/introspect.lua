-- Introspection (RFC 7662) of a valid user access token, client_secret_basic.
local common = require "common"
setup, done = common.setup, common.done

wrk.method = "POST"
wrk.path = "/api/v2/oauth/introspect"
wrk.headers["Authorization"] = "Basic " .. common.env("BENCH_WEB_BASIC")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "token=" .. common.env("BENCH_ACCESS_TOKEN") .. "&token_type_hint=access_token"
