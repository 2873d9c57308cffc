"""The token endpoint's request rules (RFC 6749 §3.2, §5.2): form-encoded, no
repeated parameter, and only the grants it supports (OAuth 2.1 drops the password grant)."""

from __future__ import annotations

from conftest import basic
from helpers import TOKEN


def test_password_grant_is_unsupported(http, service):
    data = {"grant_type": "password", "username": "alice", "password": "x"}
    response = http.post(TOKEN, data=data, headers=basic(*service))
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_unknown_grant_type_is_unsupported(http, service):
    response = http.post(TOKEN, data={"grant_type": "urn:nope"}, headers=basic(*service))
    assert response.json()["error"] == "unsupported_grant_type"


def test_token_request_must_be_form_encoded(http, service):
    response = http.post(TOKEN, json={"grant_type": "client_credentials"}, headers=basic(*service))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_repeated_token_parameter_is_refused(http, service):
    response = http.post(
        TOKEN,
        content="grant_type=client_credentials&grant_type=client_credentials",
        headers={**basic(*service), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
