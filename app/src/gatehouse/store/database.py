"""The database handle: SQLite (embedded default) or MySQL/MariaDB via PyMySQL."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, unquote, urlsplit

import peewee
from playhouse.pool import PooledMySQLDatabase

database = peewee.DatabaseProxy()


class ReconnectingMySQLDatabase(PooledMySQLDatabase):
    """A pooled MySQL handle that survives a server restart or a failover.

    A pooled connection can be dead (server restarted, idle timeout); the
    first query then fails with an OperationalError. Retrying once on a
    fresh connection is safe only outside a transaction, which is the only
    place this does it.
    """

    def execute_sql(self, sql, params=None, *args, **kwargs):
        try:
            return super().execute_sql(sql, params, *args, **kwargs)
        except peewee.OperationalError:
            if self.in_transaction():
                raise
            if not self.is_closed():
                self.close()
            return super().execute_sql(sql, params, *args, **kwargs)


def open_database(url: str, max_connections: int = 20) -> peewee.Database:
    """Build the peewee database for DATABASE_URL and bind the proxy to it."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.path
        if url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        elif url.startswith("sqlite:///"):
            path = path[1:]
        if path in ("", ":memory:"):
            path = ":memory:"
        else:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        db = peewee.SqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                "busy_timeout": 10000,
                "foreign_keys": 1,
                "synchronous": "normal",
            },
            check_same_thread=False,
        )
    else:
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        db = ReconnectingMySQLDatabase(
            parts.path.lstrip("/"),
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            charset="utf8mb4",
            max_connections=max_connections,
            stale_timeout=300,
            timeout=10,
            connect_timeout=int(options.get("connect_timeout", 5)),
            read_timeout=int(options.get("read_timeout", 30)),
            write_timeout=int(options.get("write_timeout", 30)),
        )
    database.initialize(db)
    return db


# Request work that waits on several database round trips (the
# authorization_code and refresh_token grants) runs on these threads, so the
# event loop serves other requests while one waits on MariaDB; PyMySQL
# releases the GIL while it waits. Each thread holds one pooled connection,
# so there are far fewer of them than DATABASE_MAX_CONNECTIONS.
_database_threads: ThreadPoolExecutor | None = None


def configure_database_threads(count: int) -> None:
    global _database_threads
    if _database_threads is not None:
        _database_threads.shutdown(wait=False)
    _database_threads = ThreadPoolExecutor(max_workers=count, thread_name_prefix="database")


async def on_database_thread(function, *args):
    if getattr(database.obj, "database", None) == ":memory:":
        # Every thread would open its own, empty, in-memory SQLite database.
        return function(*args)
    if _database_threads is None:
        configure_database_threads(4)
    return await asyncio.get_running_loop().run_in_executor(_database_threads, function, *args)


def connections_open() -> int:
    """Connections this process holds (pooled MySQL: in use + idle; SQLite: 0 or 1)."""
    db = database.obj
    if db is None:
        return 0
    if isinstance(db, PooledMySQLDatabase):
        return len(db._in_use) + len(db._connections)
    return 0 if db.is_closed() else 1


def connections_max() -> int:
    """The most connections this process may hold, the ceiling of connections_open().

    Pooled MySQL: the pool's maximum (DATABASE_MAX_CONNECTIONS; peewee has no overflow beyond it).
    SQLite has no pool and no limit: peewee opens one connection per thread that uses the
    database, so the ceiling is the threads that serve requests (the event loop's and the
    database threads), and an embedded server never looks close to exhausting its "pool".
    """
    db = database.obj
    if db is None:
        return 0
    if isinstance(db, PooledMySQLDatabase):
        return db._max_connections
    threads = _database_threads._max_workers if _database_threads is not None else 0
    return 1 if db.database == ":memory:" else 1 + threads


def is_mysql() -> bool:
    return isinstance(database.obj, peewee.MySQLDatabase)
