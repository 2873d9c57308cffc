"""ID tokens (OpenID Connect Core §2): the at_hash claim."""

from __future__ import annotations

import hashlib

from gatehouse.crypto.jws import b64url


def left_hash(value: str, alg: str) -> str:
    """at_hash: the left half of the hash the signing algorithm uses (OIDC Core 3.1.3.6)."""
    if alg == "EdDSA":
        # Ed25519 signs with SHA-512 (OpenID errata, RFC 8037 usage).
        raw = hashlib.sha512(value.encode("ascii")).digest()
    else:
        raw = hashlib.sha256(value.encode("ascii")).digest()
    return b64url(raw[: len(raw) // 2])
