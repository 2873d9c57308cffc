"""UserInfo (OIDC Core §5.3): bearer token in the Authorization header only (RFC 6750 §2.1).

A token in the query string is refused outright: it would end up in logs
and browser history (RFC 9700 §2.5 / OAuth 2.1 §5.2). A token whose client
has been deactivated or deleted is refused like a revoked one.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from gatehouse.oauth.claims import oidc_claims
from gatehouse.oauth.introspection import live_access_token
from gatehouse.store.models import User
from gatehouse.web import routes
from gatehouse.web.common import gh, json_answer

router = APIRouter(tags=["oauth"])


def _challenge(error: str, description: str, status: int = 401):
    header = f'Bearer error="{error}", error_description="{description}"'
    return json_answer(
        {"error": error, "error_description": description},
        status=status,
        headers={"WWW-Authenticate": header, "Cache-Control": "no-store"},
    )


def _is_user_id(value) -> bool:
    """A user id as this server writes one in `sub`: ASCII digits only. str.isdigit()
    also accepts '²', which int() then refuses, and '١', which int() reads as 1."""
    return isinstance(value, str) and 0 < len(value) <= 18 and value.isascii() and value.isdigit()


def _userinfo(request: Request):
    if "access_token" in request.query_params:
        return _challenge("invalid_request", "access tokens are accepted only in the Authorization header", 400)
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() != "bearer " or not auth[7:].strip():
        return json_answer(
            {"error": "invalid_token", "error_description": "a bearer token is required"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="gatehouse"', "Cache-Control": "no-store"},
        )
    claims = live_access_token(gh(request).oauth, auth[7:].strip())
    if claims is None:
        return _challenge("invalid_token", "the access token is invalid, expired or revoked")
    subject = claims.get("sub")
    if "openid" not in str(claims.get("scope", "")).split() or not _is_user_id(subject) or not claims.get("gid"):
        return _challenge("insufficient_scope", "the token lacks the openid scope of a user", 403)
    user = User.get_or_none((User.id == int(subject)) & (User.is_active == True))  # noqa: E712
    if user is None:
        return _challenge("invalid_token", "the user of this token no longer exists")
    return json_answer(oidc_claims(user, claims["scope"]), headers={"Cache-Control": "no-store"})


@router.get(routes.USERINFO, summary="OpenID Connect UserInfo")
async def userinfo_get(request: Request):
    return _userinfo(request)


@router.post(routes.USERINFO, summary="OpenID Connect UserInfo")
async def userinfo_post(request: Request):
    return _userinfo(request)
