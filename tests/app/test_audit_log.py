"""The audit log (issue §7): sign-ins, lockouts, tokens, replays, consent and
logout, each a row naming who, whom and from where."""

from __future__ import annotations

import json

from conftest import basic, get_code, login, redeem
from gatehouse.store.models import AuditLog
from helpers import client_credentials


def events(**where) -> list[AuditLog]:
    query = AuditLog.select().order_by(AuditLog.id)
    for name, value in where.items():
        query = query.where(getattr(AuditLog, name) == value)
    return list(query)


def test_successful_login_is_audited_with_ip_and_request_id(http, user):
    login(http)
    (row,) = events(event="login.succeeded")
    assert row.actor == str(user.id) and row.subject == "alice"
    assert row.ip and row.request_id


def test_failed_login_is_audited_with_the_reason(http, user):
    login(http, password="wrong password")
    (row,) = events(event="login.failed")
    assert row.actor == "alice"
    assert json.loads(row.details)["reason"] == "bad_credentials"


def test_lockout_is_audited(http, user, settings):
    for _ in range(settings.login_max_failures):
        login(http, password="wrong password")
    (row,) = events(event="login.locked_out")
    assert row.actor == "alice"
    assert json.loads(row.details)["seconds"] == settings.login_lockout_seconds


def test_token_issued_refreshed_and_revoked_are_audited(http, user, webapp):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    (issued,) = events(event="token.issued")
    assert issued.actor == "webapp" and issued.subject == str(user.id)
    assert json.loads(issued.details)["grant_type"] == "authorization_code"

    refreshed = http.post(
        "/api/v2/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(*webapp),
    ).json()
    (row,) = events(event="token.refreshed")
    assert row.actor == "webapp" and json.loads(row.details)["grant_type"] == "refresh_token"

    http.post("/api/v2/oauth/revoke", data={"token": refreshed["access_token"]}, headers=basic(*webapp))
    (row,) = events(event="token.revoked")
    assert row.actor == "webapp" and row.subject == str(user.id)


def test_client_credentials_token_is_audited(http, service):
    client_credentials(http, service)
    (row,) = events(event="token.issued")
    assert row.actor == "service" and json.loads(row.details)["grant_type"] == "client_credentials"


def test_code_reuse_is_audited(http, user, webapp):
    code, verifier, _ = get_code(http)
    redeem(http, code, verifier, webapp)
    redeem(http, code, verifier, webapp)
    (row,) = events(event="code.reuse_detected")
    assert row.actor == "webapp" and row.subject == str(user.id)


def test_refresh_token_replay_is_audited(http, user, webapp):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    for _ in range(2):
        http.post(
            "/api/v2/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            headers=basic(*webapp),
        )
    assert len(events(event="refresh.replay_detected")) == 1


def test_consent_and_logout_are_audited(http, user, webapp):
    get_code(http)
    assert len(events(event="consent.granted")) == 1
    page = http.get("/logout")
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    http.post("/logout", data={"csrf_token": csrf})
    (row,) = events(event="logout")
    assert row.actor == str(user.id)
