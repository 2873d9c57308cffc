"""The client credentials grant (RFC 6749 §4.4): for confidential clients that
registered it, within the client's scope."""

from __future__ import annotations

from conftest import basic
from helpers import TOKEN


def test_requested_scope_is_narrowed_to_the_clients_scope(http, service):
    token = http.post(
        TOKEN, data={"grant_type": "client_credentials", "scope": "api:read"}, headers=basic(*service)
    ).json()
    assert token["scope"] == "api:read"


def test_scope_not_registered_for_the_client_is_invalid_scope(http, service):
    response = http.post(
        TOKEN, data={"grant_type": "client_credentials", "scope": "api:admin"}, headers=basic(*service)
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_client_may_use_only_its_registered_grants(http, webapp):
    response = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*webapp))
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_public_client_cannot_use_client_credentials(http, spa):
    response = http.post(TOKEN, data={"grant_type": "client_credentials", "client_id": "spa"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
