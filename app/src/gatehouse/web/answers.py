"""Answers: JSON, OAuth responses and pages, with the caching each may have.

Every response body the app builds comes from here; errors become answers
in web.errors.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from gatehouse.web import routes

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))
# Pages link and post to paths by name (`routes.LOGIN`), as the routers declare them.
templates.env.globals["routes"] = routes

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Documents every relying party fetches and that change only with a deployment or a key rotation:
# the discovery metadata and the JWKS.
CACHEABLE = {"Cache-Control": "public, max-age=300"}


def oauth_answer(status: int, body, headers, no_store: bool = True) -> Response:
    merged = dict(headers or [])
    if no_store:
        merged.update(NO_STORE)
    if isinstance(body, (dict, list)):
        merged["Content-Type"] = "application/json"
        body = json.dumps(body, separators=(",", ":"))
    return Response(content=body or b"", status_code=status, headers=merged)


def json_answer(data, status: int = 200, headers: dict | None = None) -> Response:
    merged = {"Content-Type": "application/json"}
    merged.update(headers or {})
    return Response(json.dumps(data, separators=(",", ":"), default=str), status_code=status, headers=merged)


def page(request: Request, name: str, status: int = 200, **context) -> Response:
    context.setdefault("issuer", request.app.state.gatehouse.settings.issuer)
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, title: str, message: str, status: int = 400) -> Response:
    return page(request, "error.html", status=status, title=title, message=message)
