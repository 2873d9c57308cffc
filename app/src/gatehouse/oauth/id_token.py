"""ID tokens (OpenID Connect Core §2): the claims of one, its at_hash (§3.1.3.6), signing it, and
reading one back as an id_token_hint (RP-Initiated Logout 1.0 §2)."""

from __future__ import annotations

import hashlib
import time

from gatehouse.crypto.jws import TokenSigner, b64url

# The plain JWT type: relying parties check no `typ` on an ID token, and this one is not at+jwt.
TYP = "JWT"


def left_hash(value: str, alg: str) -> str:
    """at_hash: the left half of the hash the signing algorithm uses (OIDC Core 3.1.3.6)."""
    if alg == "EdDSA":
        # Ed25519 signs with SHA-512 (OpenID errata, RFC 8037 usage).
        raw = hashlib.sha512(value.encode("ascii")).digest()
    else:
        raw = hashlib.sha256(value.encode("ascii")).digest()
    return b64url(raw[: len(raw) // 2])


def claims(
    issuer: str,
    alg: str,
    *,
    client_id: str,
    subject: str,
    ttl: int,
    auth_time: int,
    nonce: str | None,
    access_token: str | None,
    extra: dict | None = None,
) -> dict:
    """The claims set (OIDC Core §2): `alg`, the signing key's, decides at_hash's hash.
    `extra`: the user's claims the scope releases (oauth.claims), `sub` excluded."""
    now = int(time.time())
    values = {
        "iss": issuer,
        "sub": subject,
        "aud": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + ttl,
        "auth_time": auth_time,
    }
    if nonce:
        values["nonce"] = nonce
    if access_token:
        values["at_hash"] = left_hash(access_token, alg)
    if extra:
        values.update(extra)
    return values


def issue(signer: TokenSigner, **fields) -> str:
    """A signed ID token; `fields` are claims()'s but the issuer and alg, which the signer's."""
    return signer.sign(claims(signer.issuer, signer.keys.active.alg, **fields), TYP)


def verify_hint(signer: TokenSigner, token: str) -> dict | None:
    """The claims of an ID token this server signed, expired or not (an expired ID token still names
    the session a relying party asks to end); None otherwise."""
    return signer.verify(token, typ=TYP, allow_expired=True)
