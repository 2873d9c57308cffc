"""Is an access token revoked? Answered from memory where Redis keeps every process current.

The `revocations` table is the truth: a row per revoked access token (jti)
or authorization (grant id), kept until the tokens it covers expire. Asking
the table costs a database round trip on every introspection, userinfo and
admin API call, which is most of their cost.

So each worker process mirrors the table's live ids in memory, and every
revocation is also announced on a Redis channel that a listener thread of
each process subscribes to. The mirror answers only while it is known to be
complete: its subscription is live AND it has read the table since the
subscription began (a revocation committed before that read is in it; one
committed after is announced to a subscription that already listens).
Every `RESYNC_SECONDS` the listener reads the table again, which also
drops expired ids and repairs an announcement lost to a failed publish.
Whenever the mirror is not known to be complete (no Redis configured, Redis
down, the listener starting or reconnecting) each check asks the database,
as before: losing Redis costs speed, never correctness.

A revocation made by this process is in its own mirror at once; other
processes see it when the announcement arrives (on loopback, well under a
millisecond after the revoking request commits).
"""

from __future__ import annotations

import logging
import os
import threading
import time

import redis

from gatehouse.runtime.redis_link import RedisLink
from gatehouse.store.database import database
from gatehouse.store.models import Revocation

log = logging.getLogger("gatehouse.revocations")

CHANNEL = "gatehouse:revocations"
RESYNC_SECONDS = 10.0
RECONNECT_SECONDS = 1.0
# Past this many live revocations the mirror stops loading and checks go to the database.
MAX_MIRRORED = 1_000_000


class RevocationList:
    def __init__(self, cache: RedisLink):
        self._cache = cache
        self._ids: set[str] = set()
        self._complete = False
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Ids this process announced while the listener reads the table.
        self._loading: set[str] | None = None

    # Queries -----------------------------------------------------------------
    def any_revoked(self, ids: list[str]) -> bool:
        self._ensure_listener()
        if self._complete:
            return any(i in self._ids for i in ids)
        return Revocation.select(Revocation.id).where(Revocation.id.in_(ids)).exists()

    @property
    def mirrored(self) -> bool:
        """True while checks are answered from memory."""
        return self._complete

    # Changes -----------------------------------------------------------------
    @staticmethod
    def insert(revocation_id: str, expires_at: int) -> None:
        """The row; the caller announces it once its transaction has committed."""
        Revocation.insert(id=revocation_id, expires_at=expires_at).on_conflict_ignore().execute()

    def announce(self, revocation_id: str) -> None:
        with self._lock:
            self._ids.add(revocation_id)
            if self._loading is not None:
                self._loading.add(revocation_id)
        self._cache.run(lambda client: client.publish(CHANNEL, revocation_id), lambda: 0)

    # Listener ----------------------------------------------------------------
    def _ensure_listener(self) -> None:
        # Started lazily, and again after a fork: a gunicorn worker must run its own.
        if self._pid == os.getpid() or self._cache.client is None or self._stop.is_set():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._complete = False
            self._thread = threading.Thread(target=self._listen, name="gatehouse-revocations", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._complete = False
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=3)

    def _listen(self) -> None:
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self._cache.client.pubsub()
                pubsub.subscribe(CHANNEL)
                self._await_subscription(pubsub)
                self._load()
                next_load = time.monotonic() + RESYNC_SECONDS
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "message":
                        with self._lock:
                            self._ids.add(message["data"].decode("utf-8", "replace"))
                    if time.monotonic() >= next_load:
                        self._load()
                        next_load = time.monotonic() + RESYNC_SECONDS
            except (redis.RedisError, OSError) as error:
                if self._complete:
                    log.warning("revocation announcements lost (%s); checking the database until they resume", error)
                self._complete = False
            except Exception:
                log.exception("revocation listener failed; checking the database until it recovers")
                self._complete = False
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except (redis.RedisError, OSError):
                        pass
                if not database.is_closed():
                    database.close()
            self._stop.wait(RECONNECT_SECONDS)

    @staticmethod
    def _await_subscription(pubsub) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1.0)
            if message and message["type"] == "subscribe":
                return
        raise redis.TimeoutError("no subscription confirmation from redis")

    def _load(self) -> None:
        """Read the live ids; announcements that arrive meanwhile wait in the socket and are added after."""
        with self._lock:
            self._loading = set()
        now = int(time.time())
        query = Revocation.select(Revocation.id).where(Revocation.expires_at > now).limit(MAX_MIRRORED + 1)
        ids = {row[0] for row in query.tuples()}
        # The pooled connection goes back to the pool; the listener needs one only every RESYNC_SECONDS.
        database.close()
        with self._lock:
            # Ids this process announced during the read stay: they may have
            # committed after the read's snapshot. Everything else comes from the
            # table, so expired ids drop out.
            self._ids = ids | self._loading
            self._loading = None
            if len(ids) > MAX_MIRRORED:
                if self._complete:
                    log.warning("more than %d live revocations: checking the database instead", MAX_MIRRORED)
                self._complete = False
                self._ids = set()
                return
        self._complete = True
