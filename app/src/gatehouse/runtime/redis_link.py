"""Redis, shared by every process and host, with a circuit breaker.

When Redis stops answering, callers fall back to per-process state instead
of failing requests; the breaker stops every request from paying a
connection timeout while Redis is down, and retries after a short pause.
"""

from __future__ import annotations

import logging
import time

import redis
from redis.sentinel import Sentinel

log = logging.getLogger("gatehouse.cache")

RETRY_AFTER_SECONDS = 5.0


class RedisLink:
    def __init__(self, url: str = "", sentinels=(), sentinel_master: str = "gatehouse", timeout_ms: int = 200):
        self.configured = bool(url or sentinels)
        self._open_until = 0.0
        self.client = None
        timeout = timeout_ms / 1000.0
        if sentinels:
            password = redis.connection.parse_url(url)["password"] if url else None
            sentinel = Sentinel(list(sentinels), socket_timeout=timeout, password=password)
            self.client = sentinel.master_for(sentinel_master, socket_timeout=timeout, password=password)
        elif url:
            self.client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
            )

    @property
    def available(self) -> bool:
        return self.client is not None and time.monotonic() >= self._open_until

    def trip(self, error: Exception) -> None:
        if self._open_until <= time.monotonic():
            log.warning("redis unavailable, using per-process fallbacks: %s", error)
        self._open_until = time.monotonic() + RETRY_AFTER_SECONDS

    def run(self, operation, fallback):
        """Run operation(client); on any Redis error trip the breaker and return fallback()."""
        if not self.available:
            return fallback()
        try:
            return operation(self.client)
        except redis.RedisError as error:
            self.trip(error)
            return fallback()

    def ping(self) -> bool:
        if self.client is None:
            return False
        try:
            ok = bool(self.client.ping())
        except redis.RedisError as error:
            self.trip(error)
            return False
        self._open_until = 0.0
        return ok
