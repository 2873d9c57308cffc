"""GatehouseError as an HTTP answer: the one place one is built (gatehouse.errors says what each error carries).

A JSON body everywhere but the portal: the app's handler for GatehouseError
and the admin API's route class (which authenticates before FastAPI reads
the body) both answer with error_answer. The portal's pages answer with
error_page_for, a page with the same status and message.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from gatehouse.errors import GatehouseError
from gatehouse.web.common import NO_STORE, error_page, json_answer

TITLES = {400: "Invalid request", 403: "Not allowed", 404: "Not found", 409: "Conflict"}


def error_answer(exc: GatehouseError) -> Response:
    """{"error", "error_description"[, "field"]} with the error's status, never cached."""
    return json_answer(exc.as_dict(), status=exc.status, headers={**NO_STORE, **(exc.headers or {})})


def error_page_for(request: Request, exc: GatehouseError) -> Response:
    return error_page(request, TITLES.get(exc.status, "Error"), exc.message, exc.status)
