"""The revocation endpoint (RFC 7009 §2): a client ends one of its tokens (oauth.revocation).

The answer is 200 whether or not the token was known (§2.2).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from gatehouse.oauth.revocation import revoke
from gatehouse.web import routes
from gatehouse.web.answers import oauth_answer
from gatehouse.web.common import form_body, gh, token_request

router = APIRouter(tags=["oauth"])

FORM_BODY = form_body("token", "token_type_hint", "client_id", "client_secret")


@router.post(routes.REVOKE, summary="Token revocation (RFC 7009)", openapi_extra=FORM_BODY)
async def revocation(request: Request):
    client, token, hint = await token_request(request, "revocation")
    if client is None:
        return token
    revoke(gh(request).oauth, client, token, hint)
    return oauth_answer(200, "", [])
