"""The admin API as a resource server of its own (RFC 8707 resource indicator, RFC 9068 §4 audience).

Only an admin client (clients.is_admin, which only an admin can set) may ask
for the `admin` scope. A token whose scope holds it is issued for the admin
API alone (`aud` is the API's resource indicator) and is the only kind that
carries the user's `roles` and `permissions`: an ordinary relying party's
token neither works at the admin API nor advertises what the user may do there.
"""

from __future__ import annotations

ADMIN_SCOPE = "admin"
ADMIN_API_PATH = "/api/v2/admin"


def admin_audience(issuer: str) -> str:
    """The admin API's resource indicator: an absolute URI without a fragment (RFC 8707 §2)."""
    return issuer + ADMIN_API_PATH


def is_admin_scope(scope: str) -> bool:
    return ADMIN_SCOPE in scope.split()


def names_audience(aud, audience: str) -> bool:
    """RFC 7519 §4.1.3: aud is one string or a list of them."""
    return aud == audience or (isinstance(aud, list) and audience in aud)
