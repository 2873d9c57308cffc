"""A deactivated or deleted client's tokens stop working at once: at the token
endpoint, at introspection and at UserInfo."""

from __future__ import annotations

from conftest import basic
from gatehouse.store.models import Client
from helpers import TOKEN, _introspect, _refresh, _resource_server, _signed_for, _spa_tokens, _user_tokens, _userinfo


def test_deactivated_client_cannot_get_tokens(http, service, state):
    from gatehouse.store.models import Client

    Client.update(is_active=False).where(Client.client_id == "service").execute()
    response = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*service))
    assert response.status_code == 401


def test_refresh_with_a_deactivated_client_fails(http, user, webapp, spa):
    tokens = _user_tokens(http, webapp)
    spa_tokens = _spa_tokens(http)
    Client.update(is_active=False).where(Client.client_id.in_(["webapp", "spa"])).execute()
    for refresh_token, client in ((tokens["refresh_token"], webapp), (spa_tokens["refresh_token"], ("spa", None))):
        response = _refresh(http, refresh_token, client)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"


def test_tokens_of_a_deactivated_client_are_inactive_at_introspection(http, state, service):
    api = _resource_server(state)
    token = _signed_for(state, "service", "orders-api")
    assert _introspect(http, token, api)["active"] is True
    Client.update(is_active=False).where(Client.client_id == "service").execute()
    assert _introspect(http, token, api) == {"active": False}


def test_tokens_of_a_deleted_client_are_inactive_at_introspection(http, state, service):
    api = _resource_server(state)
    token = _signed_for(state, "service", "orders-api")
    Client.delete().where(Client.client_id == "service").execute()
    assert _introspect(http, token, api) == {"active": False}


def test_userinfo_refuses_tokens_of_a_deactivated_client(http, user, webapp):
    tokens = _user_tokens(http, webapp)
    assert _userinfo(http, tokens["access_token"]).status_code == 200
    Client.update(is_active=False).where(Client.client_id == "webapp").execute()
    response = _userinfo(http, tokens["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_userinfo_refuses_tokens_of_a_deleted_client(http, user, webapp):
    tokens = _user_tokens(http, webapp)
    # Only the client row goes: the grant stays, so the client check alone must refuse.
    Client.delete().where(Client.client_id == "webapp").execute()
    response = _userinfo(http, tokens["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
