"""Introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from conftest import basic, get_code, redeem

INTROSPECT = "/api/v2/oauth/introspect"
REVOKE = "/api/v2/oauth/revoke"
TOKEN = "/api/v2/oauth/token"


def _cc_token(http, client):
    return http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*client)).json()["access_token"]


def test_introspection_of_a_valid_access_token_is_active(http, service):
    token = _cc_token(http, service)
    result = http.post(INTROSPECT, data={"token": token}, headers=basic(*service)).json()
    assert result["active"] is True
    assert result["client_id"] == "service"
    assert result["scope"] == "api:read api:write"
    assert {"exp", "iat", "sub", "iss", "jti", "token_type"} <= set(result)


def test_introspection_requires_client_authentication(http, service):
    token = _cc_token(http, service)
    response = http.post(INTROSPECT, data={"token": token})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "www-authenticate" in response.headers


def test_introspection_of_garbage_is_inactive(http, service):
    result = http.post(INTROSPECT, data={"token": "not-a-token"}, headers=basic(*service)).json()
    assert result == {"active": False}


def test_introspection_of_an_expired_token_is_inactive(http, service, state):
    from gatehouse.crypto.jws import TokenSigner
    from gatehouse.oauth import access_token as access_tokens

    signer = TokenSigner(state.keys, state.settings.issuer)
    token, _ = access_tokens.issue(signer, client_id="service", subject="service", scope="", ttl=-10)
    assert http.post(INTROSPECT, data={"token": token}, headers=basic(*service)).json() == {"active": False}


def test_introspection_of_a_token_signed_by_another_key_is_inactive(http, service):
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    forged = jwt.encode(
        {"alg": "RS256", "typ": "at+jwt", "kid": "forged"},
        {"iss": "https://testserver", "exp": 4102444800, "jti": "x", "client_id": "service"},
        RSAKey.generate_key(2048, private=True),
    )
    assert http.post(INTROSPECT, data={"token": forged}, headers=basic(*service)).json() == {"active": False}


def test_introspection_of_a_refresh_token(http, user, webapp):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    result = http.post(
        INTROSPECT, data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}, headers=basic(*webapp)
    ).json()
    assert result["active"] is True
    assert result["token_type"] == "refresh_token"


def test_introspection_without_token_is_invalid_request(http, service):
    response = http.post(INTROSPECT, data={}, headers=basic(*service))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


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
