"""The one place a process's state is built: everything a running server holds, from Settings.

Endpoints reach it as `gh(request)` (web.common); the command line builds
its own with `build(settings)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from gatehouse.accounts.sessions import Sessions
from gatehouse.crypto.jws import TokenSigner
from gatehouse.crypto.key_set import KeySet
from gatehouse.crypto.passwords import configure_password_hasher
from gatehouse.oauth.clients import ClientCache
from gatehouse.oauth.issuance import TokenService
from gatehouse.oauth.server import OAuthServer
from gatehouse.runtime import audit
from gatehouse.runtime.ratelimit import Limiter
from gatehouse.runtime.redis_link import RedisLink
from gatehouse.runtime.revocation_list import RevocationList
from gatehouse.settings import Settings
from gatehouse.store.database import configure_database_threads, open_database


@dataclass
class Services:
    settings: Settings
    database: peewee.Database
    keys: KeySet
    redis: RedisLink
    limiter: Limiter
    clients: ClientCache
    tokens: TokenService
    oauth: OAuthServer
    sessions: Sessions

    def close(self) -> None:
        """Stop the background listener and let go of Redis and the database (tests build many)."""
        self.tokens.revocations.close()
        if self.redis.client is not None:
            self.redis.client.close()
        self.database.close()


def build(settings: Settings) -> Services:
    audit.FLUSH_SECONDS = settings.audit_flush_seconds
    configure_password_hasher(settings.argon2_time_cost, settings.argon2_memory_cost, settings.argon2_parallelism)
    database = open_database(settings.database_url, settings.database_max_connections)
    configure_database_threads(max(1, min(8, settings.database_max_connections // 2)))
    keys = KeySet(settings.jwt_keys_dir, settings.jwt_private_key_path)
    redis = RedisLink(
        settings.redis_url, settings.redis_sentinels, settings.redis_sentinel_master, settings.redis_timeout_ms
    )
    clients = ClientCache(settings.client_cache_seconds)
    tokens = TokenService(settings, TokenSigner(keys, settings.issuer), RevocationList(redis))
    limiter = Limiter(redis)
    return Services(
        settings=settings,
        database=database,
        keys=keys,
        redis=redis,
        limiter=limiter,
        clients=clients,
        tokens=tokens,
        oauth=OAuthServer(settings, clients, tokens, limiter),
        sessions=Sessions(settings.session_secret, settings.session_ttl, settings.session_idle_timeout),
    )
