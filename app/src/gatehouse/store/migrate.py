"""Versioned migrations with a `schema_migrations` table and a database lock.

Safe to start on several hosts at once: MySQL's GET_LOCK (or a file lock
beside the SQLite file) lets one runner work while the others wait, and
then find nothing left to apply.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import time
from pathlib import Path

import peewee

from gatehouse.errors import MigrationError
from gatehouse.store.database import database, is_mysql

LOCK_NAME = "gatehouse_migrate"
LOCK_TIMEOUT = 120


class SchemaMigration(peewee.Model):
    name = peewee.CharField(max_length=200, primary_key=True)
    applied_at = peewee.BigIntegerField()

    class Meta:
        database = database
        table_name = "schema_migrations"


def migrations_dir() -> Path:
    """The wheel carries migrations inside the package; a checkout has them in app/."""
    package = Path(__file__).resolve().parents[1]  # gatehouse/
    packaged = package / "migrations"
    if packaged.is_dir():
        return packaged
    return package.parents[1] / "migrations"


def available() -> list[Path]:
    return sorted(p for p in migrations_dir().glob("[0-9][0-9][0-9][0-9]_*.py"))


def applied() -> set[str]:
    if not database.table_exists(SchemaMigration._meta.table_name):
        return set()
    return {row.name for row in SchemaMigration.select(SchemaMigration.name)}


def pending() -> list[str]:
    done = applied()
    return [p.stem for p in available() if p.stem not in done]


@contextlib.contextmanager
def _lock():
    if is_mysql():
        got = database.execute_sql("SELECT GET_LOCK(%s, %s)", (LOCK_NAME, LOCK_TIMEOUT)).fetchone()[0]
        if got != 1:
            raise MigrationError(f"could not take the migration lock within {LOCK_TIMEOUT}s")
        try:
            yield
        finally:
            database.execute_sql("SELECT RELEASE_LOCK(%s)", (LOCK_NAME,))
    else:
        path = database.obj.database
        if path == ":memory:":
            yield
            return
        with open(path + ".migrate-lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _sqlite_foreign_keys_off():
    """SQLite changes a column by rebuilding its table (playhouse.migrate),
    and with foreign keys on, dropping the old table would delete the rows
    that refer to it (ON DELETE CASCADE). The pragma only takes effect
    outside a transaction, so it is set around the migration's; the keys
    are checked before that commits (_check_foreign_keys)."""
    if is_mysql() or not database.pragma("foreign_keys"):
        yield
        return
    database.pragma("foreign_keys", 0)
    try:
        yield
    finally:
        database.pragma("foreign_keys", 1)


def _check_foreign_keys(name: str) -> None:
    if not is_mysql() and database.execute_sql("PRAGMA foreign_key_check").fetchone() is not None:
        raise MigrationError(f"migration {name} left rows whose foreign keys point at nothing")


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"gatehouse_migration_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "up"):
        raise MigrationError(f"migration {path.name} has no up(db) function")
    return module


def migrate() -> list[str]:
    """Apply every pending migration; return the names applied (empty: nothing to do)."""
    done_now = []
    with _lock():
        database.create_tables([SchemaMigration], safe=True)
        done = applied()
        for path in available():
            if path.stem in done:
                continue
            module = _load(path)
            with _sqlite_foreign_keys_off(), database.atomic():
                module.up(database)
                _check_foreign_keys(path.name)
                SchemaMigration.create(name=path.stem, applied_at=int(time.time()))
            done_now.append(path.stem)
    return done_now
