"""UserInfo (OIDC Core §5.3): a bearer token (oauth.bearer, RFC 6750) of a user, with the openid scope.

A token in the query string is refused, and so is one whose client has
been deactivated or deleted, like a revoked one.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from gatehouse.oauth import bearer
from gatehouse.oauth.claims import oidc_claims, user_id_of
from gatehouse.store.models import User
from gatehouse.web import routes
from gatehouse.web.answers import json_answer
from gatehouse.web.common import gh
from gatehouse.web.errors import bearer_answer

router = APIRouter(tags=["oauth"])


def _userinfo(request: Request):
    try:
        token = bearer.token_from(request)
    except bearer.BearerError as error:
        return bearer_answer(error)
    if token is None:
        return bearer_answer(bearer.BearerError(None, "a bearer token is required"), bearer.INVALID_TOKEN)
    claims = bearer.live_access_token(gh(request).oauth, token)
    if claims is None:
        return bearer_answer(
            bearer.BearerError(bearer.INVALID_TOKEN, "the access token is invalid, expired or revoked")
        )
    user_id = user_id_of(claims)
    if "openid" not in str(claims.get("scope", "")).split() or user_id is None or not claims.get("gid"):
        return bearer_answer(
            bearer.BearerError(bearer.INSUFFICIENT_SCOPE, "the token lacks the openid scope of a user")
        )
    user = User.get_or_none((User.id == user_id) & (User.is_active == True))  # noqa: E712
    if user is None:
        return bearer_answer(bearer.BearerError(bearer.INVALID_TOKEN, "the user of this token no longer exists"))
    return json_answer(oidc_claims(user, claims["scope"]), headers={"Cache-Control": "no-store"})


@router.get(routes.USERINFO, summary="OpenID Connect UserInfo")
async def userinfo_get(request: Request):
    return _userinfo(request)


@router.post(routes.USERINFO, summary="OpenID Connect UserInfo")
async def userinfo_post(request: Request):
    return _userinfo(request)
