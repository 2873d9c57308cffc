"""The busiest routes, called without FastAPI's routing and middleware stack.

Machines call the token, introspection, revocation and JWKS endpoints
thousands of times a second, and for them FastAPI's per-request machinery
(the route scan, dependency solving, the exception and exit-stack layers)
cost as much CPU as the endpoint's own work. Their endpoint functions take
nothing but the Request, so this layer calls them directly: the same
functions, declared as usual in web/endpoints/token.py, introspection.py,
revocation.py and jwks.py (where the OpenAPI schema and FastAPI's 405 for
other methods still come from). Which paths are hot is web.routes.HOT.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import NamedTuple

from fastapi.routing import APIRoute
from starlette.requests import Request

from gatehouse.web import routes
from gatehouse.web.errors import server_error

log = logging.getLogger("gatehouse")

HOT_PATHS = routes.HOT


class HotRoute(NamedTuple):
    path: str  # the full path: RequestMiddleware labels metrics with scope["route"].path
    endpoint: Callable


def _api_routes(routes, prefix: str = ""):
    """(full path, APIRoute) of every route, inside included routers too (FastAPI nests those)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            yield from _api_routes(route.original_router.routes, prefix + getattr(context, "prefix", ""))


class HotRoutes:
    def __init__(self, app):
        self.app = app
        self._routes: dict[tuple[str, str], HotRoute] | None = None

    def _table(self, fastapi_app) -> dict[tuple[str, str], HotRoute]:
        table = {}
        for path, route in _api_routes(fastapi_app.routes):
            if path not in HOT_PATHS:
                continue
            # Called with the Request alone: a dependency or a path parameter would be skipped here.
            if list(inspect.signature(route.endpoint).parameters) != ["request"]:
                raise TypeError(f"hot route {path} must take only the request")
            for method in route.methods:
                table[(method, path)] = HotRoute(path, route.endpoint)
        missing = HOT_PATHS - {path for _, path in table}
        if missing:
            raise LookupError(f"hot routes not declared: {sorted(missing)}")
        return table

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            if self._routes is None:
                self._routes = self._table(scope["app"])
            route = self._routes.get((scope["method"], scope["path"]))
            if route is not None:
                scope["route"] = route
                request = Request(scope, receive)
                try:
                    response = await route.endpoint(request)
                except Exception:
                    log.exception("unhandled error")
                    response = server_error()
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)
