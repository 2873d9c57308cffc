"""The admin API as a resource server of its own (RFC 8707 resource indicator, RFC 9068 §4 audience).

Only an admin client (clients.is_admin, which only an admin can set) may ask
for the `admin` scope. A token whose scope holds it is issued for the admin
API alone (`aud` is the API's resource indicator) and is the only kind that
carries the user's `roles` and `permissions`: an ordinary relying party's
token neither works at the admin API nor advertises what the user may do there.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error

from gatehouse.web import routes

ADMIN_SCOPE = "admin"
ADMIN_API_PATH = routes.ADMIN_API


def admin_audience(issuer: str) -> str:
    """The admin API's resource indicator: an absolute URI without a fragment (RFC 8707 §2)."""
    return issuer + ADMIN_API_PATH


def is_admin_scope(scope: str) -> bool:
    return ADMIN_SCOPE in scope.split()


def names_audience(aud, audience: str) -> bool:
    """RFC 7519 §4.1.3: aud is one string or a list of them."""
    return aud == audience or (isinstance(aud, list) and audience in aud)


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is unknown, or not one this client and scope may have."""

    error = "invalid_target"


def check_resource(request, scope: str, issuer: str) -> None:
    """The `resource` parameters of an authorization or token request (RFC 8707).

    This server issues tokens for two audiences only: the client itself, and
    the admin API for the admin scope. A `resource` naming the admin API is
    accepted with that scope; anything else is invalid_target rather than a
    token whose audience would not say what the client asked for.
    """
    values = request.payload.datalist.get("resource") or []
    for value in values:
        if value != admin_audience(issuer):
            raise InvalidTargetError(f"unknown resource; this server issues tokens for {admin_audience(issuer)} only")
        if not is_admin_scope(scope):
            raise InvalidTargetError(f"the resource {value} needs the {ADMIN_SCOPE} scope")
