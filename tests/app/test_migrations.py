"""Versioned migrations (issue §4) and their `schema_migrations` table: each
applied once and in order, rolled back when it fails; a database upgraded from
an earlier schema ends up as a fresh one."""

from __future__ import annotations

import re
import shutil
import time

import peewee
import pytest
from conftest import MYSQL_URL
from gatehouse.accounts.users import find_for_login, username_key
from gatehouse.errors import MigrationError
from gatehouse.store import migrate as migrations
from gatehouse.store.database import open_database
from gatehouse.store.migrate import SchemaMigration, applied, available, migrate, pending
from gatehouse.store.models import ALL_MODELS, Role, User, UserRole
from helpers import NOW


def drop_every_table(database) -> None:
    if MYSQL_URL:
        database.execute_sql("SET FOREIGN_KEY_CHECKS=0")
    for model in [*reversed(peewee.sort_models(ALL_MODELS)), SchemaMigration]:  # SQLite: children first
        database.execute_sql(f"DROP TABLE IF EXISTS {model._meta.table_name}")
    if MYSQL_URL:
        database.execute_sql("SET FOREIGN_KEY_CHECKS=1")


@pytest.fixture
def fresh_db(env):
    """The configured database with no table at all, bound for the models."""
    database = open_database(env["DATABASE_URL"])
    drop_every_table(database)
    yield database
    database.close()


@pytest.fixture
def extra_migrations(tmp_path, monkeypatch):
    """A migrations directory holding the real ones; tests add more."""
    directory = tmp_path / "migrations"
    shutil.copytree(migrations.migrations_dir(), directory, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "migrations_dir", lambda: directory)
    return directory


# Migrations ---------------------------------------------------------------


MIGRATIONS = ["0001_initial", "0002_username_key", "0003_security"]


AFTER_V1 = MIGRATIONS[1:]


def test_migrations_are_numbered_python_files_with_an_up_function():
    names = [path.name for path in available()]
    assert names == sorted(names)
    assert names[0] == "0001_initial.py"
    for path in available():
        assert "def up(db)" in path.read_text()


def test_migrate_creates_every_table_and_records_the_version(fresh_db):
    assert pending() == MIGRATIONS
    assert migrate() == MIGRATIONS
    for model in ALL_MODELS:
        assert fresh_db.table_exists(model._meta.table_name), model
    rows = list(SchemaMigration.select().order_by(SchemaMigration.name))
    assert [row.name for row in rows] == MIGRATIONS
    assert all(abs(row.applied_at - time.time()) < 60 for row in rows)


def test_migrate_twice_applies_nothing_the_second_time(fresh_db):
    migrate()
    assert migrate() == []
    assert pending() == []
    assert applied() == set(MIGRATIONS)
    assert SchemaMigration.select().count() == len(MIGRATIONS)


def test_a_new_migration_is_applied_once_after_the_ones_before(fresh_db, extra_migrations):
    migrate()
    (extra_migrations / "0999_seed_role.py").write_text(
        "def up(db):\n    db.execute_sql(\"INSERT INTO roles (name, description) VALUES ('auditor', '')\")\n"
    )
    assert pending() == ["0999_seed_role"]
    assert migrate() == ["0999_seed_role"]
    assert migrate() == []
    assert Role.select().where(Role.name == "auditor").count() == 1


def test_a_failing_migration_is_rolled_back_and_not_recorded(fresh_db, extra_migrations):
    migrate()
    (extra_migrations / "0999_broken.py").write_text(
        "def up(db):\n"
        "    db.execute_sql(\"INSERT INTO roles (name, description) VALUES ('half-done', '')\")\n"
        "    raise RuntimeError('boom')\n"
    )
    with pytest.raises(RuntimeError, match="boom"):
        migrate()
    assert not Role.select().where(Role.name == "half-done").exists()
    assert pending() == ["0999_broken"]


def test_a_migration_without_up_is_refused(fresh_db, extra_migrations):
    migrate()
    (extra_migrations / "0999_empty.py").write_text("VALUE = 1\n")
    with pytest.raises(MigrationError, match="0999_empty.py"):
        migrate()
    assert applied() == set(MIGRATIONS)


# Usernames told apart by their key (0002_username_key) ---------------------


# Usernames differing only in case that version 1 let in: SQLite compared
# bytes, and MariaDB's utf8mb4 _ci collations predate Cherokee's small
# letters (Unicode 8), which casefold maps to the capitals.
CASE_TWINS = ("ᏣᎳᎩ", "ᏣᎳᎩ".lower()) if MYSQL_URL else ("Alice", "alice")


