"""Everything a running server holds, built once from Settings."""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from . import audit
from .cache import Cache
from .config import Settings
from .db import configure_database_threads, open_database
from .hashing import configure_password_hasher
from .keys import KeySet
from .oauth.clients import ClientCache
from .oauth.issuance import Issuer
from .oauth.server import OAuthServer
from .ratelimit import Limiter
from .revocations import RevocationList
from .sessions import Sessions
from .tokens import TokenSigner


@dataclass
class Gatehouse:
    settings: Settings
    database: peewee.Database
    keys: KeySet
    cache: Cache
    limiter: Limiter
    clients: ClientCache
    issuer: Issuer
    oauth: OAuthServer
    sessions: Sessions

    def close(self) -> None:
        """Stop the background listener and let go of Redis and the database (tests build many)."""
        self.issuer.revocations.close()
        if self.cache.client is not None:
            self.cache.client.close()
        self.database.close()


def build(settings: Settings) -> Gatehouse:
    audit.FLUSH_SECONDS = settings.audit_flush_seconds
    configure_password_hasher(settings.argon2_time_cost, settings.argon2_memory_cost, settings.argon2_parallelism)
    database = open_database(settings.database_url, settings.database_max_connections)
    configure_database_threads(max(1, min(8, settings.database_max_connections // 2)))
    keys = KeySet(settings.jwt_keys_dir, settings.jwt_private_key_path)
    cache = Cache(
        settings.redis_url, settings.redis_sentinels, settings.redis_sentinel_master, settings.redis_timeout_ms
    )
    clients = ClientCache(settings.client_cache_seconds)
    issuer = Issuer(settings, TokenSigner(keys, settings.issuer), RevocationList(cache))
    limiter = Limiter(cache)
    return Gatehouse(
        settings=settings,
        database=database,
        keys=keys,
        cache=cache,
        limiter=limiter,
        clients=clients,
        issuer=issuer,
        oauth=OAuthServer(settings, clients, issuer, limiter),
        sessions=Sessions(settings.session_secret, settings.session_ttl, settings.session_idle_timeout),
    )
