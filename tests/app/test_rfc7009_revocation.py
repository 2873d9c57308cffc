"""Token revocation (RFC 7009): a client ends only its own tokens; revoking a
refresh token ends its grant; public clients revoke with client_id alone (§2.1),
confidential clients still authenticate."""

from __future__ import annotations

from conftest import basic, get_code, redeem
from helpers import INTROSPECT, REVOKE, TOKEN, _cc_token, _introspect, _refresh, _spa_tokens, _user_tokens, _userinfo


def test_revoked_access_token_is_inactive(http, service):
    token = _cc_token(http, service)
    assert http.post(REVOKE, data={"token": token}, headers=basic(*service)).status_code == 200
    assert http.post(INTROSPECT, data={"token": token}, headers=basic(*service)).json() == {"active": False}


def test_revoking_an_unknown_token_returns_200(http, service):
    response = http.post(REVOKE, data={"token": "never-issued"}, headers=basic(*service))
    assert response.status_code == 200


def test_revocation_requires_client_authentication(http, service):
    token = _cc_token(http, service)
    assert http.post(REVOKE, data={"token": token}).status_code == 401


def test_a_client_cannot_revoke_another_clients_token(http, service, webapp):
    token = _cc_token(http, service)
    assert http.post(REVOKE, data={"token": token}, headers=basic(*webapp)).status_code == 200
    assert http.post(INTROSPECT, data={"token": token}, headers=basic(*service)).json()["active"] is True


def test_revoking_a_refresh_token_revokes_its_access_tokens(http, user, webapp):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    http.post(REVOKE, data={"token": tokens["refresh_token"]}, headers=basic(*webapp))
    assert http.post(INTROSPECT, data={"token": tokens["access_token"]}, headers=basic(*webapp)).json() == {
        "active": False
    }
    refreshed = http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, headers=basic(*webapp)
    )
    assert refreshed.json()["error"] == "invalid_grant"


# Public clients revoke their own tokens (§2.1) ----------------------------


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


def test_revocation_by_an_unknown_public_client_id_is_refused(http, spa):
    response = http.post(REVOKE, data={"token": "x", "client_id": "nobody"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
