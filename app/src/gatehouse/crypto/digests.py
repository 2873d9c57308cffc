"""Digests of high-entropy secrets, and the random values those secrets are.

Client secrets, codes and tokens carry >= 128 bits of entropy, so a fast
SHA-256 digest compared in constant time is as safe as a password hash for
them, and keeps the token endpoint fast. Passwords, which carry far less,
are hashed with argon2id (crypto.passwords).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random string (32 bytes = 256 bits)."""
    return _secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def digest_matches(stored_digest: str | None, presented: str) -> bool:
    if not stored_digest or presented is None:
        return False
    return hmac.compare_digest(stored_digest, digest(presented))
