"""JWT access tokens (RFC 9068) and ID tokens (OpenID Connect Core 2)."""

from __future__ import annotations

import base64
import json
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import JoseError

from gatehouse.crypto.digests import new_token
from gatehouse.crypto.key_set import KeySet


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signature(private, alg: str, data: bytes) -> bytes:
    """The JWS signature (RFC 7518 §3): ECDSA as raw r || s, not DER."""
    if alg == "RS256":
        return private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "ES256":
        r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
        size = (private.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return private.sign(data)  # EdDSA: Ed25519


class TokenSigner:
    def __init__(self, keys: KeySet, issuer: str):
        self.keys = keys
        self.issuer = issuer
        self._headers: dict[tuple, str] = {}

    def sign(self, claims: dict, typ: str) -> str:
        """A compact JWS, built here rather than by joserfc: every token is
        signed on the hot path, and the library's header checks and registry
        lookups cost about an eighth of an RSA signature. The header of a key
        and typ never changes, so it is encoded once. Verification stays with
        joserfc (tests check the two agree for every algorithm)."""
        key = self.keys.active
        cached = (key.kid, key.alg, typ)
        header = self._headers.get(cached)
        if header is None:
            header = self._headers[cached] = b64url(
                json.dumps({"alg": key.alg, "kid": key.kid, "typ": typ}, separators=(",", ":")).encode()
            )
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}"
        signature = _signature(key.key.private_key, key.alg, signing_input.encode("ascii"))
        return f"{signing_input}.{b64url(signature)}"

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
            from gatehouse.oauth.id_token import left_hash  # noqa: PLC0415 (temporary, moves with id_token)

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
