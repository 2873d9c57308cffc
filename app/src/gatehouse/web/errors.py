"""Errors as HTTP answers: the one place an error becomes a response.

- GatehouseError (gatehouse.errors: bad input, not found, conflict, not
  allowed, unauthenticated, ...): JSON {"error", "error_description"[,
  "field"]} with the error's status, never cached, and RFC 6750's Bearer
  challenge when it is about a bearer credential; a page in the portal
  (error_page_for).
- BearerError at UserInfo (RFC 6750 §3): the same body and challenge.
- OAuth2Error (Authlib): RFC 6749 §5.2's body from the error itself.
- FastAPI's validation errors and HTTP exceptions, a body over the limit,
  and anything unexpected (500, logged, nothing of it shown).

install(app) registers the handlers; the hot routes, the body limit and
the admin API's route class call the same functions.
"""

from __future__ import annotations

import json
import logging

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gatehouse.errors import GatehouseError, error_body
from gatehouse.oauth import bearer
from gatehouse.web.answers import NO_STORE, error_page, json_answer, oauth_answer

log = logging.getLogger("gatehouse")

TITLES = {400: "Invalid request", 403: "Not allowed", 404: "Not found", 409: "Conflict"}
HTTP_ERROR_NAMES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def error_answer(exc: GatehouseError) -> Response:
    """A GatehouseError as JSON with its status, never cached; with the Bearer challenge its `challenge` names."""
    headers = dict(NO_STORE)
    if exc.challenge is not None:
        # "" is a challenge without an error code: the request carried no credentials (RFC 6750 §3.1).
        description = exc.message if exc.challenge_describes else None
        headers.update(bearer.challenge_headers(exc.challenge or None, description))
    return json_answer(exc.as_dict(), status=exc.status, headers=headers)


def bearer_answer(exc: bearer.BearerError, body_error: str | None = None) -> Response:
    """RFC 6750 §3's answer; body_error names the body's error where the challenge has none (§3.1)."""
    return json_answer(
        error_body(body_error or exc.error, exc.description),
        status=exc.status,
        headers={**exc.headers, "Cache-Control": "no-store"},
    )


def oauth_error(error: OAuth2Error) -> Response:
    status, body, headers = error()
    return oauth_answer(status, body, headers)


def server_error() -> Response:
    return json_answer(error_body("server_error", "internal error"), status=500)


def too_large_body(limit: int) -> bytes:
    """The body of a 413 (web.middleware.BodyLimit answers it in raw ASGI)."""
    description = f"the request body is larger than {limit} bytes"
    return json.dumps(error_body("invalid_request", description), separators=(",", ":")).encode()


def error_page_for(request: Request, exc: GatehouseError) -> Response:
    return error_page(request, TITLES.get(exc.status, "Error"), exc.message, exc.status)


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return json_answer(error_body("invalid_request", _describe(exc)), status=400)

    @app.exception_handler(GatehouseError)
    async def gatehouse_error(request: Request, exc: GatehouseError):
        return error_answer(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        name = HTTP_ERROR_NAMES.get(exc.status_code, "invalid_request")
        return json_answer(
            error_body(name, str(exc.detail)), status=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error")
        return server_error()
