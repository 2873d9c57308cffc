"""Operations (issue §7): health, readiness, Prometheus metrics, JSON logs, audit events."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from conftest import ISSUER, REDIS_URL, basic, get_code, login, redeem
from fastapi.testclient import TestClient
from gatehouse import __version__
from gatehouse.crypto.key_set import MANIFEST
from gatehouse.runtime.logs import JsonFormatter
from gatehouse.services import build
from gatehouse.settings import load_settings
from gatehouse.store.migrate import SchemaMigration
from gatehouse.store.models import AuditLog
from gatehouse.web.app import create_app
from prometheus_client import REGISTRY, generate_latest

DESIGN_METRICS = [
    "oauth_authorization_requests_total",
    "oauth_token_issued_total",
    "oauth_token_revoked_total",
    "oauth_login_attempts_total",
    "oauth_login_failures_total",
    "oauth_database_connections_active",
    "oauth_cache_hits_total",
    "oauth_cache_misses_total",
    "http_requests_total",
    "http_request_duration_seconds",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def client_credentials(http, service):
    return http.post("/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*service))


# Health ---------------------------------------------------------------------


def test_health_reports_status_service_version_timestamp_and_dependencies(http):
    response = http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["service"] == "gatehouse"
    assert body["version"] == __version__
    assert datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")).tzinfo is not None
    assert body["dependencies"]["database"]["status"] == "connected"
    assert body["dependencies"]["cache"]["status"] == ("connected" if REDIS_URL else "not_configured")
    assert response.headers["cache-control"] == "no-store"


def test_health_live_answers_alive(http):
    response = http.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_health_ready_when_database_answers_schema_is_current_and_a_key_signs(http):
    response = http.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_health_ready_is_503_while_migrations_are_pending(http, state):
    SchemaMigration.delete().execute()
    response = http.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert "migrations pending: 0001_initial, 0002_username_key, 0003_security" in response.json()["problems"]


def test_health_ready_is_503_without_a_signing_key(http, state):
    (state.keys.keys_dir / MANIFEST).unlink()
    state.keys.load()
    response = http.get("/health/ready")
    assert response.status_code == 503
    assert any("rotate-keys" in problem for problem in response.json()["problems"])


def test_unreachable_database_is_unhealthy_and_not_ready_but_live(env, tmp_path):
    env["DATABASE_URL"] = f"mysql://gatehouse:x@127.0.0.1:{free_port()}/gatehouse"
    env["REDIS_URL"] = ""
    state = build(load_settings(env))
    with TestClient(create_app(state=state), base_url=ISSUER) as http:
        health = http.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy"
        assert health.json()["dependencies"]["database"]["status"] == "disconnected"
        assert http.get("/health/ready").status_code == 503
        assert http.get("/health/live").status_code == 200


# Metrics --------------------------------------------------------------------


def test_design_metric_names_appear_after_a_token_request(http, service):
    assert client_credentials(http, service).status_code == 200
    exposition = generate_latest(REGISTRY).decode()
    for name in DESIGN_METRICS:
        assert f"# TYPE {name} " in exposition, name
    assert 'http_requests_total{method="POST",service="gatehouse",status="200"}' in exposition
    assert 'http_request_duration_seconds_bucket{le="0.001",route="/api/v2/oauth/token",service="gatehouse"}' in (
        exposition
    )


def test_token_request_counts_issued_tokens_requests_and_duration(http, service):
    issued = sample("oauth_token_issued_total", grant_type="client_credentials")
    requests = sample("http_requests_total", service="gatehouse", method="POST", status="200")
    timed = sample("http_request_duration_seconds_count", service="gatehouse", route="/api/v2/oauth/token")
    misses = sample("oauth_cache_misses_total", cache="client")
    assert client_credentials(http, service).status_code == 200
    assert sample("oauth_token_issued_total", grant_type="client_credentials") == issued + 1
    assert sample("http_requests_total", service="gatehouse", method="POST", status="200") == requests + 1
    assert sample("http_request_duration_seconds_count", service="gatehouse", route="/api/v2/oauth/token") == timed + 1
    assert sample("oauth_cache_misses_total", cache="client") > misses  # CLIENT_CACHE_SECONDS=0 in tests


def test_http_requests_are_counted_by_status(http):
    before = sample("http_requests_total", service="gatehouse", method="GET", status="404")
    assert http.get("/no-such-page").status_code == 404
    assert sample("http_requests_total", service="gatehouse", method="GET", status="404") == before + 1


def test_login_attempts_and_failures_are_counted(http, user):
    attempts = sample("oauth_login_attempts_total")
    failures = sample("oauth_login_failures_total", reason="bad_credentials")
    login(http, password="wrong password")
    login(http)
    assert sample("oauth_login_attempts_total") == attempts + 2
    assert sample("oauth_login_failures_total", reason="bad_credentials") == failures + 1


def test_authorization_requests_and_revocations_are_counted(http, user, webapp):
    granted = sample("oauth_authorization_requests_total", result="granted")
    revoked = sample("oauth_token_revoked_total", reason="refresh_token")
    code, verifier, _ = get_code(http)
    assert sample("oauth_authorization_requests_total", result="granted") == granted + 1
    tokens = redeem(http, code, verifier, webapp).json()
    http.post("/api/v2/oauth/revoke", data={"token": tokens["refresh_token"]}, headers=basic(*webapp))
    assert sample("oauth_token_revoked_total", reason="refresh_token") == revoked + 1


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            if process.poll() is not None:
                raise AssertionError(process.communicate()[1].decode()[-3000:]) from None
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.1)


def test_metrics_port_sums_every_gunicorn_worker(env, state, service, tmp_path):
    port, metrics_port = free_port(), free_port()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        **env,
        "SERVER_HOST": "127.0.0.1",
        "SERVER_PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_FILE": str(tmp_path / "gatehouse.log"),
    }
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    process = subprocess.Popen(
        [gunicorn, "-c", "python:gatehouse.entry.gunicorn_conf", "gatehouse.entry.asgi:app"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/health/live", process)
        _wait_for(f"http://127.0.0.1:{metrics_port}/metrics", process)
        for _ in range(20):  # a new connection each: requests spread over the workers
            response = httpx.post(
                f"http://127.0.0.1:{port}/api/v2/oauth/token",
                data={"grant_type": "client_credentials"},
                headers=basic(*service),
                timeout=10,
            )
            assert response.status_code == 200, response.text
        exposition = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert 'oauth_token_issued_total{grant_type="client_credentials"} 20.0' in exposition
    token_requests = [
        line
        for line in exposition.splitlines()
        if line.startswith("http_requests_total{") and 'method="POST"' in line and 'status="200"' in line
    ]
    assert token_requests and float(token_requests[0].rsplit(" ", 1)[1]) == 20.0


# Logs -----------------------------------------------------------------------


@pytest.fixture
def log_lines():
    """Every record of the gatehouse loggers, formatted by the production JSON formatter."""
    lines: list[dict] = []

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(self.format(record)))

    handler = Capture()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gatehouse")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_x_request_id_is_echoed_and_carried_by_every_log_line_of_the_request(http, service, log_lines):
    response = http.post(
        "/api/v2/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={**basic(*service), "X-Request-ID": "req-0042"},
    )
    assert response.headers["x-request-id"] == "req-0042"
    mine = [line for line in log_lines if line.get("request_id") == "req-0042"]
    loggers = {line["logger"] for line in mine}
    assert {"gatehouse.access", "gatehouse.audit"} <= loggers
    access = next(line for line in mine if line["logger"] == "gatehouse.access")
    assert access["path"] == "/api/v2/oauth/token" and access["status"] == 200 and access["method"] == "POST"
    assert {"timestamp", "level", "message", "duration_ms"} <= set(access)


def test_request_without_usable_request_id_gets_a_generated_one(http, log_lines):
    for incoming in (None, "has spaces", "x" * 65):
        headers = {"X-Request-ID": incoming} if incoming else {}
        generated = http.get("/health/live", headers=headers).headers["x-request-id"]
        assert generated != incoming and len(generated) == 32 and int(generated, 16) >= 0
        assert any(line.get("request_id") == generated for line in log_lines)


def test_audit_events_are_logged_as_json_lines(http, user, log_lines):
    login(http)
    audit = [line for line in log_lines if line.get("audit")]
    assert audit and audit[-1]["event"] == "login.succeeded"
    assert audit[-1]["logger"] == "gatehouse.audit"


# Audit rows -----------------------------------------------------------------


def events(**where) -> list[AuditLog]:
    query = AuditLog.select().order_by(AuditLog.id)
    for name, value in where.items():
        query = query.where(getattr(AuditLog, name) == value)
    return list(query)


def test_successful_login_is_audited_with_ip_and_request_id(http, user):
    login(http)
    (row,) = events(event="login.succeeded")
    assert row.actor == str(user.id) and row.subject == "alice"
    assert row.ip and row.request_id


def test_failed_login_is_audited_with_the_reason(http, user):
    login(http, password="wrong password")
    (row,) = events(event="login.failed")
    assert row.actor == "alice"
    assert json.loads(row.details)["reason"] == "bad_credentials"


def test_lockout_is_audited(http, user, settings):
    for _ in range(settings.login_max_failures):
        login(http, password="wrong password")
    (row,) = events(event="login.locked_out")
    assert row.actor == "alice"
    assert json.loads(row.details)["seconds"] == settings.login_lockout_seconds


def test_token_issued_refreshed_and_revoked_are_audited(http, user, webapp):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    (issued,) = events(event="token.issued")
    assert issued.actor == "webapp" and issued.subject == str(user.id)
    assert json.loads(issued.details)["grant_type"] == "authorization_code"

    refreshed = http.post(
        "/api/v2/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(*webapp),
    ).json()
    (row,) = events(event="token.refreshed")
    assert row.actor == "webapp" and json.loads(row.details)["grant_type"] == "refresh_token"

    http.post("/api/v2/oauth/revoke", data={"token": refreshed["access_token"]}, headers=basic(*webapp))
    (row,) = events(event="token.revoked")
    assert row.actor == "webapp" and row.subject == str(user.id)


def test_client_credentials_token_is_audited(http, service):
    client_credentials(http, service)
    (row,) = events(event="token.issued")
    assert row.actor == "service" and json.loads(row.details)["grant_type"] == "client_credentials"


def test_code_reuse_is_audited(http, user, webapp):
    code, verifier, _ = get_code(http)
    redeem(http, code, verifier, webapp)
    redeem(http, code, verifier, webapp)
    (row,) = events(event="code.reuse_detected")
    assert row.actor == "webapp" and row.subject == str(user.id)


def test_refresh_token_replay_is_audited(http, user, webapp):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    for _ in range(2):
        http.post(
            "/api/v2/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            headers=basic(*webapp),
        )
    assert len(events(event="refresh.replay_detected")) == 1


def test_consent_and_logout_are_audited(http, user, webapp):
    get_code(http)
    assert len(events(event="consent.granted")) == 1
    page = http.get("/logout")
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    http.post("/logout", data={"csrf_token": csrf})
    (row,) = events(event="logout")
    assert row.actor == str(user.id)
