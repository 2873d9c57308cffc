"""Storage upkeep (issue §4): versioned migrations with a `schema_migrations`
table, and `cleanup` deleting what has expired in small batches."""

from __future__ import annotations

import logging
import shutil
import time

import pytest
from conftest import MYSQL_URL, basic, get_code, redeem
from gatehouse import migrate as migrations
from gatehouse.cleanup import AUDIT_RETENTION_DAYS, cleanup
from gatehouse.db import open_database
from gatehouse.migrate import MigrationError, SchemaMigration, applied, available, migrate, pending
from gatehouse.models import (
    ALL_MODELS,
    AuditLog,
    AuthorizationCode,
    Grant,
    RefreshToken,
    Revocation,
    Role,
    Session,
)


@pytest.fixture
def fresh_db(env):
    """The configured database with no table at all, bound for the models."""
    database = open_database(env["DATABASE_URL"])
    if MYSQL_URL:
        database.execute_sql("SET FOREIGN_KEY_CHECKS=0")
        for model in [*ALL_MODELS, SchemaMigration]:
            database.execute_sql(f"DROP TABLE IF EXISTS `{model._meta.table_name}`")
        database.execute_sql("SET FOREIGN_KEY_CHECKS=1")
    yield database
    database.close()


@pytest.fixture
def extra_migrations(tmp_path, monkeypatch):
    """A migrations directory holding the real ones; tests add more."""
    directory = tmp_path / "migrations"
    shutil.copytree(migrations.migrations_dir(), directory, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "migrations_dir", lambda: directory)
    return directory


# Migrations -------------------------------------------------------------------


def test_migrations_are_numbered_python_files_with_an_up_function():
    names = [path.name for path in available()]
    assert names == sorted(names)
    assert names[0] == "0001_initial.py"
    for path in available():
        assert "def up(db)" in path.read_text()


def test_migrate_creates_every_table_and_records_the_version(fresh_db):
    assert pending() == ["0001_initial"]
    assert migrate() == ["0001_initial"]
    for model in ALL_MODELS:
        assert fresh_db.table_exists(model._meta.table_name), model
    (row,) = SchemaMigration.select()
    assert row.name == "0001_initial"
    assert abs(row.applied_at - time.time()) < 60


def test_migrate_twice_applies_nothing_the_second_time(fresh_db):
    migrate()
    assert migrate() == []
    assert pending() == []
    assert applied() == {"0001_initial"}
    assert SchemaMigration.select().count() == 1


def test_a_new_migration_is_applied_once_after_the_ones_before(fresh_db, extra_migrations):
    migrate()
    (extra_migrations / "0002_seed_role.py").write_text(
        "def up(db):\n    db.execute_sql(\"INSERT INTO roles (name, description) VALUES ('auditor', '')\")\n"
    )
    assert pending() == ["0002_seed_role"]
    assert migrate() == ["0002_seed_role"]
    assert migrate() == []
    assert Role.select().where(Role.name == "auditor").count() == 1


def test_a_failing_migration_is_rolled_back_and_not_recorded(fresh_db, extra_migrations):
    migrate()
    (extra_migrations / "0002_broken.py").write_text(
        "def up(db):\n"
        "    db.execute_sql(\"INSERT INTO roles (name, description) VALUES ('half-done', '')\")\n"
        "    raise RuntimeError('boom')\n"
    )
    with pytest.raises(RuntimeError, match="boom"):
        migrate()
    assert not Role.select().where(Role.name == "half-done").exists()
    assert pending() == ["0002_broken"]


def test_a_migration_without_up_is_refused(fresh_db, extra_migrations):
    migrate()
    (extra_migrations / "0002_empty.py").write_text("VALUE = 1\n")
    with pytest.raises(MigrationError, match="0002_empty.py"):
        migrate()
    assert applied() == {"0001_initial"}


# Cleanup ----------------------------------------------------------------------

NOW = 2_000_000_000


def _code(index: int, expires_at: int) -> None:
    AuthorizationCode.create(
        code_digest=f"{index:064d}",
        grant_id="g",
        client_id="webapp",
        user_id=1,
        redirect_uri="",
        scope="openid",
        code_challenge="c",
        code_challenge_method="S256",
        auth_time=NOW,
        expires_at=expires_at,
    )


def _refresh(index: int, expires_at: int) -> None:
    RefreshToken.create(
        token_digest=f"{index:064d}",
        grant_id="g",
        client_id="webapp",
        user_id=1,
        scope="openid",
        issued_at=NOW - 100,
        expires_at=expires_at,
    )


def _grant(index: int, expires_at: int) -> None:
    Grant.create(
        id=f"grant-{index}",
        client_id="webapp",
        user_id=1,
        scope="openid",
        auth_time=NOW,
        created_at=NOW - 100,
        expires_at=expires_at,
    )


def _revocation(index: int, expires_at: int) -> None:
    Revocation.create(id=f"jti-{index}", expires_at=expires_at)


def _session(index: int, expires_at: int) -> None:
    Session.create(id=f"{index:064d}", csrf_token="c", created_at=NOW - 100, expires_at=expires_at)


KINDS = {
    "authorization_codes": (AuthorizationCode, _code),
    "refresh_tokens": (RefreshToken, _refresh),
    "grants": (Grant, _grant),
    "revocations": (Revocation, _revocation),
    "sessions": (Session, _session),
}


@pytest.fixture
def rows(state):
    """Per kind: 5 expired rows and 2 live ones, one of them expiring at this very second."""
    for _, create in KINDS.values():
        for index in range(5):
            create(index, NOW - 1 - index)
        create(10, NOW)  # still live: cleanup deletes expires_at < now
        create(11, NOW + 3600)


def test_cleanup_deletes_expired_rows_and_keeps_live_ones(rows):
    counts = cleanup(batch_size=2, now=NOW)
    for name, (model, _) in KINDS.items():
        assert counts[name] == 5, name
        assert model.select().count() == 2, name


def test_cleanup_a_second_time_finds_nothing(rows):
    cleanup(now=NOW)
    assert set(cleanup(now=NOW).values()) == {0}


@pytest.fixture
def sql_log():
    statements: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            message = record.msg[0] if isinstance(record.msg, tuple) else str(record.msg)
            statements.append(message)

    logger = logging.getLogger("peewee")
    handler, level = Capture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield statements
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_cleanup_deletes_in_small_batches(rows, sql_log):
    cleanup(batch_size=2, now=NOW)
    deletes = [s for s in sql_log if s.startswith("DELETE") and "authorization_codes" in s]
    assert len(deletes) == 3  # 5 expired rows, 2 per statement


def test_cleanup_removes_audit_logs_only_after_the_retention(state):
    day = 86400
    for age_days in (AUDIT_RETENTION_DAYS + 1, AUDIT_RETENTION_DAYS - 1, 0):
        AuditLog.create(created_at=NOW - age_days * day, event="login.failed", details="{}")
    assert cleanup(now=NOW)["audit_logs"] == 1
    assert AuditLog.select().count() == 2


def test_revocation_outlives_cleanup_until_the_token_expires(http, state, user, webapp):
    code, verifier, _ = get_code(http)
    access = redeem(http, code, verifier, webapp).json()["access_token"]
    http.post("/api/v2/oauth/revoke", data={"token": access}, headers=basic(*webapp))
    cleanup()
    introspected = http.post("/api/v2/oauth/introspect", data={"token": access}, headers=basic(*webapp))
    assert introspected.json() == {"active": False}
