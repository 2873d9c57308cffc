"""JWT access tokens (RFC 9068): the claims of one, signing it, and reading one back.

An access token needs no row of its own (see oauth.issuance). Tokens of a
user's authorization carry its grant id (`gid`), so revoking the grant
revokes them all; `roles` and `permissions` go only into tokens for the
admin API (oauth.admin_resource).
"""

from __future__ import annotations

import time

from gatehouse.crypto.digests import new_token
from gatehouse.crypto.jws import TokenSigner

# RFC 9068 §2.1: the media type that tells an access token from an ID token signed with the same keys.
TYP = "at+jwt"


def claims(
    issuer: str,
    *,
    client_id: str,
    subject: str,
    scope: str,
    ttl: int,
    audience: str | list | None = None,
    roles=(),
    permissions=(),
    grant_id: str | None = None,
    auth_time: int | None = None,
) -> dict:
    """The claims set (RFC 9068 §2.2): audience defaults to the client itself."""
    now = int(time.time())
    values = {
        "iss": issuer,
        "sub": subject,
        "aud": audience or client_id,
        "client_id": client_id,
        "scope": scope,
        "jti": new_token(16),
        "iat": now,
        "exp": now + ttl,
    }
    if roles:
        values["roles"] = list(roles)
    if permissions:
        values["permissions"] = list(permissions)
    if grant_id:
        values["gid"] = grant_id
    if auth_time:
        values["auth_time"] = auth_time
    return values


def issue(signer: TokenSigner, **fields) -> tuple[str, dict]:
    """A signed access token and its claims; `fields` are claims()'s."""
    values = claims(signer.issuer, **fields)
    return signer.sign(values, TYP), values


def verify(signer: TokenSigner, token: str) -> dict | None:
    """The claims of an access token this server signed and that has not expired (RFC 9068 §4:
    the `typ` is checked, so an ID token is no access token); None otherwise. Revocation and the
    client's state are the caller's to check (oauth.bearer.live_access_token)."""
    return signer.verify(token, typ=TYP)
