"""Batched audit rows of token issuance (AUDIT_FLUSH_SECONDS)."""

from __future__ import annotations

import time

import pytest
from conftest import basic
from gatehouse.runtime import audit
from gatehouse.store.models import AuditLog


@pytest.fixture
def env(env):
    env["AUDIT_FLUSH_SECONDS"] = "1"
    return env


def test_token_issued_rows_reach_the_table_within_the_flush_interval(http, service):
    for _ in range(3):
        assert (
            http.post(
                "/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*service)
            ).status_code
            == 200
        )
    deadline = time.time() + 5
    while time.time() < deadline and AuditLog.select().where(AuditLog.event == "token.issued").count() < 3:
        time.sleep(0.1)
    assert AuditLog.select().where(AuditLog.event == "token.issued").count() == 3


def test_security_events_are_written_before_the_response(http, service):
    response = http.post("/api/v2/oauth/revoke", data={"token": "x"}, headers=basic(*service))
    assert response.status_code == 200
    audit.record("keys.rotated", actor="test")
    assert AuditLog.select().where(AuditLog.event == "keys.rotated").count() == 1


def test_flush_writes_pending_rows_at_once(http, service):
    http.post("/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*service))
    audit.flush()
    assert AuditLog.select().where(AuditLog.event == "token.issued").count() == 1
