"""Who may learn about or end a token, and when a token stops working.

- Introspection (RFC 7662 §4): `active: true` only to the token's own client
  or to a resource server in its `aud`; anyone else learns `{"active": false}`.
- Revocation (RFC 7009 §2.1): public clients revoke their own tokens with
  client_id alone; confidential clients still authenticate.
- A deactivated or deleted client's tokens stop working at once.
- UserInfo never answers 500 to a token whose subject is not an ASCII number.
"""

from __future__ import annotations

from conftest import basic, get_code, redeem, register
from gatehouse.oauth import access_token as access_tokens
from gatehouse.store.models import Client
from test_introspection_revocation import INTROSPECT, REVOKE, TOKEN, _cc_token

USERINFO = "/api/v2/oauth/userinfo"
SPA_REDIRECT = "http://127.0.0.1/callback"


def _user_tokens(http, webapp):
    code, verifier, _ = get_code(http)
    return redeem(http, code, verifier, webapp).json()


def _spa_tokens(http):
    code, verifier, _ = get_code(http, "spa")
    response = redeem(http, code, verifier, ("spa", None), redirect_uri=SPA_REDIRECT)
    assert response.status_code == 200, response.text
    return response.json()


def _resource_server(state):
    """A confidential client that only checks tokens (an API)."""
    return register(
        client_id="orders-api",
        name="Orders API",
        redirect_uris=[],
        post_logout_redirect_uris=[],
        grant_types=["client_credentials"],
        scope="api:read",
    )


def _signed_for(state, client_id, audience):
    token, _ = access_tokens.issue(
        state.tokens.signer, client_id=client_id, subject=client_id, scope="api:read", ttl=300, audience=audience
    )
    return token


def _introspect(http, token, caller, **extra):
    return http.post(INTROSPECT, data={"token": token, **extra}, headers=basic(*caller)).json()


def _refresh(http, refresh_token, client):
    client_id, secret = client
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if secret:
        return http.post(TOKEN, data=data, headers=basic(client_id, secret))
    return http.post(TOKEN, data={**data, "client_id": client_id})


def _userinfo(http, access_token):
    return http.get(USERINFO, headers={"Authorization": f"Bearer {access_token}"})


# 1. Introspection answers only the token's client or audience ---------------------


def test_introspection_of_another_clients_access_token_is_inactive(http, user, webapp, service):
    tokens = _user_tokens(http, webapp)
    assert _introspect(http, tokens["access_token"], service) == {"active": False}
    assert _introspect(http, tokens["access_token"], webapp)["active"] is True
    cc_token = _cc_token(http, service)
    assert _introspect(http, cc_token, webapp) == {"active": False}
    assert _introspect(http, cc_token, service)["active"] is True


def test_introspection_by_a_resource_server_in_the_audience_is_active(http, state, service):
    api = _resource_server(state)
    for audience in ("orders-api", ["service", "orders-api"]):
        token = _signed_for(state, "service", audience)
        result = _introspect(http, token, api)
        assert result["active"] is True
        assert result["client_id"] == "service"
        assert result["aud"] == audience


def test_introspection_by_a_resource_server_not_in_the_audience_is_inactive(http, state, service, webapp):
    _resource_server(state)
    token = _signed_for(state, "service", "orders-api")
    assert _introspect(http, token, webapp) == {"active": False}


def test_introspection_of_another_clients_refresh_token_is_inactive(http, state, user, webapp, service):
    tokens = _user_tokens(http, webapp)
    api = _resource_server(state)
    for caller in (service, api):
        for hint in ({}, {"token_type_hint": "refresh_token"}):
            assert _introspect(http, tokens["refresh_token"], caller, **hint) == {"active": False}
    assert _introspect(http, tokens["refresh_token"], webapp)["active"] is True


# 2. Public clients may revoke their own tokens -------------------------------------


def test_public_client_revokes_its_own_refresh_token_without_a_secret(http, user, spa):
    tokens = _spa_tokens(http)
    response = http.post(REVOKE, data={"token": tokens["refresh_token"], "client_id": "spa"})
    assert response.status_code == 200
    assert _refresh(http, tokens["refresh_token"], ("spa", None)).json()["error"] == "invalid_grant"
    # Revoking the refresh token ends the grant, its access tokens included.
    assert _userinfo(http, tokens["access_token"]).status_code == 401


def test_public_client_revokes_its_own_access_token_without_a_secret(http, user, spa):
    tokens = _spa_tokens(http)
    assert _userinfo(http, tokens["access_token"]).status_code == 200
    response = http.post(REVOKE, data={"token": tokens["access_token"], "client_id": "spa"})
    assert response.status_code == 200
    assert _userinfo(http, tokens["access_token"]).status_code == 401


def test_public_client_cannot_revoke_another_clients_tokens(http, user, spa, webapp):
    tokens = _user_tokens(http, webapp)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert http.post(REVOKE, data={"token": token, "client_id": "spa"}).status_code == 200
    assert _introspect(http, tokens["access_token"], webapp)["active"] is True
    assert _introspect(http, tokens["refresh_token"], webapp)["active"] is True


def test_public_client_revoking_an_unknown_token_gets_200(http, spa):
    assert http.post(REVOKE, data={"token": "never-issued", "client_id": "spa"}).status_code == 200


def test_confidential_client_must_still_authenticate_to_revoke(http, user, webapp):
    tokens = _user_tokens(http, webapp)
    for data in ({"client_id": "webapp"}, {"client_id": "webapp", "client_secret": "wrong"}):
        response = http.post(REVOKE, data={"token": tokens["refresh_token"], **data})
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
    assert _introspect(http, tokens["refresh_token"], webapp)["active"] is True


def test_discovery_advertises_none_for_revocation_but_not_introspection(http, state):
    meta = http.get("/.well-known/oauth-authorization-server").json()
    assert "none" in meta["revocation_endpoint_auth_methods_supported"]
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]


def test_revocation_by_an_unknown_public_client_id_is_refused(http, spa):
    response = http.post(REVOKE, data={"token": "x", "client_id": "nobody"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


# 3. A deactivated or deleted client's tokens stop working at once -------------------


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


def test_refresh_with_a_deactivated_client_fails(http, user, webapp, spa):
    tokens = _user_tokens(http, webapp)
    spa_tokens = _spa_tokens(http)
    Client.update(is_active=False).where(Client.client_id.in_(["webapp", "spa"])).execute()
    for refresh_token, client in ((tokens["refresh_token"], webapp), (spa_tokens["refresh_token"], ("spa", None))):
        response = _refresh(http, refresh_token, client)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"


# 5. Unicode digits in a token's subject ----------------------------------------------


def test_userinfo_with_a_non_ascii_digit_subject_is_refused_not_500(http, state, webapp):
    for subject in ("²", "١٢", "9" * 4400):
        token, _ = access_tokens.issue(
            state.tokens.signer, client_id="webapp", subject=subject, scope="openid", ttl=300, grant_id="g" * 22
        )
        response = _userinfo(http, token)
        assert response.status_code == 403, subject
        assert response.json()["error"] == "insufficient_scope"
