"""The token endpoint (RFC 6749 §3.2): every grant of oauth.grants, answered by oauth.server."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request

from gatehouse.store.database import on_database_thread
from gatehouse.web import routes
from gatehouse.web.answers import oauth_answer
from gatehouse.web.common import form_body, gh, oauth_request, read_form, refuse_repeated
from gatehouse.web.errors import oauth_error

router = APIRouter(tags=["oauth"])

# Grants that make several database round trips run on the database threads
# (db.on_database_thread); client_credentials makes none and stays on the loop.
DATABASE_GRANTS = {"authorization_code", "refresh_token"}

FORM_BODY = form_body(
    "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "client_id", "client_secret"
)


@router.post(routes.TOKEN, summary="Token endpoint", openapi_extra=FORM_BODY)
async def token(request: Request):
    try:
        items = await read_form(request)
        refuse_repeated(items)
    except OAuth2Error as error:
        return oauth_error(error)
    create = gh(request).oauth.create_token_response
    parsed = oauth_request(request, items)
    if parsed.form.get("grant_type") in DATABASE_GRANTS:
        status, body, headers = await on_database_thread(create, parsed)
    else:
        status, body, headers = create(parsed)
    return oauth_answer(status, body, headers)
