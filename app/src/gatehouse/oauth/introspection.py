"""Token introspection (RFC 7662): the client-authenticated view of a token.

Access tokens are checked by signature, expiry and the revocation rows;
refresh tokens by their stored digest. Anything else is `active: false`.
"""

from __future__ import annotations

import time

from ..hashing import digest
from ..models import Grant, RefreshToken

INACTIVE = {"active": False}


def introspect(server, token: str, hint: str | None) -> dict:
    if not token or len(token) > 8192:
        return INACTIVE
    order = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    for kind in order:
        result = _access(server, token) if kind == "access_token" else _refresh(token)
        if result is not None:
            return result
    return INACTIVE


def _access(server, token: str) -> dict | None:
    claims = server.issuer.signer.verify(token, typ="at+jwt")
    if claims is None or server.issuer.is_revoked(claims):
        return None
    result = {"active": True, "token_type": "Bearer"}
    for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "roles", "permissions", "auth_time"):
        if name in claims:
            result[name] = claims[name]
    return result


def _refresh(token: str) -> dict | None:
    row = RefreshToken.get_or_none(RefreshToken.token_digest == digest(token))
    now = int(time.time())
    if row is None or row.revoked_at or row.rotated_at or row.expires_at <= now:
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
