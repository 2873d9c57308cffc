"""Counters for rate limits and login lockout, shared through Redis.

Fixed windows keyed by the window's start: one INCR (+EXPIRE) round trip
(a login's throttle, lockout and failure counter share it).
Without Redis the same counters live in this process, so a limit still
holds per process (and per host) while Redis is away.
"""

from __future__ import annotations

import threading
import time

from .cache import Cache
from .users import username_key


class LocalCounters:
    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def incr(self, key: str, ttl: int) -> int:
        now = time.monotonic()
        with self._lock:
            count, expires = self._counts.get(key, (0, 0.0))
            if expires <= now:
                count, expires = 0, now + ttl
            count += 1
            self._counts[key] = (count, expires)
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            return count

    def get(self, key: str) -> int:
        with self._lock:
            count, expires = self._counts.get(key, (0, 0.0))
            return count if expires > time.monotonic() else 0

    def set(self, key: str, value: int, ttl: int) -> None:
        with self._lock:
            self._counts[key] = (value, time.monotonic() + ttl)

    def delete(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


class Limiter:
    # How stale a process's view of a shared counter may get on the hot path.
    SYNC_SECONDS = 0.05

    def __init__(self, cache: Cache):
        self.cache = cache
        self.local = LocalCounters()
        # window key -> [unsent hits, shared total at last sync, time of last sync]
        self._batched: dict[str, list] = {}
        # The token endpoint's grants run on the loop and on the database threads.
        self._batched_lock = threading.Lock()

    def allow_batched(self, key: str, limit: int, window: int = 60) -> bool:
        """For the token endpoint's thousands of calls a second: hits are added
        to the shared counter with one INCRBY per SYNC_SECONDS (and at once
        when this process's estimate reaches the limit), so a limit can be
        overshot by what the other processes admit within SYNC_SECONDS."""
        with self._batched_lock:
            return self._allow_batched(key, limit, window)

    def _allow_batched(self, key: str, limit: int, window: int) -> bool:
        slot = int(time.time()) // window
        full = f"gh:rl:{key}:{slot}"
        entry = self._batched.get(full)
        if entry is None:
            if len(self._batched) > 10_000:
                self._batched.clear()
            entry = self._batched[full] = [0, 0, 0.0]
        entry[0] += 1
        now = time.monotonic()
        if now - entry[2] >= self.SYNC_SECONDS or entry[1] + entry[0] > limit:
            pending = entry[0]

            def remote(client):
                pipe = client.pipeline(transaction=False)
                pipe.incrby(full, pending)
                pipe.expire(full, window + 1)
                return int(pipe.execute()[0])

            entry[1] = self.cache.run(remote, lambda: entry[1] + pending)
            entry[0] = 0
            entry[2] = now
        return entry[1] + entry[0] <= limit

    # Login lockout: a failure counter per username and a lock flag, keyed
    # by username_key, so that what locks an account is what signs in as it.
    def record_failure(self, username: str, max_failures: int, lockout: int) -> bool:
        """Count a failed login; return True when this failure locks the account."""
        name = username_key(username)
        key = f"gh:lf:{name}"

        def remote(client):
            pipe = client.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, lockout)
            count = int(pipe.execute()[0])
            if count >= max_failures:
                client.set(f"gh:lock:{name}", 1, ex=lockout)
                client.delete(key)
                return True
            return False

        def local():
            count = self.local.incr(key, lockout)
            if count >= max_failures:
                self.local.set(f"gh:lock:{name}", 1, lockout)
                self.local.delete(key)
                return True
            return False

        return self.cache.run(remote, local)

    def login_gate(self, throttle_key: str | None, limit: int, username: str, window: int = 60) -> tuple[bool, bool, bool]:
        """Before a password check, in one round trip: (within the throttle
        `throttle_key` allows, account locked, failures on record). No
        throttle_key: not throttled. Failures on record tell the caller
        whether a successful login has a counter to clear."""
        name = username_key(username)
        lock, failures = f"gh:lock:{name}", f"gh:lf:{name}"
        counter = f"gh:rl:{throttle_key}:{int(time.time()) // window}" if throttle_key else None

        def remote(client):
            pipe = client.pipeline(transaction=False)
            if counter:
                pipe.incr(counter)
                pipe.expire(counter, window + 1)
            pipe.exists(lock)
            pipe.exists(failures)
            replies = pipe.execute()
            return (int(replies[0]) if counter else 0), bool(replies[-2]), bool(replies[-1])

        def local():
            return (self.local.incr(counter, window) if counter else 0), False, False

        count, locked, failed = self.cache.run(remote, local)
        # Counters kept here while Redis was away count too.
        locked = locked or self.local.get(lock) > 0
        failed = failed or self.local.get(failures) > 0
        return count <= limit, locked, failed

    def clear_failures(self, username: str) -> None:
        key = f"gh:lf:{username_key(username)}"
        self.local.delete(key)
        self.cache.run(lambda c: c.delete(key), lambda: None)
