"""JWT access tokens (RFC 9068) and ID tokens (OpenID Connect Core 2)."""

from __future__ import annotations

import base64
import hashlib
import json
import time

from joserfc import jwt
from joserfc.errors import JoseError

from .hashing import new_token
from .keys import KeySet


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def left_hash(value: str, alg: str) -> str:
    """at_hash: the left half of the hash the signing algorithm uses (OIDC Core 3.1.3.6)."""
    if alg == "EdDSA":
        # Ed25519 signs with SHA-512 (OpenID errata, RFC 8037 usage).
        raw = hashlib.sha512(value.encode("ascii")).digest()
    else:
        raw = hashlib.sha256(value.encode("ascii")).digest()
    return _b64(raw[: len(raw) // 2])


class TokenSigner:
    def __init__(self, keys: KeySet, issuer: str):
        self.keys = keys
        self.issuer = issuer

    def sign(self, claims: dict, typ: str) -> str:
        key = self.keys.active
        header = {"alg": key.alg, "kid": key.kid, "typ": typ}
        return jwt.encode(header, claims, key.key, algorithms=[key.alg])

    def access_token(
        self,
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
    ) -> tuple[str, dict]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience or client_id,
            "client_id": client_id,
            "scope": scope,
            "jti": new_token(16),
            "iat": now,
            "exp": now + ttl,
        }
        if roles:
            claims["roles"] = list(roles)
        if permissions:
            claims["permissions"] = list(permissions)
        if grant_id:
            claims["gid"] = grant_id
        if auth_time:
            claims["auth_time"] = auth_time
        return self.sign(claims, "at+jwt"), claims

    def id_token(
        self,
        *,
        client_id: str,
        subject: str,
        ttl: int,
        auth_time: int,
        nonce: str | None,
        access_token: str | None,
        extra: dict | None = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": client_id,
            "azp": client_id,
            "iat": now,
            "exp": now + ttl,
            "auth_time": auth_time,
        }
        if nonce:
            claims["nonce"] = nonce
        if access_token:
            claims["at_hash"] = left_hash(access_token, self.keys.active.alg)
        if extra:
            claims.update(extra)
        return self.sign(claims, "JWT")

    def verify(self, token: str, typ: str | None = None, allow_expired: bool = False) -> dict | None:
        """Claims of a token this server signed and that has not expired; None otherwise.

        allow_expired serves id_token_hint at logout, where an expired ID
        token still identifies the session to end.
        """
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > 8192:
            return None
        try:
            header_segment = token.split(".", 1)[0]
            header = json.loads(base64.urlsafe_b64decode(header_segment + "=" * (-len(header_segment) % 4)))
            if not isinstance(header, dict):
                return None
            key = self.keys.verification_key(header.get("kid"))
            if key is None or header.get("alg") != key.alg:
                return None
            if typ and header.get("typ") != typ:
                return None
            decoded = jwt.decode(token, key.key, algorithms=[key.alg])
        except (JoseError, ValueError, TypeError, UnicodeDecodeError):
            return None
        claims = decoded.claims
        now = int(time.time())
        if claims.get("iss") != self.issuer or not isinstance(claims.get("exp"), int):
            return None
        if claims["exp"] <= now and not allow_expired:
            return None
        return claims
