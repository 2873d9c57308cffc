"""Password hashing (argon2id), run off the event loop.

Secrets with far more entropy than a password (client secrets, codes,
tokens) are not hashed here but digested (crypto.digests).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher: PasswordHasher | None = None


def configure_password_hasher(time_cost: int, memory_cost: int, parallelism: int) -> None:
    global _hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def _get_hasher() -> PasswordHasher:
    if _hasher is None:
        configure_password_hasher(2, 19456, 1)
    return _hasher


def hash_password(password: str) -> str:
    return _get_hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _get_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _get_hasher().check_needs_rehash(password_hash)


# A hash with the current parameters, verified against when the username is
# unknown so that response time does not reveal which usernames exist.
_DUMMY: str | None = None


def burn_password_check(password: str) -> None:
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = hash_password("not-a-real-password")
    verify_password(_DUMMY, password)


# argon2 runs off the event loop, one hash at a time per process: each hash
# holds ARGON2_MEMORY_COST of memory, and glibc keeps a freed arena per
# thread, so several concurrent hashes would grow every worker by that much
# each, for no gain in throughput (the hash is CPU-bound).
_argon2_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")


async def off_loop(function, *args):
    """Run a password hash or verification on the argon2 thread."""
    return await asyncio.get_running_loop().run_in_executor(_argon2_thread, function, *args)
