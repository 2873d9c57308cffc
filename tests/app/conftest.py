"""Fixtures for the server's tests.

Each test gets a fresh Gatehouse: on SQLite (a new file) by default, or on
the real MariaDB + Redis named by GATEHOUSE_TEST_DATABASE_URL and
GATEHOUSE_TEST_REDIS_URL (`make test-app-mysql` starts them), with every
table emptied and Redis flushed first.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import uvicorn
from fastapi.testclient import TestClient
from gatehouse.accounts.clients import create_client_as_system as create_client
from gatehouse.accounts.users import create_user_as_system as create_user
from gatehouse.crypto.key_set import rotate
from gatehouse.services import build
from gatehouse.settings import load_settings
from gatehouse.store.migrate import migrate
from gatehouse.store.models import ALL_MODELS
from gatehouse.web.app import create_app

ISSUER = "https://testserver"
MYSQL_URL = os.environ.get("GATEHOUSE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("GATEHOUSE_TEST_REDIS_URL", "")
BACKEND = "mysql" if MYSQL_URL else "sqlite"
PASSWORD = "correct horse battery staple"
REDIRECT = "https://app.example.test/callback"


def pytest_configure(config):
    # Starlette's TestClient still works on httpx; the notice is not ours to act on.
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")


def pytest_report_header(config):
    return f"gatehouse backend: {BACKEND}{' + redis' if REDIS_URL else ''}"


@pytest.fixture
def env(tmp_path, request):
    """The server's environment; a test changes it with
    @pytest.mark.parametrize("env", [{"VAR": "value"}], indirect=True)."""
    keys = tmp_path / "keys"
    values = {
        "ISSUER": ISSUER,
        "DATABASE_URL": MYSQL_URL or f"sqlite:///{tmp_path}/gatehouse.db",
        "REDIS_URL": REDIS_URL,
        "JWT_KEYS_DIR": str(keys),
        "ARGON2_MEMORY_COST": "1024",
        "ARGON2_TIME_COST": "1",
        "LOG_FORMAT": "json",
        "CLIENT_CACHE_SECONDS": "0",
        "AUDIT_FLUSH_SECONDS": "0",
        "SESSION_SECRET": "s" * 40,
    }
    values.update(getattr(request, "param", None) or {})
    return values


@pytest.fixture
def settings(env):
    return load_settings(env)


def _empty_mysql(database):
    tables = [m._meta.table_name for m in ALL_MODELS] + ["schema_migrations"]
    database.execute_sql("SET FOREIGN_KEY_CHECKS=0")
    for table in tables:
        if database.table_exists(table):
            database.execute_sql(f"DELETE FROM `{table}`")
    database.execute_sql("SET FOREIGN_KEY_CHECKS=1")


@pytest.fixture
def state(settings):
    gatehouse = build(settings)
    if MYSQL_URL:
        _empty_mysql(gatehouse.database)
    migrate()
    rotate(gatehouse.keys.keys_dir, settings.jwt_algorithm, settings.max_token_lifetime)
    gatehouse.keys.load()
    if REDIS_URL:
        # Not through the app's client: its 200 ms timeout (REDIS_TIMEOUT_MS) is for serving, and a
        # busy test machine can take longer to answer a FLUSHDB.
        import redis

        with redis.Redis.from_url(REDIS_URL, socket_timeout=30) as flusher:
            flusher.flushdb()
    yield gatehouse
    gatehouse.close()


@pytest.fixture
def app(state):
    return create_app(state=state)


@pytest.fixture
def http(app):
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as client:
        yield client


@pytest.fixture
def second_app(settings, state):
    """Another process of the same site: its own Gatehouse built from the same settings."""
    other = build(settings)
    with TestClient(create_app(state=other), base_url=ISSUER, follow_redirects=False) as client:
        yield client
    other.close()


GATEHOUSE = str(Path(sys.executable).with_name("gatehouse"))


def run_cli(env: dict, *args, stdin=None, extra=None, timeout=60) -> subprocess.CompletedProcess:
    """`gatehouse ARGS` as operators and playbooks run it: the installed console script, configured by `env`."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    environment.update(env)
    environment.update(extra or {})
    return subprocess.run(
        [GATEHOUSE, *args], input=stdin, capture_output=True, text=True, env=environment, timeout=timeout
    )


@contextlib.contextmanager
def serving(app, port: int):
    """The app behind uvicorn on 127.0.0.1:<port> in a thread, as in `gatehouse serve`, until the block ends."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def user(state):
    return create_user("alice", PASSWORD, email="alice@example.test", name="Alice Example")


@pytest.fixture
def admin_user(state):
    return create_user("root-admin", PASSWORD, email="admin@example.test", admin=True)


@pytest.fixture
def admin_session(http, admin_user):
    """Signed in as an admin through /login; returns the session's CSRF token (for the portal and X-CSRF-Token)."""
    assert login(http, "root-admin", return_to="/admin/").status_code == 303
    return csrf_of(http.get("/admin/users").text)


def register(**overrides):
    values = {
        "client_id": "webapp",
        "name": "Web App",
        "confidential": True,
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": ["https://app.example.test/bye"],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile email offline_access",
    }
    values.update(overrides)
    row, secret = create_client(**values)
    return row.client_id, secret


@pytest.fixture
def webapp(state):
    """A confidential web client: authorization code + refresh tokens."""
    return register()


@pytest.fixture
def spa(state):
    """A public client (no secret), loopback redirect."""
    return register(
        client_id="spa",
        name="Single Page App",
        confidential=False,
        redirect_uris=["http://127.0.0.1/callback"],
        post_logout_redirect_uris=[],
    )


@pytest.fixture
def service(state):
    """A confidential machine client: client credentials only."""
    return register(
        client_id="service",
        name="Backend Service",
        redirect_uris=[],
        post_logout_redirect_uris=[],
        grant_types=["client_credentials"],
        scope="api:read api:write",
    )


def basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(http, username="alice", password=PASSWORD, return_to="/"):
    page = http.get("/login", params={"return_to": return_to})
    return http.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text), "return_to": return_to},
    )


def authorize_params(client_id="webapp", challenge=None, **extra):
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT if client_id == "webapp" else "http://127.0.0.1/callback",
        "scope": "openid profile email offline_access",
        "state": "st-123",
        "nonce": "n-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def query_of(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def get_code(http, client_id="webapp", username="alice", **extra):
    """Sign in (as alice by default), consent, and return (code, verifier, redirect query)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client_id, challenge, **extra)
    login(http, username=username)
    response = http.get("/api/v2/oauth/authorize", params=params)
    if response.status_code == 200:  # the consent page
        response = http.post(
            "/consent",
            data={
                "csrf_token": csrf_of(response.text),
                "request": re.search(r'name="request" value="([^"]+)"', response.text).group(1).replace("&amp;", "&"),
                "decision": "allow",
            },
        )
    assert response.status_code == 302, response.text
    query = query_of(response.headers["location"])
    return query["code"], verifier, query


def redeem(http, code, verifier, client=("webapp", None), redirect_uri=REDIRECT):
    client_id, secret = client
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    headers = {}
    if secret:
        headers = basic(client_id, secret)
    else:
        data["client_id"] = client_id
    return http.post("/api/v2/oauth/token", data=data, headers=headers)
