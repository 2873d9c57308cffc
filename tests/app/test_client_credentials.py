"""Client credentials (RFC 6749 §4.4), client authentication (§2.3, §5.2), RFC 9068 access tokens."""

from __future__ import annotations

import base64
import json

import pytest
from conftest import basic, register

TOKEN = "/api/v2/oauth/token"


def _claims(jwt: str) -> tuple[dict, dict]:
    header, payload, _ = jwt.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(base64.urlsafe_b64decode(pad(payload)))


def test_client_secret_basic_gets_a_token(http, service):
    response = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*service))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"


def test_client_secret_post_gets_a_token(http, service):
    client_id, secret = service
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert http.post(TOKEN, data=data).status_code == 200


def test_access_token_is_rfc9068_jwt(http, service):
    token = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*service)).json()
    header, claims = _claims(token["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"]
    assert {"iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp"} <= set(claims)
    assert claims["iss"] == "https://testserver"
    assert claims["client_id"] == "service"
    assert claims["exp"] - claims["iat"] == 3600


def test_requested_scope_is_narrowed_to_the_clients_scope(http, service):
    token = http.post(
        TOKEN, data={"grant_type": "client_credentials", "scope": "api:read"}, headers=basic(*service)
    ).json()
    assert token["scope"] == "api:read"


def test_wrong_secret_is_invalid_client_401_with_challenge(http, service):
    response = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("service", "wrong"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_wrong_secret_by_post_is_also_401_with_challenge(http, service):
    data = {"grant_type": "client_credentials", "client_id": "service", "client_secret": "wrong"}
    response = http.post(TOKEN, data=data)
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


def test_unknown_client_is_invalid_client(http, service):
    response = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("ghost", "x"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_client_may_use_only_its_registered_grants(http, webapp):
    response = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*webapp))
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_public_client_cannot_use_client_credentials(http, spa):
    response = http.post(TOKEN, data={"grant_type": "client_credentials", "client_id": "spa"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


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


def test_deactivated_client_cannot_get_tokens(http, service, state):
    from gatehouse.store.models import Client

    Client.update(is_active=False).where(Client.client_id == "service").execute()
    response = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*service))
    assert response.status_code == 401


def test_client_secret_is_stored_as_a_digest(state, service):
    from gatehouse.store.models import Client

    row = Client.get(Client.client_id == "service")
    assert service[1] not in (row.client_secret_digest or "")
    assert len(row.client_secret_digest) == 64


def test_generated_secret_has_at_least_128_bits(state):
    _, secret = register(
        client_id="entropy",
        redirect_uris=[],
        post_logout_redirect_uris=[],
        grant_types=["client_credentials"],
        scope="x",
    )
    assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) >= 16


def test_scope_not_registered_for_the_client_is_invalid_scope(http, service):
    response = http.post(
        TOKEN, data={"grant_type": "client_credentials", "scope": "api:admin"}, headers=basic(*service)
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("env", [{"RATE_LIMIT_TOKEN_PER_MINUTE": "2"}], indirect=True)
def test_failed_authentication_does_not_spend_the_clients_rate_limit(http, service):
    for _ in range(5):
        assert (
            http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("service", "wrong")).status_code
            == 401
        )
    for _ in range(2):
        assert http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*service)).status_code == 200
    limited = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*service))
    assert limited.status_code == 429
    assert limited.json()["error"] == "slow_down"
    assert limited.headers["retry-after"] == "60"
