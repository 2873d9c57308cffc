"""Redis unreachable: tokens, the code flow and revocations
keep working from the database, limits and lockout fall back to the process,
/health says degraded, and a circuit breaker keeps requests from waiting on Redis."""

from __future__ import annotations

import time

import pytest
from conftest import ISSUER, MYSQL_URL, PASSWORD, _empty_mysql, basic, get_code, login, redeem, register
from fastapi.testclient import TestClient
from gatehouse.accounts.users import create_user_as_system as create_user
from gatehouse.crypto.key_set import rotate
from gatehouse.services import build
from gatehouse.settings import load_settings
from gatehouse.store.migrate import migrate
from gatehouse.web.app import create_app
from helpers import away_from_a_window_edge, client_credentials, free_port


def build_state(env):
    """Like conftest's `state`, for settings whose Redis cannot be flushed (it is not there)."""
    settings = load_settings(env)
    gatehouse = build(settings)
    if MYSQL_URL:
        _empty_mysql(gatehouse.database)
    migrate()
    rotate(gatehouse.keys.keys_dir, settings.jwt_algorithm, settings.max_token_lifetime)
    gatehouse.keys.load()
    return gatehouse


@pytest.fixture
def redis_down(env):
    env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env["RATE_LIMIT_TOKEN_PER_MINUTE"] = "3"
    gatehouse = build_state(env)
    with TestClient(create_app(state=gatehouse), base_url=ISSUER, follow_redirects=False) as client:
        yield client
    gatehouse.close()


@pytest.fixture
def service_without_redis(redis_down):
    return register(
        client_id="service",
        name="Backend Service",
        redirect_uris=[],
        post_logout_redirect_uris=[],
        grant_types=["client_credentials"],
        scope="api:read",
    )


def test_tokens_are_still_issued_when_redis_is_unreachable(redis_down, service_without_redis):
    response = client_credentials(redis_down, service_without_redis)
    assert response.status_code == 200, response.text


def test_code_flow_still_works_when_redis_is_unreachable(redis_down):
    create_user("alice", PASSWORD)
    webapp = register()
    code, verifier, _ = get_code(redis_down)
    assert redeem(redis_down, code, verifier, webapp).status_code == 200


def test_revoked_tokens_stay_inactive_when_redis_is_unreachable(redis_down, service_without_redis):
    """Without Redis to announce revocations, every check asks the database."""
    token = client_credentials(redis_down, service_without_redis).json()["access_token"]
    introspect = {"data": {"token": token}, "headers": basic(*service_without_redis)}
    assert redis_down.post("/api/v2/oauth/introspect", **introspect).json()["active"]
    assert redis_down.post("/api/v2/oauth/revoke", **introspect).status_code == 200
    assert redis_down.post("/api/v2/oauth/introspect", **introspect).json() == {"active": False}
    assert not redis_down.app.state.gatehouse.tokens.revocations.mirrored


def test_health_reports_the_cache_disconnected_and_status_degraded(redis_down):
    response = redis_down.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["dependencies"]["cache"]["status"] == "disconnected"
    assert body["dependencies"]["database"]["status"] == "connected"


def test_limits_fall_back_to_per_process_counters_when_redis_is_unreachable(redis_down, service_without_redis):
    away_from_a_window_edge()
    for _ in range(3):
        assert client_credentials(redis_down, service_without_redis).status_code == 200
    assert client_credentials(redis_down, service_without_redis).status_code == 429


def test_lockout_falls_back_to_the_process_when_redis_is_unreachable(redis_down):
    create_user("alice", PASSWORD)
    for _ in range(5):
        login(redis_down, password="wrong password")
    assert login(redis_down).status_code == 429


def test_unreachable_redis_does_not_slow_every_request(redis_down, service_without_redis):
    """The circuit breaker: after the first failure, requests skip Redis instead of waiting on it."""
    client_credentials(redis_down, service_without_redis)
    started = time.perf_counter()
    for _ in range(3):
        redis_down.get("/.well-known/openid-configuration")
    assert time.perf_counter() - started < 2.0
