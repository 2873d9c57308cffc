"""Request body limits: MAX_REQUEST_BODY_BYTES on every route that reads a body,
ADMIN_MAX_REQUEST_BODY_BYTES on the admin API and the portal.

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

import pytest
from conftest import PASSWORD, basic, csrf_of, serving
from helpers import ADMIN_LIMIT, LIMIT

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
