"""Counters for rate limits and login lockout, shared through Redis.

Fixed windows keyed by the window's start: one INCR (+EXPIRE) round trip
(a login's throttle and its lockout attempt share it).
Without Redis the same counters live in this process, so a limit still
holds per process (and per host) while Redis is away.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

from gatehouse.accounts.users import username_key
from gatehouse.runtime.redis_link import RedisLink


@dataclass(frozen=True)
class LockoutPolicy:
    """LOGIN_MAX_FAILURES, LOGIN_LOCKOUT_SECONDS, LOGIN_LOCKOUT_MAX_SECONDS, LOGIN_ACCOUNT_MAX_FAILURES."""

    max_failures: int = 5  # attempts per account and address before it locks
    seconds: int = 900  # the first lock, and the window failures are counted in
    max_seconds: int = 86400  # the longest lock the back-off reaches
    account_max_failures: int = 0  # the per-account ceiling (0: none)

    @classmethod
    def of(cls, settings) -> LockoutPolicy:
        return cls(
            settings.login_max_failures,
            settings.login_lockout_seconds,
            settings.login_lockout_max_seconds,
            settings.login_account_max_failures,
        )

    def lock_seconds(self, locks: int) -> int:
        """The n-th lock in a row lasts seconds * 2**(n-1), at most max_seconds."""
        return min(self.seconds << min(max(locks, 1) - 1, 40), max(self.max_seconds, self.seconds))


class Attempt(NamedTuple):
    throttled: bool  # over the address's throttle: refuse, check nothing
    refused: str | None  # "locked" or "account_ceiling": refuse without checking the password
    number: int  # this attempt's number for the (account, address) pair


class Failure(NamedTuple):
    locked_for: int  # seconds the pair is now locked for; 0: not locked
    account_failures: int  # failures of the account from every address, in the window
    ceiling_reached: bool  # this failure reached the account's ceiling


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

    def expire(self, key: str, ttl: int) -> None:
        with self._lock:
            count, expires = self._counts.get(key, (0, 0.0))
            if expires > time.monotonic():
                self._counts[key] = (count, time.monotonic() + ttl)


class Limiter:
    # How stale a process's view of a shared counter may get on the hot path.
    SYNC_SECONDS = 0.05

    def __init__(self, cache: RedisLink):
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

    # Login lockout ---------------------------------------------------------
    #
    # Failures are counted per account *and* source address, so a stranger's
    # wrong passwords lock the stranger's address out of that account, not
    # the account's owner at their own address. Each attempt is spent
    # (INCR, atomic in Redis and under a lock in a process) *before* its
    # password is checked: of any number of parallel attempts, only the
    # first max_failures are checked, and the lock is checked again after a
    # right password. A pair that locks again and again is locked for
    # longer each time (seconds, 2x, 4x ... up to max_seconds).
    #
    # The per-account ceiling is kept, in a form a stranger cannot turn
    # against the owner: per-pair locks alone let a botnet make max_failures
    # guesses from each of its addresses, so once an account has had
    # account_max_failures failures within `seconds` (from all addresses),
    # an address that has failed at it is refused and a new one gets a
    # single attempt, until those failures expire. An address that has not
    # failed always gets its attempt: the owner signs in from their own
    # address during an attack; what the ceiling can cost them is the
    # attempts after their own typo. A plain account-wide lock was not kept:
    # it is exactly the lockout-as-denial-of-service this replaces.

    def login_gate(
        self, throttle_key: str | None, limit: int, username: str, address: str, policy: LockoutPolicy, window: int = 60
    ) -> Attempt:
        """Before a password check, in one round trip: count the request
        against the throttle `throttle_key` (none: not throttled) and, when
        `username` is given, spend an attempt of (username, address); a
        throttled request spends it too (it comes from that address)."""
        counter = f"gh:rl:{throttle_key}:{int(time.time()) // window}" if throttle_key else None
        keys = _LoginKeys(username, address) if username else None

        def remote(client):
            pipe = client.pipeline(transaction=True)  # MULTI: the attempt's key is created with its TTL
            if counter:
                pipe.incr(counter)
                pipe.expire(counter, window + 1)
            if keys:
                pipe.set(keys.attempts, 0, ex=policy.seconds, nx=True)
                pipe.incr(keys.attempts)
                pipe.exists(keys.lock)
                pipe.get(keys.account_failures)
            replies = pipe.execute()
            count = int(replies[0]) if counter else 0
            if not keys:
                return count, 0, False, 0
            return count, int(replies[-3]), bool(replies[-2]), int(replies[-1] or 0)

        def local():
            count = self.local.incr(counter, window) if counter else 0
            if not keys:
                return count, 0, False, 0
            number = self.local.incr(keys.attempts, policy.seconds)
            return count, number, False, 0

        count, number, locked, account_failures = self.cache.run(remote, local)
        if count > limit:
            return Attempt(throttled=True, refused=None, number=number)
        if not keys:
            return Attempt(throttled=False, refused=None, number=0)
        # Locks and failures kept here while Redis was away count too.
        locked = locked or self.local.get(keys.lock) > 0
        account_failures = max(account_failures, self.local.get(keys.account_failures))
        if locked or number > policy.max_failures:
            return Attempt(throttled=False, refused="locked", number=number)
        if policy.account_max_failures and account_failures >= policy.account_max_failures and number > 1:
            return Attempt(throttled=False, refused="account_ceiling", number=number)
        return Attempt(throttled=False, refused=None, number=number)

    def login_failed(self, username: str, address: str, number: int, policy: LockoutPolicy) -> Failure:
        """After a wrong password of the attempt `number` login_gate gave."""
        keys = _LoginKeys(username, address)
        locks = number >= policy.max_failures

        def remote(client):
            pipe = client.pipeline(transaction=True)
            pipe.set(keys.account_failures, 0, ex=policy.seconds, nx=True)
            pipe.incr(keys.account_failures)
            if locks:
                pipe.incr(keys.locks)
                pipe.expire(keys.locks, policy.max_seconds * 2)  # until the lock's own TTL is known
            replies = pipe.execute()
            account_failures = int(replies[1])
            if not locks:
                return account_failures, 0
            seconds = policy.lock_seconds(int(replies[2]))
            pipe = client.pipeline(transaction=True)
            pipe.set(keys.lock, 1, ex=seconds)
            # Attempts made while locked keep counting, and expire with the lock.
            pipe.expire(keys.attempts, seconds)
            # The back-off is remembered for max_seconds after the lock ends.
            pipe.expire(keys.locks, seconds + policy.max_seconds)
            pipe.execute()
            return account_failures, seconds

        def local():
            account_failures = self.local.incr(keys.account_failures, policy.seconds)
            if not locks:
                return account_failures, 0
            seconds = policy.lock_seconds(self.local.incr(keys.locks, policy.max_seconds * 2))
            self.local.set(keys.lock, 1, seconds)
            self.local.expire(keys.attempts, seconds)
            self.local.expire(keys.locks, seconds + policy.max_seconds)
            return account_failures, seconds

        account_failures, seconds = self.cache.run(remote, local)
        return Failure(
            locked_for=seconds,
            account_failures=account_failures,
            ceiling_reached=bool(policy.account_max_failures) and account_failures == policy.account_max_failures,
        )

    def login_succeeded(self, username: str, address: str) -> bool:
        """After a right password: False if the pair was locked meanwhile (by
        a parallel attempt), and the sign-in must be refused; else forget the
        pair's attempts and back-off."""
        keys = _LoginKeys(username, address)
        if self.local.get(keys.lock) > 0 or self.cache.run(lambda c: bool(c.exists(keys.lock)), lambda: False):
            return False
        for key in (keys.attempts, keys.locks):
            self.local.delete(key)
        self.cache.run(lambda c: c.delete(keys.attempts, keys.locks), lambda: None)
        return True


class _LoginKeys:
    """The lockout's keys of one (account, address) pair, and of the account.

    The address goes first and ends at '|', which no address key holds, so
    no username can spell another pair's key."""

    __slots__ = ("attempts", "lock", "locks", "account_failures")

    def __init__(self, username: str, address: str):
        name, pair = username_key(username), f"{address_key(address)}|{username_key(username)}"
        self.attempts = f"gh:la:{pair}"  # attempts since the last success, spent before each check
        self.lock = f"gh:lock:{pair}"  # set while the pair is locked
        self.locks = f"gh:lc:{pair}"  # how many times the pair locked lately: the back-off
        self.account_failures = f"gh:af:{name}"  # failures of the account from every address


def address_key(address: str) -> str:
    """What limits and locks key an address by: an IPv4 address as is, an
    IPv6 address by its /64 (one subscriber's prefix: a client can pick any
    address in it), an IPv4-mapped IPv6 address as the IPv4 one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address.replace("|", "")[:100]
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
