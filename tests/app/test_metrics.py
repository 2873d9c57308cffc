"""Prometheus metrics (issue §7): the design's metric names, what each counts, and
one exposition on METRICS_PORT summing every gunicorn worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import basic, get_code, login, redeem
from gatehouse.runtime import metrics
from gatehouse.store.database import connections_max, is_mysql
from gatehouse.web import middleware
from helpers import AUTHORIZE, client_credentials, free_port
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
# Beyond the design's list: what the alert rules and dashboards (monitoring/) read.
OPERATOR_METRICS = [
    "oauth_database_connections_max",
    "oauth_authorization_latency_ms",
    "oauth_worker_resident_memory_bytes",
    "oauth_account_lockouts_total",
    "oauth_rate_limited_total",
]
TOKEN_ROUTE = "/api/v2/oauth/token"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_design_metric_names_appear_after_a_token_request(http, service):
    assert client_credentials(http, service).status_code == 200
    exposition = generate_latest(REGISTRY).decode()
    for name in DESIGN_METRICS + OPERATOR_METRICS:
        assert f"# TYPE {name} " in exposition, name
    assert f'http_requests_total{{method="POST",route="{TOKEN_ROUTE}",service="gatehouse",status="200"}}' in exposition
    assert 'http_request_duration_seconds_bucket{le="0.001",route="/api/v2/oauth/token",service="gatehouse"}' in (
        exposition
    )


def test_token_request_counts_issued_tokens_requests_and_duration(http, service):
    issued = sample("oauth_token_issued_total", grant_type="client_credentials")
    token_requests = {"service": "gatehouse", "method": "POST", "status": "200", "route": TOKEN_ROUTE}
    requests = sample("http_requests_total", **token_requests)
    timed = sample("http_request_duration_seconds_count", service="gatehouse", route="/api/v2/oauth/token")
    misses = sample("oauth_cache_misses_total", cache="client")
    assert client_credentials(http, service).status_code == 200
    assert sample("oauth_token_issued_total", grant_type="client_credentials") == issued + 1
    assert sample("http_requests_total", **token_requests) == requests + 1
    assert sample("http_request_duration_seconds_count", service="gatehouse", route="/api/v2/oauth/token") == timed + 1
    assert sample("oauth_cache_misses_total", cache="client") > misses  # CLIENT_CACHE_SECONDS=0 in tests


def test_http_requests_are_counted_by_status(http):
    labels = {"service": "gatehouse", "method": "GET", "status": "404", "route": middleware.UNMATCHED}
    before = sample("http_requests_total", **labels)
    assert http.get("/no-such-page").status_code == 404
    assert sample("http_requests_total", **labels) == before + 1


def test_route_label_is_the_route_template_not_the_path(http):
    client_id = "c-7f3a9e1b5d"  # a path parameter: one label value per client would grow without end
    labels = {"service": "gatehouse", "method": "GET", "status": "401"}
    template = "/api/v2/admin/clients/{client_id}"
    before = sample("http_requests_total", route=template, **labels)
    timed = sample("http_request_duration_seconds_count", service="gatehouse", route=template)
    assert http.get(f"/api/v2/admin/clients/{client_id}").status_code == 401
    assert sample("http_requests_total", route=template, **labels) == before + 1
    assert sample("http_request_duration_seconds_count", service="gatehouse", route=template) == timed + 1
    assert client_id not in generate_latest(REGISTRY).decode()


def test_paths_no_route_matched_share_one_route_label(http):
    labels = {"service": "gatehouse", "method": "GET", "status": "404"}
    before = sample("http_requests_total", route=middleware.UNMATCHED, **labels)
    for path in ("/wp-login.php", "/no/such/page-91d2", "/.env"):
        assert http.get(path).status_code == 404
    assert sample("http_requests_total", route=middleware.UNMATCHED, **labels) == before + 3
    exposition = generate_latest(REGISTRY).decode()
    assert "wp-login" not in exposition and "page-91d2" not in exposition and 'route="/.env"' not in exposition


def test_methods_outside_http_s_own_share_one_label_value(http):
    labels = {"service": "gatehouse", "status": "405", "route": TOKEN_ROUTE}
    before = sample("http_requests_total", method=middleware.OTHER_METHOD, **labels)
    assert http.request("BREW", TOKEN_ROUTE).status_code == 405
    assert sample("http_requests_total", method=middleware.OTHER_METHOD, **labels) == before + 1
    assert 'method="BREW"' not in generate_latest(REGISTRY).decode()


def test_static_files_are_counted_under_the_mount_not_each_file(http):
    labels = {"service": "gatehouse", "method": "GET", "status": "404", "route": "/static"}
    before = sample("http_requests_total", **labels)
    assert http.get("/static/no-such-file-5e1c.css").status_code == 404
    assert sample("http_requests_total", **labels) == before + 1
    assert "no-such-file-5e1c" not in generate_latest(REGISTRY).decode()


def test_authorization_endpoint_latency_is_observed_in_milliseconds(http):
    count = sample("oauth_authorization_latency_ms_count")
    slowest = sample("oauth_authorization_latency_ms_bucket", le="5000.0")
    total = sample("oauth_authorization_latency_ms_sum")
    assert http.get(AUTHORIZE, params={"client_id": "no-such-client"}).status_code == 400
    assert http.post(AUTHORIZE, data={"client_id": "no-such-client"}).status_code == 400
    assert sample("oauth_authorization_latency_ms_count") == count + 2
    assert sample("oauth_authorization_latency_ms_bucket", le="5000.0") == slowest + 2
    assert sample("oauth_authorization_latency_ms_sum") > total
    exposition = generate_latest(REGISTRY).decode()
    assert 'oauth_authorization_latency_ms_bucket{le="1.0"}' in exposition  # milliseconds, not seconds


def test_authorization_latency_counts_only_the_authorization_endpoint(http, service):
    count = sample("oauth_authorization_latency_ms_count")
    assert client_credentials(http, service).status_code == 200
    assert http.get("/health/live").status_code == 200
    assert sample("oauth_authorization_latency_ms_count") == count


def _force_worker_gauges(monkeypatch) -> None:
    """Zero the worker's gauges and make the next request due to refresh them."""
    metrics.db_connections_max.set(0)
    metrics.worker_memory.set(0)
    monkeypatch.setattr(middleware, "_worker_gauges_due", 0.0)


