"""Revocations reach every process: from the in-memory mirror while Redis
announces them, from the database whenever it cannot (gatehouse.revocations)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from conftest import REDIS_URL, basic, get_code, redeem
from gatehouse.store.models import Revocation
from helpers import INTROSPECT, REVOKE, TOKEN

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="needs Redis (GATEHOUSE_TEST_REDIS_URL)")


def cc_token(http, client) -> str:
    return http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*client)).json()["access_token"]


def active(http, client, token) -> bool:
    return http.post(INTROSPECT, data={"token": token}, headers=basic(*client)).json()["active"]


def wait_for(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def mirrored(app_client) -> bool:
    return app_client.app.state.gatehouse.tokens.revocations.mirrored


def test_a_token_revoked_by_one_process_is_inactive_in_another(http, second_app, service):
    token = cc_token(http, service)
    assert active(second_app, service, token)
    assert http.post(REVOKE, data={"token": token}, headers=basic(*service)).status_code == 200
    # Announced through Redis (or read from the shared table without it): within moments, never "still active".
    assert wait_for(lambda: not active(second_app, service, token))


def test_a_grant_revoked_by_one_process_ends_its_access_tokens_in_another(http, second_app, user, webapp):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    assert active(second_app, webapp, tokens["access_token"])
    http.post(REVOKE, data={"token": tokens["refresh_token"]}, headers=basic(*webapp))
    assert wait_for(lambda: not active(second_app, webapp, tokens["access_token"]))


@needs_redis
def test_checks_are_answered_from_memory_while_redis_announces_revocations(http, service):
    cc_token(http, service)
    token = cc_token(http, service)
    active(http, service, token)  # the first check starts the listener
    assert wait_for(lambda: mirrored(http))


@needs_redis
def test_a_revocation_already_in_the_table_is_known_when_the_mirror_starts(http, service):
    token = cc_token(http, service)
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    # Written by another host before this process's listener started and read the table.
    Revocation.insert(id=claims["jti"], expires_at=claims["exp"]).execute()
    assert not active(http, service, token)  # starts the listener; answered by the database meanwhile
    assert wait_for(lambda: mirrored(http))
    assert not active(http, service, token)  # answered from memory
