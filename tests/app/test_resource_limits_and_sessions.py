"""Security review findings: request body limits, session rows, SESSION_SECRET,
the idle timeout and the `__Host-` cookie prefix.

Bodies are checked three ways: through the TestClient (Content-Length and a
generator body, which the TestClient hands over without Content-Length),
straight through the ASGI app with a body that never ends (it must be
refused having read no more than the limit), and against a real uvicorn
over a socket (the answer comes while the client is still sending).
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time

import pytest
from conftest import ISSUER, PASSWORD, authorize_params, basic, csrf_of, login, pkce_pair, serving
from fastapi.testclient import TestClient
from gatehouse.accounts.sessions import Sessions
from gatehouse.errors import ConfigError
from gatehouse.settings import load_settings
from gatehouse.store.models import Session

LIMIT = 64 * 1024
ADMIN_LIMIT = 256 * 1024
FORM = "application/x-www-form-urlencoded"

# (path, content type) of every kind of route that reads a body
FORM_ROUTES = [
    ("/api/v2/oauth/token", FORM),  # a hot route: called without FastAPI's stack
    ("/api/v2/oauth/introspect", FORM),
    ("/api/v2/oauth/revoke", FORM),
    ("/api/v2/oauth/authorize", FORM),
    ("/api/v2/oauth/logout", FORM),
    ("/login", FORM),
    ("/logout", FORM),
    ("/consent", FORM),
]
ADMIN_ROUTES = [
    ("/api/v2/admin/permissions", "application/json"),
    ("/admin/users", FORM),  # the portal
]


def assert_too_large(response, limit=LIMIT):
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "invalid_request"
    assert str(limit) in body["error_description"]
    assert response.headers["cache-control"] == "no-store"


@pytest.fixture
def admin_session(http, admin_user):
    """Signed in as an admin through /login; returns the session's CSRF token (for the portal and X-CSRF-Token)."""
    assert login(http, "root-admin", return_to="/admin/").status_code == 303
    return csrf_of(http.get("/admin/users").text)


# 1. Request bodies ----------------------------------------------------------------


@pytest.mark.parametrize("path, content_type", FORM_ROUTES)
def test_a_body_over_the_limit_is_refused_from_its_content_length(http, user, path, content_type):
    response = http.post(path, content=b"a=" + b"x" * LIMIT, headers={"Content-Type": content_type})
    assert_too_large(response)


@pytest.mark.parametrize("path, content_type", FORM_ROUTES)
def test_a_chunked_body_over_the_limit_is_refused(http, user, path, content_type):
    def chunks():
        for _ in range(LIMIT // 1024 + 1):
            yield b"x" * 1024

    response = http.post(path, content=chunks(), headers={"Content-Type": content_type})
    assert_too_large(response)


@pytest.mark.parametrize("path, content_type", ADMIN_ROUTES)
def test_admin_routes_refuse_a_body_over_their_own_limit(http, admin_session, path, content_type):
    headers = {"Content-Type": content_type, "X-CSRF-Token": admin_session}
    big = http.post(path, content=b" " * (ADMIN_LIMIT + 1), headers=headers)
    assert_too_large(big, ADMIN_LIMIT)

    def chunks():
        for _ in range(ADMIN_LIMIT // 4096 + 1):
            yield b" " * 4096

    assert_too_large(http.post(path, content=chunks(), headers=headers), ADMIN_LIMIT)


def test_a_declared_content_length_over_the_limit_is_refused_before_any_byte_is_read(app, user):
    async def receive():
        raise AssertionError("the body was read")

    status, body, consumed = run_asgi(app, "POST", "/login", receive, [(b"content-length", b"209715200")])
    assert status == 413
    assert json.loads(body)["error"] == "invalid_request"


@pytest.mark.parametrize("path, content_type", [*FORM_ROUTES, *ADMIN_ROUTES])
def test_a_body_that_never_ends_is_read_as_a_capped_stream_and_refused(app, http, admin_session, path, content_type):
    """The app reads a chunked body of unbounded size: refused after at most the limit, never read whole."""
    limit = ADMIN_LIMIT if (path, content_type) in ADMIN_ROUTES else LIMIT
    chunk = b" " * 4096
    consumed = [0]

    async def receive():
        consumed[0] += 1
        assert consumed[0] < 10_000, "the app kept reading past the limit"
        return {"type": "http.request", "body": chunk, "more_body": True}

    name = app.state.gatehouse.settings.session_cookie
    cookie = f"{name}={http.cookies[name]}"
    headers = [(b"content-type", content_type.encode()), (b"cookie", cookie.encode())]
    headers.append((b"x-csrf-token", admin_session.encode()))
    status, body, _ = run_asgi(app, "POST", path, receive, headers)
    assert status == 413, body
    assert json.loads(body)["error"] == "invalid_request"
    assert consumed[0] * len(chunk) <= limit + len(chunk)


def test_a_body_under_the_limit_still_works(http, service, admin_session):
    padding = "x" * (LIMIT - 200)
    response = http.post(
        "/api/v2/oauth/token",
        data={"grant_type": "client_credentials", "scope": "api:read", "padding": padding},
        headers=basic(*service),
    )
    assert response.status_code == 200, response.text
    assert response.json()["token_type"].lower() == "bearer"
    # The admin API takes more than the forms' limit (a client with 40 redirect URIs is ~85 KB).
    body = json.dumps({"name": "reports:read"}).encode() + b" " * (LIMIT * 2)
    created = http.post(
        "/api/v2/admin/permissions",
        content=body,
        headers={"Content-Type": "application/json", "X-CSRF-Token": admin_session},
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    "env", [{"MAX_REQUEST_BODY_BYTES": "2048", "ADMIN_MAX_REQUEST_BODY_BYTES": "4096"}], indirect=True
)
def test_the_body_limits_are_settings(http, user):
    assert_too_large(http.post("/login", content=b"x" * 2049, headers={"Content-Type": FORM}), 2048)
    page = http.get("/login")
    response = http.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(page.text), "return_to": "/"}
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    "name, value",
    [
        ("MAX_REQUEST_BODY_BYTES", "100"),
        ("MAX_REQUEST_BODY_BYTES", "lots"),
        ("ADMIN_MAX_REQUEST_BODY_BYTES", "0"),
        ("SESSION_IDLE_TIMEOUT", "-1"),
        ("SESSION_IDLE_TIMEOUT", "30"),
        ("SESSION_COOKIE_NAME", "__Host-gatehouse"),
    ],
)
def test_a_bad_new_setting_is_a_config_error_naming_it(env, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**env, name: value})


