"""The introspection endpoint (RFC 7662 §2): what an authenticated client may know of a token (oauth.introspection)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gatehouse.oauth.introspection import introspect
from gatehouse.web import routes
from gatehouse.web.answers import oauth_answer
from gatehouse.web.common import form_body, gh, token_request

router = APIRouter(tags=["oauth"])

FORM_BODY = form_body("token", "token_type_hint", "client_id", "client_secret")


@router.post(routes.INTROSPECT, summary="Token introspection (RFC 7662)", openapi_extra=FORM_BODY)
async def introspection(request: Request):
    client, token, hint = await token_request(request, "introspection")
    if client is None:
        return token
    return oauth_answer(200, introspect(gh(request).oauth, client, token, hint), [])
