"""`cleanup` (issue §4): deletes what has expired, in small batches; audit rows
stay for their retention, revocations until their tokens have expired."""

from __future__ import annotations

import logging

import pytest
from conftest import basic, get_code, redeem
from gatehouse.store.cleanup import AUDIT_RETENTION_DAYS, cleanup
from gatehouse.store.models import AuditLog, AuthorizationCode, Grant, RefreshToken, Revocation, Session
from helpers import NOW


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


def test_cleanup_deletes_sessions_idle_longer_than_the_idle_timeout(state):
    def session(name, last_seen_at, created_at=NOW - 7200):
        Session.create(id=name, csrf_token="c", created_at=created_at, expires_at=NOW + 3600, last_seen_at=last_seen_at)

    session("idle", NOW - 1801)
    session("in-use", NOW - 60)
    session("never-seen-old", None)
    session("never-seen-new", None, created_at=NOW - 10)
    assert cleanup(now=NOW, session_idle_timeout=1800)["sessions"] == 2
    assert sorted(s.id for s in Session.select()) == ["in-use", "never-seen-new"]
    # Without an idle timeout only the absolute lifetime counts.
    session("idle", NOW - 99999)
    assert cleanup(now=NOW)["sessions"] == 0