def test_the_new_settings_have_sensible_defaults(env):
    settings = load_settings(env)
    assert settings.max_request_body_bytes == LIMIT
    assert settings.admin_max_request_body_bytes == ADMIN_LIMIT
    assert settings.session_idle_timeout == 1800


# ...against a real uvicorn, over a socket


@pytest.fixture
def live_server(app):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with serving(app, port):
        yield port


def read_answer(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def test_uvicorn_answers_413_to_a_200_mib_content_length_without_waiting_for_the_body(live_server, user):
    with socket.create_connection(("127.0.0.1", live_server), timeout=5) as sock:
        sock.sendall(
            b"POST /api/v2/oauth/token HTTP/1.1\r\nHost: testserver\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 209715200\r\n\r\n"
        )
        answer = read_answer(sock)  # not one byte of the body was sent
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"] == "invalid_request"


def test_uvicorn_answers_413_to_an_endless_chunked_body_while_it_is_still_being_sent(live_server, user):
    sent = 0
    with socket.create_connection(("127.0.0.1", live_server), timeout=5) as sock:
        sock.sendall(
            b"POST /login HTTP/1.1\r\nHost: testserver\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (8192, b"x" * 8192)
        while sent < 50 * 1024 * 1024:  # the terminating chunk is never sent
            if select.select([sock], [], [], 0.01)[0]:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 8192
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert sent < 4 * 1024 * 1024, sent


def run_asgi(app, method, path, receive, headers):
    """One request straight through the ASGI app: (status, body, messages sent)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 443),
    }
    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, sent


# 2. No session row for a visitor ---------------------------------------------------------


def test_cookieless_gets_create_no_session_rows(http, user, webapp):
    params = authorize_params("webapp", pkce_pair()[1])
    for _ in range(50):
        for path, query in (("/", None), ("/login", None), ("/api/v2/oauth/authorize", params), ("/logout", None)):
            http.cookies.clear()  # every request without a cookie
            response = http.get(path, params=query)
            if path == "/api/v2/oauth/authorize":  # a valid request, sent to sign in
                assert response.status_code == 303 and response.headers["location"].startswith("/login?")
            else:
                assert response.status_code == 200
    assert Session.select().count() == 0


def test_the_home_page_sets_no_cookie_for_a_visitor(http):
    response = http.get("/")
    assert "set-cookie" not in response.headers
    assert "Sign in" in response.text


def test_a_visitor_signs_in_with_the_login_forms_csrf_token_and_gets_a_new_cookie(http, state, user):
    page = http.get("/login")
    visitor = http.cookies[state.settings.session_cookie]
    assert Session.select().count() == 0
    response = http.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(page.text), "return_to": "/"}
    )
    assert response.status_code == 303
    signed_in = http.cookies[state.settings.session_cookie]
    assert signed_in != visitor  # a planted visitor cookie never becomes a signed-in session
    assert state.sessions.load(visitor) is None
    assert state.sessions.load(signed_in).user_id == user.id
    assert Session.select().count() == 1


def test_the_login_forms_csrf_token_is_bound_to_the_visitors_cookie(app, http, state, user):
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as other:
        foreign = csrf_of(other.get("/login").text)
    http.get("/login")
    for token in (foreign, "", "x" * 43):
        response = http.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 400
    assert Session.select().count() == 0
    # The visitor's token is a digest of the cookie under SESSION_SECRET, not the cookie itself.
    token = csrf_of(http.get("/login").text)
    assert token != http.cookies[state.settings.session_cookie]
    assert Sessions("t" * 40, 60).visitor(http.cookies[state.settings.session_cookie]).csrf_token != token


# 3. SESSION_SECRET is required --------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "too-short-0123456789"])
def test_session_secret_is_required_and_long(env, value):
    env = dict(env)
    if value is None:
        del env["SESSION_SECRET"]
    else:
        env["SESSION_SECRET"] = value
    with pytest.raises(ConfigError, match="SESSION_SECRET"):
        load_settings(env)


def test_sessions_have_no_fallback_key():
    for secret in ("", None):
        with pytest.raises(ConfigError, match="SESSION_SECRET"):
            Sessions(secret, 3600)


def test_the_dev_server_makes_a_session_secret_once_and_keeps_it(tmp_path):
    from gatehouse.entry.devserver import session_secret

    first = session_secret(tmp_path)
    assert len(first) >= 32
    assert session_secret(tmp_path) == first
    assert (tmp_path / "session-secret").stat().st_mode & 0o777 == 0o600
    assert load_settings({"SESSION_SECRET": first}).session_secret == first


# 4. Idle timeout ---------------------------------------------------------------------------


def idle(seconds: int) -> None:
    """The session was last seen `seconds` ago (as the clock would have it after that long)."""
    Session.update(last_seen_at=int(time.time()) - seconds).execute()


def signed_in_as(http, user) -> bool:
    return f"Signed in as <strong>{user.username}</strong>" in http.get("/").text


def test_a_session_idle_for_longer_than_the_idle_timeout_ends(http, user, webapp):
    login(http)
    assert signed_in_as(http, user)
    idle(1800)
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", pkce_pair()[1]))
    assert response.status_code == 303 and response.headers["location"].startswith("/login?")
    assert not signed_in_as(http, user)
    assert Session.select().count() == 0  # ended, not just ignored


def test_a_session_in_use_outlives_the_idle_timeout(http, user):
    login(http)
    for _ in range(3):
        idle(1700)  # used every 28 minutes
        assert signed_in_as(http, user)
    assert Session.get().last_seen_at >= int(time.time()) - 5


def test_last_seen_at_is_written_at_most_once_a_minute(http, user):
    login(http)
    seen = int(time.time()) - 30
    Session.update(last_seen_at=seen).execute()
    for _ in range(5):
        assert signed_in_as(http, user)
    assert Session.get().last_seen_at == seen  # used 30 s ago: not written again
    idle(61)
    assert signed_in_as(http, user)
    assert Session.get().last_seen_at >= int(time.time()) - 5


@pytest.mark.parametrize("env", [{"SESSION_IDLE_TIMEOUT": "0"}], indirect=True)
def test_an_idle_timeout_of_zero_turns_it_off(http, user):
    login(http)
    idle(7 * 3600)
    assert signed_in_as(http, user)


@pytest.mark.parametrize("env", [{"SESSION_IDLE_TIMEOUT": "0"}], indirect=True)
def test_the_absolute_lifetime_still_applies_without_an_idle_timeout(http, user):
    login(http)
    Session.update(expires_at=int(time.time()) - 1).execute()
    assert not signed_in_as(http, user)


# 5. The __Host- cookie prefix ----------------------------------------------------------------


def set_cookies(response) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie"]


def test_under_https_the_session_cookie_is_host_prefixed_secure_path_root_without_domain(http, user):
    for response in (http.get("/login"), login(http)):
        (cookie,) = set_cookies(response)
        assert cookie.startswith("__Host-gatehouse_session=")
        attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
        assert not any(a.startswith("domain") for a in attributes)


@pytest.mark.parametrize("env", [{"ISSUER": "http://127.0.0.1:3001"}], indirect=True)
def test_under_http_the_session_cookie_has_its_plain_name(http, user):
    (cookie,) = set_cookies(http.get("/login"))
    assert cookie.startswith("gatehouse_session=")
    assert "secure" not in cookie.lower()
    assert login(http).status_code == 303
    assert http.get("/").text.count("Signed in as") == 1


def test_every_reader_of_the_session_uses_the_prefixed_cookie(http, state, admin_session):
    assert http.get("/admin/users").status_code == 200  # the portal
    assert http.get("/api/v2/admin/users").status_code == 200  # the admin API, by the session cookie
    name = state.settings.session_cookie
    value = http.cookies[name]
    http.cookies.clear()
    assert http.get("/api/v2/admin/users", headers={"Cookie": f"{name}={value}"}).status_code == 200
    # The same value under the plain name (which a sibling domain could set) is not a session.
    assert http.get("/api/v2/admin/users", headers={"Cookie": f"gatehouse_session={value}"}).status_code == 401
    logout = http.post("/logout", data={"csrf_token": admin_session}, headers={"Cookie": f"{name}={value}"})
    assert logout.status_code == 200
    (cleared,) = set_cookies(logout)
    assert cleared.startswith("__Host-gatehouse_session=") and "max-age=0" in cleared.lower()
    assert "secure" in cleared.lower()
    assert Session.select().count() == 0
