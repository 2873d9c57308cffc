"""Who is calling the admin API, and may they: bearer tokens (RFC 6750) or the portal's session.

A bearer access token (RFC 9068) is accepted in the Authorization header
only, and only one issued for the admin API (oauth.admin_resource): its
`aud` names the API, its scope holds `admin`, and its client is an admin
client that is still active. A token any other relying party received for
the same user is refused, whatever that user may do. The token's
`permissions` claim must hold the permission a route needs, and so must the
user's roles today: removing a role takes effect at once, not when the
token expires.

The portal's session cookie is accepted too, for a script running in the
admin's browser. A cookie travels with cross-site requests, so every
state-changing request authenticated by it must also carry the session's
CSRF token in the X-CSRF-Token header, which another site cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request

from gatehouse.accounts.actor import ADMIN_ROLE, Actor
from gatehouse.accounts.users import roles_and_permissions
from gatehouse.errors import Forbidden, Unauthenticated
from gatehouse.oauth import bearer
from gatehouse.oauth.admin_resource import admin_audience, is_admin_scope, names_audience
from gatehouse.oauth.claims import user_id_of
from gatehouse.store.models import Session, User
from gatehouse.web.common import client_ip, gh
from gatehouse.web.session_cookie import current_session, session_user

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Principal:
    user_id: int
    permissions: frozenset
    via: str  # "token" or "session"
    is_admin: bool = False
    session: Session | None = None
    client_id: str | None = None


def _from_token(request: Request, token: str) -> Principal:
    state = gh(request)
    # Signed here, unexpired, not revoked, its client still active: what every bearer endpoint checks.
    claims = bearer.live_access_token(state.oauth, token)
    if claims is None:
        raise Unauthenticated(
            "the access token is invalid, expired or revoked, or its client is deactivated", bearer.INVALID_TOKEN
        )
    if not names_audience(claims.get("aud"), admin_audience(state.settings.issuer)):
        raise Unauthenticated("the access token was not issued for the admin API", bearer.INVALID_TOKEN)
    if not is_admin_scope(str(claims.get("scope", ""))):
        raise Forbidden("the access token's scope does not hold admin")
    client = state.clients.get(claims["client_id"])
    if client is None or not client.is_admin:
        # No longer an admin client (or gone since): its tokens end with it.
        raise Unauthenticated("the client of this access token is not an admin client", bearer.INVALID_TOKEN)
    user_id = user_id_of(claims)
    if user_id is None:
        # A client_credentials token (sub is the client) acts for no user and holds no permission.
        raise Forbidden("the access token does not act for a user")
    user = User.get_or_none((User.id == user_id) & (User.is_active == True))  # noqa: E712
    if user is None:
        raise Unauthenticated("the user of this access token is gone or deactivated", bearer.INVALID_TOKEN)
    claimed = claims.get("permissions")
    claimed = {p for p in claimed if isinstance(p, str)} if isinstance(claimed, list) else set()
    roles, held = roles_and_permissions(user.id)
    claimed_roles = claims.get("roles") if isinstance(claims.get("roles"), list) else []
    is_admin = ADMIN_ROLE in roles and ADMIN_ROLE in claimed_roles
    return Principal(user.id, frozenset(claimed & set(held)), "token", is_admin, client_id=client.client_id)


def authenticate(request: Request) -> Principal:
    """The caller, from the Authorization header or else the session cookie; Unauthenticated if neither."""
    try:
        token = bearer.token_from(request)
    except bearer.BearerError as error:
        raise Unauthenticated(error.description, error.error) from None
    if token is not None:
        return _from_token(request, token)
    session = current_session(request)
    user = session_user(session)
    if user is None:
        raise Unauthenticated("a bearer access token or a signed-in session is required")
    roles, permissions = roles_and_permissions(user.id)
    return Principal(user.id, frozenset(permissions), "session", ADMIN_ROLE in roles, session=session)


def check_csrf(request: Request, principal: Principal) -> None:
    if principal.via != "session" or request.method in SAFE_METHODS:
        return
    if not gh(request).sessions.csrf_ok(principal.session, request.headers.get(CSRF_HEADER)):
        raise Forbidden(f"a change made with the session cookie needs the {CSRF_HEADER} header", "invalid_csrf_token")


def needs(permission: str):
    """A dependency: the Actor of the authenticated caller, if they hold `permission`."""

    def dependency(request: Request) -> Actor:
        principal: Principal = request.state.admin_principal
        if permission not in principal.permissions:
            raise Forbidden(f"this needs the {permission} permission")
        return Actor(
            id=str(principal.user_id),
            user_id=principal.user_id,
            ip=client_ip(request),
            via=principal.via,
            permissions=principal.permissions,
            is_admin=principal.is_admin,
            auth_time=principal.session.auth_time if principal.session else None,
        )

    return Depends(dependency)
