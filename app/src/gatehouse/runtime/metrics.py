"""Prometheus metrics, with the reference system's names.

Under gunicorn every worker writes to PROMETHEUS_MULTIPROC_DIR and the
master serves the sum on METRICS_PORT (see gunicorn_conf), so the figures
are right whatever worker a scrape would have reached.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, start_http_server

SERVICE = "gatehouse"

authorization_requests = Counter("oauth_authorization_requests_total", "Authorization requests by outcome", ["result"])
authorization_latency = Histogram(
    "oauth_authorization_latency_ms",
    "Authorization endpoint (GET and POST) request duration in milliseconds",
    buckets=(1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
tokens_issued = Counter("oauth_token_issued_total", "Tokens issued by grant type", ["grant_type"])
tokens_revoked = Counter("oauth_token_revoked_total", "Tokens and grants revoked", ["reason"])
login_attempts = Counter("oauth_login_attempts_total", "Password logins attempted")
login_failures = Counter("oauth_login_failures_total", "Password logins failed", ["reason"])
lockouts = Counter(
    "oauth_account_lockouts_total",
    "Locks of an (account, address) pair after repeated failures, and accounts reaching the failure ceiling",
)
rate_limited = Counter("oauth_rate_limited_total", "Requests refused by a rate limit", ["limit"])
cache_hits = Counter("oauth_cache_hits_total", "Cache hits", ["cache"])
cache_misses = Counter("oauth_cache_misses_total", "Cache misses", ["cache"])
# Both summed over the live workers, so active / max is the share of every connection the server may open.
db_connections = Gauge("oauth_database_connections_active", "Open database connections", multiprocess_mode="livesum")
db_connections_max = Gauge(
    "oauth_database_connections_max", "Database connections the server may open", multiprocess_mode="livesum"
)
# Multiprocess mode has no process_* metrics: each worker's own figure, labelled with its pid, gone when it exits.
worker_memory = Gauge(
    "oauth_worker_resident_memory_bytes", "Resident memory of a server worker", multiprocess_mode="liveall"
)
http_requests = Counter("http_requests_total", "HTTP requests", ["service", "method", "status", "route"])
http_duration = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

# The label values the code counts with, at 0 from the start: rate() on a series that does not
# exist yet is no data, not 0, and a fresh install's dashboards would show gaps instead of zeros.
# Under gunicorn a worker writes them to its file at its first metric update (lifespan startup).
KNOWN_LABELS = {
    authorization_requests: ("granted", "denied", "error"),
    tokens_issued: ("client_credentials", "authorization_code", "refresh_token"),
    tokens_revoked: (
        "access_token",
        "refresh_token",
        "code_reuse",
        "refresh_replay",
        "logout",
        "password_reset",
        "user_deactivated",
        "user_deleted",
        "client_deactivated",
        "client_deleted",
    ),
    login_failures: ("bad_credentials", "locked", "account_ceiling"),
    rate_limited: ("login", "token"),
    cache_hits: ("client",),
    cache_misses: ("client",),
}
for _counter, _values in KNOWN_LABELS.items():
    for _value in _values:
        _counter.labels(_value)

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_memory_bytes() -> int | None:
    """This process's resident set size now (Linux), or None where /proc is not there."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


def multiprocess_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def start_server(port: int, host: str) -> None:
    """Serve /metrics; in multiprocess mode the summed figures of every worker."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        start_http_server(port, addr=host, registry=multiprocess_registry())
    else:
        start_http_server(port, addr=host)
