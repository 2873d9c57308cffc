"""What the hardware allows, measured on the server's core with the server
stopped: the floor under each figure of the benchmark, and a gauge of how
fast the machine is at this moment (other load on a shared machine slows it).

- argon2id with the configured parameters (ARGON2_* through
  gatehouse.config): the ceiling a password login can approach. A login
  verifies a hash, which costs what hashing does.
- Signing with the active key (RSA-2048 by default): raw, through the
  `cryptography` package, and as a whole access token through the app's
  TokenSigner (claims, JSON, base64, joserfc); and verifying one, which
  introspection does.

Prints one JSON object. Reads the server's environment (JWT_KEYS_DIR, ARGON2_*).
"""

from __future__ import annotations

import json
import os
import time

from argon2 import PasswordHasher
from gatehouse.crypto.jws import TokenSigner
from gatehouse.crypto.key_set import KeySet
from gatehouse.oauth import access_token
from gatehouse.settings import load_settings


def timed(call, seconds: float) -> dict:
    """Mean wall and CPU milliseconds per call; CPU time is what other load on the core inflates least."""
    call()  # warm
    count, started, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        call()
        count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            wall_ms = elapsed * 1000 / count
            cpu_ms = (time.process_time() - cpu) * 1000 / count
            return {"wall_ms": wall_ms, "cpu_ms": cpu_ms, "per_second": 1000 / wall_ms, "samples": count}


def _raw_signer(key):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    private = key.key.private_key
    message = b"x" * 300  # about the size of an access token's signing input
    if isinstance(private, rsa.RSAPrivateKey):
        return lambda: private.sign(message, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return lambda: private.sign(message, ec.ECDSA(hashes.SHA256()))
    return lambda: private.sign(message)


def main() -> None:
    settings = load_settings()
    seconds = float(os.environ.get("BENCH_BASELINE_SECONDS", "2"))
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost,
        parallelism=settings.argon2_parallelism,
    )
    password = "bench-password-correct-horse-battery"
    stored = hasher.hash(password)
    keys = KeySet(settings.jwt_keys_dir, settings.jwt_private_key_path)
    signer = TokenSigner(keys, settings.issuer)
    token, _ = access_token.issue(signer, client_id="c", subject="c", scope="api:read api:write", ttl=3600)
    result = {
        "argon2": {
            "time_cost": settings.argon2_time_cost,
            "memory_cost_kib": settings.argon2_memory_cost,
            "parallelism": settings.argon2_parallelism,
            **timed(lambda: hasher.verify(stored, password), seconds * 1.5),
        },
        "algorithm": keys.active.alg,
        "sign_raw": timed(_raw_signer(keys.active), seconds),
        "access_token": timed(
            lambda: access_token.issue(signer, client_id="c", subject="c", scope="api:read api:write", ttl=3600),
            seconds,
        ),
        "verify_token": timed(lambda: signer.verify(token, typ="at+jwt"), seconds / 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
