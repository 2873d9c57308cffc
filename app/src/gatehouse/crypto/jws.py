"""Compact JWS (RFC 7515 §7.1) of the JWTs this server issues (RFC 7519): signing and verifying.

What a token says is the business of its profile: oauth.access_token (RFC
9068) and oauth.id_token (OpenID Connect Core §2) build the claims and name
the `typ`; this module only signs a claims set with the active key and
checks a token against the published keys, the issuer and the expiry.
Algorithms (RFC 7518 §3, RFC 8037): RS256, ES256, EdDSA (Ed25519).
"""

from __future__ import annotations

import base64
import json
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import JoseError

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
    """Signs this issuer's JWTs with the active key and verifies them against the key set.

    Not a bare JWS: verify() also checks the JWT claims every token of this
    server must have right (`iss` is this issuer, `exp` is in the future).
    """

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
