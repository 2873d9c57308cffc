"""Token revocation (RFC 7009).

A client may revoke only its own tokens; an unknown or foreign token gets
the same 200 as a revoked one (§2.2), so the endpoint reveals nothing.
A public client authenticates with its client_id alone (method `none`,
§2.1): it holds no secret, and may end only tokens it was issued.
Revoking a refresh token ends the whole grant, its access tokens included
(§2.1 SHOULD).
"""

from __future__ import annotations

from gatehouse.crypto.digests import digest
from gatehouse.oauth import access_token
from gatehouse.runtime import audit
from gatehouse.store.models import RefreshToken


def revoke(server, client, token: str, hint: str | None) -> None:
    if not token or len(token) > 8192:
        return
    order = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    for kind in order:
        if kind == "access_token":
            claims = access_token.verify(server.tokens.signer, token)
            if claims and claims.get("client_id") == client.client_id:
                server.tokens.revoke_access_token(claims)
                audit.record("token.revoked", actor=client.client_id, subject=claims.get("sub"), jti=claims["jti"])
                return
        else:
            row = RefreshToken.get_or_none(RefreshToken.token_digest == digest(token))
            if row is not None and row.client_id == client.client_id:
                server.tokens.revoke_grant(row.grant_id, "refresh_token")
                audit.record("token.revoked", actor=client.client_id, subject=str(row.user_id), gid=row.grant_id)
                return
