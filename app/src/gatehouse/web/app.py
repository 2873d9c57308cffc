"""The FastAPI application: routers, middleware, error handlers."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from gatehouse import __version__
from gatehouse.errors import GatehouseError
from gatehouse.services import Services, build
from gatehouse.settings import Settings, load_settings
from gatehouse.web.common import json_answer
from gatehouse.web.endpoints import authorize, discovery, health, introspection, jwks, revocation, token, userinfo
from gatehouse.web.endpoints import end_session as logout
from gatehouse.web.errors import error_answer
from gatehouse.web.hot_routes import HotRoutes
from gatehouse.web.middleware import BodyLimit, RequestMiddleware
from gatehouse.web.pages import home, login
from gatehouse.web.pages import logout as logout_page  # `logout` is the end-session endpoint

log = logging.getLogger("gatehouse")


def create_app(settings: Settings | None = None, state: Services | None = None) -> FastAPI:
    state = state or build(settings or load_settings())
    app = FastAPI(
        title="Gatehouse",
        version=__version__,
        description="OAuth 2.1 / OpenID Connect authorization server",
        docs_url=None,
        redoc_url=None,
    )
    app.state.gatehouse = state
    for module in (discovery, jwks, token, introspection, revocation, userinfo, authorize, logout, health):
        app.include_router(module.router)
    for module in (home, login, logout_page):
        app.include_router(module.router)
    from gatehouse.web import admin

    app.include_router(admin.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).resolve().parents[1] / "static")), name="static")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return json_answer({"error": "invalid_request", "error_description": _describe(exc)}, status=400)

    @app.exception_handler(GatehouseError)
    async def gatehouse_error(request: Request, exc: GatehouseError):
        return error_answer(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return json_answer(
            {"error": _http_error_name(exc.status_code), "error_description": str(exc.detail)},
            status=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error")
        return json_answer({"error": "server_error", "error_description": "internal error"}, status=500)

    # The last added runs first: RequestMiddleware (request id, headers, metrics, access log), then
    # BodyLimit, then HotRoutes, so the hot routes' bodies are capped too and a 413 is logged.
    app.add_middleware(HotRoutes)
    app.add_middleware(
        BodyLimit, limit=state.settings.max_request_body_bytes, admin_limit=state.settings.admin_max_request_body_bytes
    )
    app.add_middleware(RequestMiddleware)
    return app


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg')}")
    return "; ".join(parts) or "invalid request"


def _http_error_name(status: int) -> str:
    return {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
        status, "invalid_request"
    )
