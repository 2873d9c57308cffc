"""Token introspection (RFC 7662): the client-authenticated view of a token.

Access tokens are checked by signature, expiry and the revocation rows
(as oauth.bearer.live_access_token checks them for a resource);
refresh tokens by their stored digest. Anything else is `active: false`.

Only the token's own client (`client_id`), or for an access token a
resource server named in its `aud`, learns that a token is active and what
it carries; any other authenticated caller gets `active: false` (RFC 7662
§4), as for an unknown token. A token whose client has been deactivated or
deleted is inactive at once (through the client cache: other processes see
the change within CLIENT_CACHE_SECONDS).
"""

from __future__ import annotations

import time

from gatehouse.crypto.digests import digest
from gatehouse.oauth import access_token
from gatehouse.oauth.admin_resource import names_audience
from gatehouse.store.models import Grant, RefreshToken

INACTIVE = {"active": False}


def introspect(server, caller, token: str, hint: str | None) -> dict:
    """What `caller` (the authenticated client) may know of `token`."""
    if not token or len(token) > 8192:
        return INACTIVE
    order = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    for kind in order:
        result = _access(server, caller, token) if kind == "access_token" else _refresh(caller, token)
        if result is not None:
            return result
    return INACTIVE


def _access(server, caller, token: str) -> dict | None:
    """None when this is no access token of this server; INACTIVE when it is one,
    but revoked, of an inactive client, or not for the caller."""
    claims = access_token.verify(server.tokens.signer, token)
    if claims is None:
        return None
    owner = claims.get("client_id")
    if caller.client_id != owner and not names_audience(claims.get("aud"), caller.client_id):
        return INACTIVE
    if server.tokens.is_revoked(claims):
        return INACTIVE
    # The caller was just authenticated, so when it is the token's client that client is active.
    if caller.client_id != owner and not server.clients.is_active(owner):
        return INACTIVE
    result = {"active": True, "token_type": "Bearer"}
    for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "roles", "permissions", "auth_time"):
        if name in claims:
            result[name] = claims[name]
    return result


def _refresh(caller, token: str) -> dict | None:
    row = RefreshToken.get_or_none(RefreshToken.token_digest == digest(token))
    now = int(time.time())
    # Only the client that holds a refresh token may introspect it (and being
    # authenticated, that client is active).
    if row is None or row.client_id != caller.client_id:
        return None
    if row.revoked_at or row.rotated_at or row.expires_at <= now:
        return None
    grant = Grant.get_or_none((Grant.id == row.grant_id) & Grant.revoked_at.is_null())
    if grant is None:
        return None
    return {
        "active": True,
        "token_type": "refresh_token",
        "scope": row.scope,
        "client_id": row.client_id,
        "sub": str(row.user_id),
        "exp": row.expires_at,
        "iat": row.issued_at,
    }
