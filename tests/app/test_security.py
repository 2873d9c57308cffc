"""Security (issue §2, §3): lockout, throttling, rate limits, Redis failure,
sessions, cookies, CSRF, response headers, and how secrets are stored."""

from __future__ import annotations

import base64
import hashlib
import socket
import time

import pytest
from argon2 import PasswordHasher
from conftest import (
    ISSUER,
    MYSQL_URL,
    PASSWORD,
    REDIS_URL,
    _empty_mysql,
    authorize_params,
    basic,
    csrf_of,
    get_code,
    login,
    pkce_pair,
    redeem,
    register,
)
from fastapi.testclient import TestClient
from gatehouse.accounts.users import create_user_as_system as create_user
from gatehouse.crypto.key_set import rotate
from gatehouse.services import build
from gatehouse.settings import load_settings
from gatehouse.store.migrate import migrate
from gatehouse.store.models import AuthorizationCode, Client, Consent, RefreshToken, Session, User
from gatehouse.web.app import create_app

LOCKED = "Too many failed sign-in attempts"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def env(env, request):
    """Per-test settings through indirect parametrization: @pytest.mark.parametrize("env", [{...}], indirect=True)."""
    env.update(getattr(request, "param", {}))
    return env


def away_from_a_window_edge(window: int = 60, margin: float = 3.0) -> None:
    """Fixed-window counters reset at each window's start; do not straddle one."""
    into = time.time() % window
    if into > window - margin:
        time.sleep(window - into + 0.05)


def client_credentials(http, service):
    return http.post("/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*service))


def signed_in(user) -> bool:
    return Session.select().where(Session.user_id == user.id).exists()


# Lockout --------------------------------------------------------------------


def test_five_failures_lock_the_account_even_with_the_right_password(http, user):
    for _ in range(4):
        assert login(http, password="wrong password").status_code == 401
    locking = login(http, password="wrong password")
    assert locking.status_code == 429 and LOCKED in locking.text
    refused = login(http)
    assert refused.status_code == 429 and LOCKED in refused.text
    assert "location" not in refused.headers
    assert not signed_in(user)


@pytest.mark.parametrize("env", [{"LOGIN_MAX_FAILURES": "2", "LOGIN_LOCKOUT_SECONDS": "3"}], indirect=True)
def test_lockout_threshold_and_duration_are_configurable(http, user):
    for _ in range(2):
        login(http, password="wrong password")
    locked_by = time.monotonic()  # the lock was set before this instant
    assert login(http).status_code == 429
    time.sleep(max(0.0, locked_by + 3.2 - time.monotonic()))
    assert login(http).status_code == 303
    assert signed_in(user)


def test_success_before_the_threshold_resets_the_failure_count(http, user):
    for _ in range(4):
        login(http, password="wrong password")
    assert login(http).status_code == 303
    for _ in range(4):
        login(http, password="wrong password")
    assert login(http).status_code == 303


def test_lockout_ignores_the_case_of_the_username(http, user):
    for _ in range(5):
        login(http, username="ALICE", password="wrong password")
    assert login(http).status_code == 429


def test_lockout_folds_case_by_the_rule_sign_in_uses(http, state):
    """Lockout counters are keyed by username_key: what locks an account is what signs in as it."""
    strasse = create_user("Straße", PASSWORD)
    for _ in range(5):
        login(http, username="STRASSE", password="wrong password")
    assert login(http, username="straße").status_code == 429
    assert not signed_in(strasse)


def test_locking_a_username_leaves_its_accented_twin_open(http, state):
    create_user("jose", PASSWORD)
    accented = create_user("José", PASSWORD)
    for _ in range(5):
        login(http, username="jose", password="wrong password")
    assert login(http, username="JOSE").status_code == 429
    assert login(http, username="josé").status_code == 303
    assert signed_in(accented)


def test_unknown_and_known_usernames_fail_and_lock_alike(http, user):
    unknown = login(http, username="nobody", password="wrong password")
    known = login(http, username="alice", password="wrong password")
    assert unknown.status_code == known.status_code == 401
    assert "Invalid username or password." in unknown.text and "Invalid username or password." in known.text
    for _ in range(4):
        login(http, username="nobody", password="wrong password")
    assert login(http, username="nobody", password="anything at all").status_code == 429


@pytest.mark.skipif(not REDIS_URL, reason="needs Redis (the MariaDB + Redis run)")
def test_lockout_is_shared_by_every_process_through_redis(http, second_app, user):
    for _ in range(5):
        login(http, password="wrong password")
    refused = login(second_app)
    assert refused.status_code == 429 and LOCKED in refused.text


# Throttling and rate limits -------------------------------------------------


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


# Redis unreachable ----------------------------------------------------------


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
    env["REDIS_URL"] = f"redis://127.0.0.1:{closed_port()}/0"
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


# Sessions and cookies -------------------------------------------------------


def session_cookie_header(response) -> str:
    headers = [v for k, v in response.headers.multi_items() if k == "set-cookie" and "gatehouse_session=" in v]
    assert headers, response.headers
    return headers[-1].lower()


def test_session_cookie_is_httponly_samesite_lax_and_secure_on_https(http, user):
    cookie = session_cookie_header(http.get("/login"))
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie and "path=/" in cookie
    signed = session_cookie_header(login(http))
    assert "httponly" in signed and "samesite=lax" in signed and "secure" in signed


@pytest.mark.parametrize("env", [{"ISSUER": "http://127.0.0.1:3001"}], indirect=True)
def test_session_cookie_is_not_secure_when_the_issuer_is_http(http):
    cookie = session_cookie_header(http.get("/login"))
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie


def test_login_issues_a_new_session_id(http, state, user):
    csrf_before = csrf_of(http.get("/login").text)
    before = http.cookies.get(state.settings.session_cookie)  # a visitor's: no row behind it
    login(http)
    after = http.cookies.get(state.settings.session_cookie)
    assert before and after and before != after
    assert Session.select().count() == 1  # the signed-in session only
    assert state.sessions.load(before) is None
    assert state.sessions.load(after).csrf_token != csrf_before


def test_login_whose_session_vanished_meanwhile_still_signs_in(state, user):
    value, row = state.sessions.create()
    Session.delete().execute()  # e.g. logged out in another tab while the password was checked
    new_value, new_row = state.sessions.rotate(row, user_id=user.id, auth_time=1)
    assert state.sessions.load(new_value).user_id == user.id and state.sessions.load(value) is None


def test_sessions_are_stored_as_a_keyed_digest_of_the_cookie(http, state, user):
    login(http)
    cookie = http.cookies.get(state.settings.session_cookie)
    ids = [s.id for s in Session.select()]
    assert cookie not in ids
    assert hashlib.sha256(cookie.encode()).hexdigest() not in ids  # keyed (HMAC), not a bare hash


def test_expired_session_sends_the_user_back_to_login(http, user, webapp):
    login(http)
    Session.update(expires_at=int(time.time()) - 1).execute()
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", pkce_pair()[1]))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?")


