"""Per-request plumbing as plain ASGI (cheaper than BaseHTTPMiddleware):
request id, security headers, metrics, one JSON access-log line; the
request body limit (BodyLimit)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from gatehouse.runtime import metrics
from gatehouse.runtime.logs import request_id_var
from gatehouse.store.database import connections_max, connections_open
from gatehouse.web import routes
from gatehouse.web.errors import too_large_body

access_log = logging.getLogger("gatehouse.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]


# The worker's own gauges (pool ceiling, memory) are set at startup and then at most this often.
WORKER_GAUGES_SECONDS = 5.0
_worker_gauges_due = 0.0
# The metrics' route label for paths that no route matched (404s): one value, whatever the path.
UNMATCHED = "unmatched"
AUTHORIZE_METHODS = frozenset({"GET", "POST"})
# A client may send any token as the method: the others share one label value.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"


def refresh_worker_gauges(now: float) -> None:
    """Set this worker's pool ceiling and memory; called at startup (after gunicorn's fork) and by requests."""
    global _worker_gauges_due
    _worker_gauges_due = now + WORKER_GAUGES_SECONDS
    metrics.db_connections_max.set(connections_max())
    rss = metrics.resident_memory_bytes()
    if rss is not None:
        metrics.worker_memory.set(rss)


def route_label(scope) -> str:
    """The matched route's template (never the raw path, so the label's values stay few)."""
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path", UNMATCHED)
    path = scope["path"]
    if path.startswith(routes.STATIC + "/"):  # the StaticFiles mount leaves no route in the scope
        return routes.STATIC
    return UNMATCHED


class RequestMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                refresh_worker_gauges(time.perf_counter())
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status_holder = [500]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                present = {name for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            now = time.perf_counter()
            elapsed = now - started
            route_path = route_label(scope)
            status = status_holder[0]
            method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
            metrics.http_requests.labels(metrics.SERVICE, method, str(status), route_path).inc()
            metrics.http_duration.labels(metrics.SERVICE, route_path).observe(elapsed)
            if route_path == routes.AUTHORIZE and scope["method"] in AUTHORIZE_METHODS:
                metrics.authorization_latency.observe(elapsed * 1000)
            metrics.db_connections.set(connections_open())
            if now >= _worker_gauges_due:
                refresh_worker_gauges(now)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0],
                },
            )
            request_id_var.reset(token)


# Where BodyLimit leaves the limit it applied, for read_form (web/common.py).
BODY_LIMIT_SCOPE_KEY = "gatehouse.body_limit"
# The admin API and the portal take bigger bodies (a client with 40 redirect URIs is ~85 KB).
ADMIN_PATHS = routes.ADMIN_PREFIXES


class RequestBodyTooLarge(Exception):
    """Raised by BodyLimit's receive once the body read so far passes the limit."""


class BodyLimit:
    """Every request body capped, on every route: the hot routes (web/hot_routes.py) too, as this sits
    in front of them (app.py). No body is ever read whole before it is known to fit.

    A Content-Length over the limit is answered 413 before the app runs or a byte is read. A body
    without one (chunked) is counted as the app reads it: the read that passes the limit raises
    RequestBodyTooLarge instead of returning, and whatever the app makes of that (read_form turns
    it into invalid_request, FastAPI's body parsing into a 400, or it propagates), the client gets
    the 413. The answer is JSON, an OAuth error (`invalid_request`, RFC 6749 §5.2) on every path,
    with Connection: close so the server stops reading the rest.

    Not Starlette's RequestBodyLimitMiddleware: its 413 is plain text, it lets the app run on a
    too-long Content-Length, and an app that catches the error answers what it likes.
    """

    def __init__(self, app, limit: int, admin_limit: int):
        self.app = app
        self.limit = limit
        self.admin_limit = admin_limit

    def limit_for(self, path: str) -> int:
        for prefix in ADMIN_PATHS:
            if path == prefix or path.startswith(prefix + "/"):
                return self.admin_limit
        return self.limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["path"])
        scope[BODY_LIMIT_SCOPE_KEY] = limit
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    return await _too_large(send, limit)
                break
        received = 0
        over = False
        started = False

        async def capped_receive():
            nonlocal received, over
            if over:
                raise RequestBodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise RequestBodyTooLarge(limit)
            return message

        async def guarded_send(message):
            nonlocal started
            if over and not started:
                return  # the app's answer to the failed read: the 413 replaces it
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, guarded_send)
        except Exception:
            if not over or started:
                raise
        if over and not started:
            await _too_large(send, limit)


async def _too_large(send, limit: int) -> None:
    body = too_large_body(limit)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"pragma", b"no-cache"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
