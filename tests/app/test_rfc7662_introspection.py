"""Token introspection (RFC 7662): what is active, and who may learn it (§4):
`active: true` only to the token's own client or to a resource server in its
`aud`; anyone else learns `{"active": false}`."""

from __future__ import annotations

from conftest import basic, get_code, redeem
from helpers import INTROSPECT, _cc_token, _introspect, _resource_server, _signed_for, _user_tokens


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


# Only the token's client or audience learns that it is active (§4) ----------


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
