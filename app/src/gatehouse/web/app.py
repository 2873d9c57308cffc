"""The FastAPI application: routers, middleware, error handlers."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gatehouse import __version__
from gatehouse.services import Services, build
from gatehouse.settings import Settings, load_settings
from gatehouse.web import errors, routes
from gatehouse.web.endpoints import authorize, discovery, health, introspection, jwks, revocation, token, userinfo
from gatehouse.web.endpoints import end_session as logout
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
    app.mount(routes.STATIC, StaticFiles(directory=str(Path(__file__).resolve().parents[1] / "static")), name="static")

    errors.install(app)

    # The last added runs first: RequestMiddleware (request id, headers, metrics, access log), then
    # BodyLimit, then HotRoutes, so the hot routes' bodies are capped too and a 413 is logged.
    app.add_middleware(HotRoutes)
    app.add_middleware(
        BodyLimit, limit=state.settings.max_request_body_bytes, admin_limit=state.settings.admin_max_request_body_bytes
    )
    app.add_middleware(RequestMiddleware)
    return app
