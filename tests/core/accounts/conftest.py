"""Fixtures for the accounts tests: a migrated database and nothing else (no app, no HTTP, no Redis).

SQLite by default, a new file per test; the MariaDB named by
GATEHOUSE_TEST_DATABASE_URL when it is set (`make test-app-mysql`), with
every table emptied first, as tests/app does.
"""

from __future__ import annotations

import os
import time

import pytest
from gatehouse.accounts.actor import ADMIN_ROLE, SYSTEM, Actor
from gatehouse.accounts.roles import ensure_admin_role
from gatehouse.accounts.users import create_user, roles_and_permissions
from gatehouse.crypto.passwords import configure_password_hasher
from gatehouse.store.database import open_database
from gatehouse.store.migrate import migrate
from gatehouse.store.models import ALL_MODELS, Permission, Role, RolePermission

MYSQL_URL = os.environ.get("GATEHOUSE_TEST_DATABASE_URL", "")


def pytest_report_header(config):
    return f"accounts tests backend: {'mysql' if MYSQL_URL else 'sqlite'}"


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes():
    configure_password_hasher(1, 1024, 1)


def _empty_mysql(database):
    database.execute_sql("SET FOREIGN_KEY_CHECKS=0")
    for table in [m._meta.table_name for m in ALL_MODELS] + ["schema_migrations"]:
        if database.table_exists(table):
            database.execute_sql(f"DELETE FROM `{table}`")
    database.execute_sql("SET FOREIGN_KEY_CHECKS=1")


@pytest.fixture
def db(tmp_path):
    database = open_database(MYSQL_URL or f"sqlite:///{tmp_path}/accounts.db")
    if MYSQL_URL:
        _empty_mysql(database)
    migrate()
    yield database
    database.close()


class Tokens:
    """Stands in for oauth.issuance.TokenService: which grants the accounts code revoked, and why."""

    def __init__(self):
        self.revoked: list[tuple[str, str]] = []

    def revoke_grant(self, grant_id: str, reason: str) -> None:
        self.revoked.append((grant_id, reason))


class Cache:
    """Stands in for oauth.clients.ClientCache: which client ids were invalidated."""

    def __init__(self):
        self.invalidated: list[str] = []

    def invalidate(self, client_id: str | None = None) -> None:
        self.invalidated.append(client_id)


@pytest.fixture
def tokens():
    return Tokens()


@pytest.fixture
def cache():
    return Cache()


@pytest.fixture
def role_with(db):
    """role_with(name, *permissions): a role holding exactly `permissions`, each made if missing."""

    def make(name: str, *permissions: str) -> Role:
        role = Role.create(name=name)
        for permission in permissions:
            row, _ = Permission.get_or_create(name=permission)
            RolePermission.create(role=role, permission=row)
        return role

    return make


@pytest.fixture
def make_user(role_with):
    """make_user(name, *permissions, admin=False): a user (a dict, as the accounts code answers) holding
    exactly `permissions` through a role of their own, and the admin role if `admin`."""

    def make(name: str, *permissions: str, admin: bool = False) -> dict:
        roles = []
        if permissions:
            roles.append(role_with(f"{name}-role", *permissions).name)
        if admin:
            ensure_admin_role()
            roles.append(ADMIN_ROLE)
        return create_user(SYSTEM, username=name, password_hash="not-a-hash", email=f"{name}@example.test", roles=roles)

    return make


@pytest.fixture
def actor_of():
    """actor_of(user, via="token", auth_time=None): the Actor the admin API builds for that user."""

    def actor(user: dict, via: str = "token", auth_time: int | None = None) -> Actor:
        roles, permissions = roles_and_permissions(user["id"])
        if auth_time is None and via != "token":
            auth_time = int(time.time())  # a session signed in just now
        return Actor(
            id=str(user["id"]),
            user_id=user["id"],
            via=via,
            permissions=frozenset(permissions),
            is_admin=ADMIN_ROLE in roles,
            auth_time=auth_time,
        )

    return actor