@pytest.fixture
def version_1(fresh_db, extra_migrations):
    """Builds a database at schema version 1 (the first release): no table, then 0001 alone."""
    later = {path: path.read_text() for path in extra_migrations.glob("*.py") if path.stem != "0001_initial"}

    def build():
        drop_every_table(fresh_db)
        for path in later:
            path.unlink()
        try:
            assert migrate() == ["0001_initial"]
        finally:
            for path, text in later.items():
                path.write_text(text)

    return build


def v1_user(database, username: str, role: str | None = None) -> int:
    """A user row as version 1 wrote it (no username_key), optionally holding a role."""
    user_id = (
        peewee.Table("users")
        .bind(database)
        .insert(username=username, password_hash="x", is_active=True, created_at=NOW, updated_at=NOW)
        .execute()
    )
    if role:
        role_id = Role.get_or_create(name=role)[0].id
        peewee.Table("user_roles").bind(database).insert(user_id=user_id, role_id=role_id).execute()
    return user_id


def schema(database) -> dict:
    """Every table's definition as the database states it (MySQL: less the AUTO_INCREMENT counter)."""
    if MYSQL_URL:
        show = {t: database.execute_sql(f"SHOW CREATE TABLE `{t}`").fetchone()[1] for t in database.get_tables()}
        return {t: re.sub(r" AUTO_INCREMENT=\d+", "", sql) for t, sql in show.items()}
    return dict(database.execute_sql("SELECT name, sql FROM sqlite_master").fetchall())


def new_user(username: str) -> User:
    return User.create(
        username=username, username_key=username_key(username), password_hash="x", created_at=NOW, updated_at=NOW
    )


def assert_the_key_decides(database) -> None:
    """The schema's behaviour: unique by key, in the key column's own (binary) comparison."""
    columns = {c.name: c for c in database.get_columns("users")}
    assert not columns["username_key"].null
    unique = [i.columns for i in database.get_indexes("users") if i.unique]
    assert ["username_key"] in unique and ["username"] not in unique
    if MYSQL_URL:
        (collation,) = database.execute_sql(
            "SELECT collation_name FROM information_schema.columns"
            " WHERE table_schema = DATABASE() AND table_name = 'users' AND column_name = 'username_key'"
        ).fetchone()
        assert collation == "utf8mb4_bin"
    new_user("Straße")
    with pytest.raises(peewee.IntegrityError), database.atomic():
        new_user("STRASSE")
    new_user("Strasse-é")
    new_user("strasse-e")  # accents stay: another user, on MariaDB too


def test_migration_adds_a_unique_binary_username_key(fresh_db):
    migrate()
    assert_the_key_decides(fresh_db)


def test_upgraded_and_fresh_databases_agree(fresh_db, version_1):
    migrate()
    fresh = schema(fresh_db)
    version_1()
    alice = v1_user(fresh_db, "Alice", role="admin")
    jose = v1_user(fresh_db, "José")
    assert migrate() == AFTER_V1
    assert schema(fresh_db) == fresh
    assert_the_key_decides(fresh_db)
    keys = dict(User.select(User.id, User.username_key).tuples())
    assert keys[alice] == "alice" and keys[jose] == "josé"
    assert find_for_login("ALICE").id == alice
    # SQLite rebuilds users to make the key NOT NULL: no role may be lost with the old table.
    assert [row.role.name for row in UserRole.select().where(UserRole.user == alice)] == ["admin"]
    new_user("jose")  # accents stay: MariaDB's accent-blind index on username is gone


def test_migration_refuses_usernames_that_collide_by_case(fresh_db, version_1):
    version_1()
    first, second = (v1_user(fresh_db, name) for name in CASE_TWINS)
    v1_user(fresh_db, "bob")
    before = schema(fresh_db)
    with pytest.raises(MigrationError) as refused:
        migrate()
    message = str(refused.value)
    assert f"{CASE_TWINS[0]!r} (id {first})" in message and f"{CASE_TWINS[1]!r} (id {second})" in message
    assert "bob" not in message and "changed nothing" in message and "Rename" in message
    assert schema(fresh_db) == before
    assert pending() == AFTER_V1
    # What the message says to do: rename one, migrate again.
    fresh_db.execute_sql(f"UPDATE users SET username = 'renamed' WHERE id = {second}")
    assert migrate() == AFTER_V1
    assert find_for_login(CASE_TWINS[1]).id == first


def test_migration_refuses_a_username_too_long_once_folded(fresh_db, version_1):
    version_1()
    v1_user(fresh_db, "ß" * 150)  # version 1 took it; its key 'ss...' has 300 characters
    before = schema(fresh_db)
    with pytest.raises(MigrationError, match="longer than 150 characters once case is folded"):
        migrate()
    assert schema(fresh_db) == before


