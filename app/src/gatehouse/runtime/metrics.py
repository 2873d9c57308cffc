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
db_connections = Gauge("oauth_database_connections_active", "Open database connections", multiprocess_mode="livesum")
http_requests = Counter("http_requests_total", "HTTP requests", ["service", "method", "status"])
http_duration = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


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