def test_pool_ceiling_is_exported_next_to_the_open_connections(http, settings, monkeypatch):
    _force_worker_gauges(monkeypatch)
    assert http.get("/health/ready").status_code == 200
    ceiling = sample("oauth_database_connections_max")
    if is_mysql():
        assert ceiling == settings.database_max_connections  # the pool's maximum
    else:
        assert ceiling == connections_max() >= 2  # a connection per serving thread: no pool to exhaust
    # The reference alert, oauth_database_connections_active / oauth_database_connections_max > 0.9,
    # stays quiet on an idle server.
    assert sample("oauth_database_connections_active") >= 1  # the one /health/ready used
    assert sample("oauth_database_connections_active") / ceiling <= 0.9
    assert "oauth_database_connections_max " in generate_latest(REGISTRY).decode()


def test_worker_memory_is_the_resident_set_refreshed_at_most_every_five_seconds(http, monkeypatch):
    _force_worker_gauges(monkeypatch)
    assert http.get("/health/live").status_code == 200
    resident = sample("oauth_worker_resident_memory_bytes")
    assert 10 * 2**20 < resident < 4 * 2**30
    statm_pages = int(Path("/proc/self/statm").read_text().split()[1])
    assert abs(resident - statm_pages * os.sysconf("SC_PAGE_SIZE")) < 256 * 2**20
    # Within the next five seconds a request does not read it again.
    metrics.worker_memory.set(0)
    assert http.get("/health/live").status_code == 200
    assert sample("oauth_worker_resident_memory_bytes") == 0
    assert middleware._worker_gauges_due - time.perf_counter() <= middleware.WORKER_GAUGES_SECONDS
    monkeypatch.setattr(middleware, "_worker_gauges_due", 0.0)
    assert http.get("/health/live").status_code == 200
    assert sample("oauth_worker_resident_memory_bytes") > 10 * 2**20


@pytest.mark.parametrize(
    ("counter", "label", "value"),
    [(c._name, c._labelnames[0], v) for c, values in metrics.KNOWN_LABELS.items() for v in values],
)
def test_counted_label_values_start_at_zero_and_are_ones_the_code_uses(counter, label, value):
    """rate() over a series that was never written is no data: every dashboard's counters exist from the start."""
    assert REGISTRY.get_sample_value(f"{counter}_total", {label: value}) is not None
    sources = Path(metrics.__file__).parents[1].rglob("*.py")
    assert any(f'"{value}"' in path.read_text() for path in sources if path.name != "metrics.py"), value


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
    assert f'route="{TOKEN_ROUTE}"' in token_requests[0]
    # Set by each worker at its start: the two pools' ceilings summed, as the open connections are (livesum).
    assert f"oauth_database_connections_max {2.0 * connections_max()}" in exposition
    # One series per live worker, by pid (multiprocess mode has no process_* metrics).
    memory = [line for line in exposition.splitlines() if line.startswith("oauth_worker_resident_memory_bytes{")]
    assert len({line.split('pid="')[1].split('"')[0] for line in memory}) == 2, memory
    assert all(float(line.rsplit(" ", 1)[1]) > 10 * 2**20 for line in memory), memory
    # Counted label values that no request used yet are there, at 0, in every worker's file.
    assert 'oauth_login_failures_total{reason="bad_credentials"} 0.0' in exposition
    assert 'oauth_token_revoked_total{reason="logout"} 0.0' in exposition
    assert 'oauth_rate_limited_total{limit="login"} 0.0' in exposition
