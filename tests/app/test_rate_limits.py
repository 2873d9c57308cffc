"""Rate limits: sign-in attempts per address and token
requests per client, in fixed one-minute windows, answered 429 with Retry-After;
shared by every process through Redis."""

from __future__ import annotations

import time

import pytest
from conftest import REDIS_URL, basic, login
from helpers import TOKEN, away_from_a_window_edge, client_credentials, signed_in


@pytest.mark.parametrize("env", [{"RATE_LIMIT_LOGIN_PER_MINUTE": "3"}], indirect=True)
def test_login_attempts_per_address_are_throttled(http, user):
    away_from_a_window_edge()
    for name in ("a1", "a2", "a3"):
        assert login(http, username=name, password="wrong password").status_code == 401
    throttled = login(http)
    assert throttled.status_code == 429
    assert not signed_in(user)


@pytest.mark.parametrize("env", [{"RATE_LIMIT_TOKEN_PER_MINUTE": "3"}], indirect=True)
def test_token_endpoint_limits_each_client_with_429_and_retry_after(http, service, webapp):
    away_from_a_window_edge()
    for _ in range(3):
        assert client_credentials(http, service).status_code == 200
    limited = client_credentials(http, service)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert limited.headers["cache-control"] == "no-store"
    assert limited.json()["error"]
    # Another client has its own budget.
    other = http.post(
        "/api/v2/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x"}, headers=basic(*webapp)
    )
    assert other.status_code == 400


@pytest.mark.parametrize("env", [{"RATE_LIMIT_TOKEN_PER_MINUTE": "2"}], indirect=True)
def test_failed_authentication_does_not_spend_the_clients_rate_limit(http, service):
    for _ in range(5):
        assert (
            http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("service", "wrong")).status_code
            == 401
        )
    for _ in range(2):
        assert http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*service)).status_code == 200
    limited = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*service))
    assert limited.status_code == 429
    assert limited.json()["error"] == "slow_down"
    assert limited.headers["retry-after"] == "60"


@pytest.mark.parametrize("env", [{"RATE_LIMIT_TOKEN_PER_MINUTE": "1", "RATE_LIMIT_ENABLED": "false"}], indirect=True)
def test_rate_limits_can_be_disabled(http, service):
    for _ in range(3):
        assert client_credentials(http, service).status_code == 200


@pytest.mark.skipif(not REDIS_URL, reason="needs Redis (the MariaDB + Redis run)")
@pytest.mark.parametrize("env", [{"RATE_LIMIT_TOKEN_PER_MINUTE": "4"}], indirect=True)
def test_token_rate_limit_is_shared_by_every_process_through_redis(http, second_app, service):
    from gatehouse.runtime.ratelimit import Limiter

    away_from_a_window_edge()
    # Each process adds its hits to the shared counter at least every
    # SYNC_SECONDS; past that, every process sees the others' hits.
    for client in (http, second_app, http, second_app):
        assert client_credentials(client, service).status_code == 200
        time.sleep(Limiter.SYNC_SECONDS * 2)
    assert client_credentials(second_app, service).status_code == 429
    assert client_credentials(http, service).status_code == 429
