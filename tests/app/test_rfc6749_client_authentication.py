"""Client authentication at the token endpoint (RFC 6749 §2.3.1, §5.2):
client_secret_basic and client_secret_post; a wrong secret or an unknown client is
invalid_client, 401 with a challenge."""

from __future__ import annotations

from conftest import basic
from helpers import TOKEN, client_credentials


def test_client_secret_basic_gets_a_token(http, service):
    response = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*service))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    assert response.headers["cache-control"] == "no-store"


def test_client_secret_post_gets_a_token(http, service):
    client_id, secret = service
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert http.post(TOKEN, data=data).status_code == 200


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


def test_wrong_client_secret_is_refused(http, service):
    response = client_credentials(http, (service[0], service[1][:-1] + ("A" if service[1][-1] != "A" else "B")))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_unknown_client_is_invalid_client(http, service):
    response = http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("ghost", "x"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
