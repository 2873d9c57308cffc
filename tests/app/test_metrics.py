"""Prometheus metrics (issue §7): the design's metric names, what each counts, and
one exposition on METRICS_PORT summing every gunicorn worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import basic, get_code, login, redeem
from helpers import client_credentials, free_port
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


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


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