def test_logout_ends_the_session_and_clears_the_cookie(http, user):
    login(http)
    csrf = csrf_of(http.get("/logout").text)
    response = http.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 200
    assert not signed_in(user)
    assert "max-age=0" in session_cookie_header(response)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_login_never_redirects_off_site(http, user, target):
    response = login(http, return_to=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


# CSRF -----------------------------------------------------------------------


def test_every_form_carries_a_csrf_token(http, user, webapp):
    assert csrf_of(http.get("/login").text)
    login(http)
    assert csrf_of(http.get("/logout").text)
    consent = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", pkce_pair()[1]))
    assert consent.status_code == 200 and csrf_of(consent.text)


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_login_without_the_sessions_csrf_token_is_refused(http, user, token):
    http.get("/login")
    data = {"username": "alice", "password": PASSWORD, "return_to": "/"}
    if token is not None:
        data["csrf_token"] = token
    response = http.post("/login", data=data)
    assert response.status_code == 400
    assert not signed_in(user)


def test_csrf_token_of_another_session_is_refused(http, app, user):
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as other:
        foreign = csrf_of(other.get("/login").text)
    http.get("/login")
    response = http.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": foreign})
    assert response.status_code == 400
    assert not signed_in(user)


def test_consent_without_csrf_token_is_refused_and_grants_nothing(http, user, webapp):
    login(http)
    page = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", pkce_pair()[1]))
    original = page.text.split('name="request" value="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    response = http.post("/consent", data={"request": original, "decision": "allow"})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert Consent.select().count() == 0
    assert AuthorizationCode.select().count() == 0


def test_logout_without_csrf_token_keeps_the_session(http, user):
    login(http)
    response = http.post("/logout", data={})
    assert response.status_code == 400
    assert signed_in(user)


def test_rp_logout_confirmation_without_csrf_token_keeps_the_session(http, user, webapp):
    login(http)
    response = http.post("/api/v2/oauth/logout", data={"confirm": "yes", "client_id": "webapp"})
    assert response.status_code == 200
    assert 'name="csrf_token"' in response.text  # asked again
    assert signed_in(user)


# Response headers -------------------------------------------------------------


def assert_not_framable(response):
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


def test_pages_cannot_be_framed_and_send_no_referrer(http, user, webapp):
    assert_not_framable(http.get("/login"))
    assert_not_framable(http.get("/logout"))
    assert_not_framable(http.get("/api/v2/oauth/authorize", params={"client_id": "nobody"}))  # the error page
    login(http)
    consent = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", pkce_pair()[1]))
    assert consent.status_code == 200
    assert_not_framable(consent)
    assert_not_framable(http.get("/api/v2/oauth/logout", params={"client_id": "webapp"}))


def test_pages_are_not_cached(http):
    assert http.get("/login").headers["cache-control"] == "no-store"


def test_json_answers_are_not_sniffed(http):
    assert http.get("/health").headers["x-content-type-options"] == "nosniff"


# Stored secrets ---------------------------------------------------------------


def test_client_secret_is_stored_as_its_sha256_digest(state, webapp):
    client_id, secret = webapp
    row = Client.get(Client.client_id == client_id)
    assert row.client_secret_digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in row.client_secret_digest


def test_client_secrets_carry_at_least_128_bits(state):
    secrets = [register(client_id=f"c{i}")[1] for i in range(3)]
    assert len(set(secrets)) == 3
    for secret in secrets:
        assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) >= 16


def test_wrong_client_secret_is_refused(http, service):
    response = client_credentials(http, (service[0], service[1][:-1] + ("A" if service[1][-1] != "A" else "B")))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_user_password_is_stored_as_argon2id_with_the_configured_parameters(state, user, settings):
    stored = User.get_by_id(user.id).password_hash
    assert stored.startswith("$argon2id$")
    assert f"m={settings.argon2_memory_cost},t={settings.argon2_time_cost},p={settings.argon2_parallelism}" in stored
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)


def test_codes_and_refresh_tokens_are_stored_as_digests(http, user, webapp):
    code, verifier, _ = get_code(http)
    assert AuthorizationCode.get().code_digest == hashlib.sha256(code.encode()).hexdigest()
    refresh = redeem(http, code, verifier, webapp).json()["refresh_token"]
    assert RefreshToken.get().token_digest == hashlib.sha256(refresh.encode()).hexdigest()