def test_migration_finishes_a_run_that_stopped_half_way(fresh_db, version_1):
    """MySQL commits each ALTER at once: a failed run can leave the column added, so a rerun must finish it."""
    migrate()
    finished = schema(fresh_db)
    version_1()
    alice = v1_user(fresh_db, "Alice")
    quote = "`" if MYSQL_URL else '"'
    fresh_db.execute_sql(f"ALTER TABLE users ADD COLUMN {quote}username_key{quote} VARCHAR(150)")
    assert migrate() == AFTER_V1
    assert schema(fresh_db) == finished
    SchemaMigration.delete().where(SchemaMigration.name == "0002_username_key").execute()
    assert migrate() == ["0002_username_key"]  # once more on a finished schema: nothing left to change
    assert schema(fresh_db) == finished
    assert find_for_login("alice").id == alice


# The security review's schema (0003_security) ------------------------------


@pytest.fixture
def version_2(fresh_db, extra_migrations):
    """A database at schema version 2 (0001 and 0002 applied, 0003 not)."""
    later = {
        p: p.read_text() for p in extra_migrations.glob("*.py") if p.stem not in ("0001_initial", "0002_username_key")
    }

    def build():
        drop_every_table(fresh_db)
        for path in later:
            path.unlink()
        try:
            assert migrate() == ["0001_initial", "0002_username_key"]
        finally:
            for path, text in later.items():
                path.write_text(text)

    return build


def v2_user(database, username: str, email: str | None = None) -> int:
    return (
        peewee.Table("users")
        .bind(database)
        .insert(
            username=username,
            username_key=username_key(username),
            email=email,
            password_hash="x",
            is_active=True,
            created_at=NOW,
            updated_at=NOW,
        )
        .execute()
    )


def test_0003_refuses_emails_that_collide_once_folded_and_changes_nothing(fresh_db, version_2):
    version_2()
    first = v2_user(fresh_db, "ann", "Ann@Example.test")
    second = v2_user(fresh_db, "anna", "ann@example.TEST") if not MYSQL_URL else None
    if MYSQL_URL:
        # MariaDB's _ci index already refused those; it let Cherokee case twins in (Unicode 8 letters).
        v2_user(fresh_db, "cher", "ᏣᎳᎩ@example.test")
        second = v2_user(fresh_db, "cher2", "ᏣᎳᎩ".lower() + "@example.test")
    before = schema(fresh_db)
    with pytest.raises(MigrationError, match="changed nothing") as refused:
        migrate()
    assert f"id {second}" in str(refused.value)
    assert schema(fresh_db) == before
    assert pending() == ["0003_security"]
    fresh_db.execute_sql(f"UPDATE users SET email = NULL WHERE id = {second}")
    assert migrate() == ["0003_security"]
    assert User.get_by_id(first).email_key == "ann@example.test"


def test_0003_keeps_every_user_and_role_and_never_reuses_a_deleted_users_id(fresh_db, version_2):
    version_2()
    alice = v2_user(fresh_db, "alice", "alice@example.test")
    gone = v2_user(fresh_db, "gone")
    peewee.Table("users").bind(fresh_db).delete().where(peewee.Table("users").c.id == gone).execute()
    # The deleted user's id still names them in an old grant.
    peewee.Table("grants").bind(fresh_db).insert(
        id="g" * 32, client_id="webapp", user_id=gone, scope="openid", auth_time=NOW, created_at=NOW, expires_at=NOW
    ).execute()
    role_id = Role.get_or_create(name="admin")[0].id
    peewee.Table("user_roles").bind(fresh_db).insert(user_id=alice, role_id=role_id).execute()
    assert migrate() == ["0003_security"]
    assert [r.role.name for r in UserRole.select().where(UserRole.user == alice)] == ["admin"]
    newcomer = new_user("newcomer")
    assert newcomer.id > gone
    assert User.get_by_id(alice).username_skeleton != ""


def test_0003_finishes_a_run_that_stopped_half_way(fresh_db, version_2):
    migrate()
    finished = schema(fresh_db)
    version_2()
    v2_user(fresh_db, "alice", "alice@example.test")
    quote = "`" if MYSQL_URL else '"'
    fresh_db.execute_sql(f"ALTER TABLE clients ADD COLUMN {quote}is_admin{quote} INTEGER NOT NULL DEFAULT 0")
    assert migrate() == ["0003_security"]
    SchemaMigration.delete().where(SchemaMigration.name == "0003_security").execute()
    assert migrate() == ["0003_security"]
    if not MYSQL_URL:  # MariaDB: the half-made column's type differs from a fresh one's (TINYINT vs INT)
        assert schema(fresh_db).keys() == finished.keys()
