"""The authorization code grant (RFC 6749 §4.1, OAuth 2.1 §4.1): the authorization
request and its response (which carries `iss`, RFC 9207), then the code at the token
endpoint. PKCE is in test_rfc7636_pkce.py, redirect URI matching in test_redirect_uris.py."""

from __future__ import annotations

import pytest
from conftest import REDIRECT, authorize_params, basic, get_code, login, pkce_pair, query_of, redeem
from helpers import _ask

# The authorization request and response -----------------------------------


def test_code_flow_issues_access_refresh_and_id_token(http, user, webapp):
    code, verifier, query = get_code(http)
    assert query["state"] == "st-123"
    response = redeem(http, code, verifier, webapp)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert {"access_token", "refresh_token", "id_token", "expires_in"} <= set(body)
    assert response.headers["cache-control"] == "no-store"


def test_authorization_response_carries_iss(http, user, webapp):
    _, _, query = get_code(http)
    assert query["iss"] == "https://testserver"


def test_error_response_carries_iss_and_state(http, user, webapp):
    login(http)
    params = authorize_params("webapp", None)  # no code_challenge
    response = http.get("/api/v2/oauth/authorize", params=params)
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request"
    assert query["iss"] == "https://testserver"
    assert query["state"] == "st-123"


def test_unknown_client_id_shows_error_page_without_redirect(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("nobody", challenge))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_client" in response.text


def test_implicit_flow_is_unsupported(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    params = authorize_params("webapp", challenge, response_type="token")
    response = http.get("/api/v2/oauth/authorize", params=params)
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "unsupported_response_type"
    assert query["iss"] == "https://testserver"


def test_unauthenticated_user_is_sent_to_login(http, user, webapp):
    _, challenge = pkce_pair()
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?return_to=")


def test_prompt_none_without_session_returns_login_required(http, user, webapp):
    _, challenge = pkce_pair()
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge, prompt="none"))
    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "login_required"


def test_repeated_authorization_parameter_is_refused(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    params = list(authorize_params("webapp", challenge).items()) + [("state", "second")]
    response = http.get("/api/v2/oauth/authorize", params=params)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_scope_not_registered_for_the_client_is_invalid_scope(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge, scope="openid admin"))
    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "invalid_scope"


@pytest.mark.parametrize("max_age", ["²", "١", "١٢٣", "3²", "9" * 5000, " 5", "-1", "+5", "0x10", ""])
def test_max_age_that_is_not_ascii_digits_is_invalid_request(http, user, webapp, max_age):
    login(http)
    response = _ask(http, max_age=max_age)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = query_of(location)
    assert query["error"] == "invalid_request"
    assert query["state"] == "st-123"


def test_max_age_in_ascii_digits_still_works(http, user, webapp):
    get_code(http)
    assert _ask(http, max_age="3600").status_code == 302  # signed in just now: a code
    too_old = _ask(http, max_age="0")
    assert too_old.status_code == 303 and too_old.headers["location"].startswith("/login")


# The code at the token endpoint -------------------------------------------


def test_code_is_single_use(http, user, webapp):
    code, verifier, _ = get_code(http)
    assert redeem(http, code, verifier, webapp).status_code == 200
    second = redeem(http, code, verifier, webapp)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


def test_code_reuse_revokes_issued_tokens(http, user, webapp):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    redeem(http, code, verifier, webapp)
    introspected = http.post(
        "/api/v2/oauth/introspect", data={"token": tokens["access_token"]}, headers=basic(*webapp)
    ).json()
    assert introspected == {"active": False}
    refreshed = http.post(
        "/api/v2/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(*webapp),
    )
    assert refreshed.json()["error"] == "invalid_grant"


def test_expired_code_is_refused(http, user, webapp, state):
    from gatehouse.store.models import AuthorizationCode

    code, verifier, _ = get_code(http)
    AuthorizationCode.update(expires_at=0).execute()
    assert redeem(http, code, verifier, webapp).json()["error"] == "invalid_grant"


def test_code_of_another_client_is_refused(http, user, webapp, spa):
    code, verifier, _ = get_code(http)
    response = redeem(http, code, verifier, spa, redirect_uri=REDIRECT)
    assert response.json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_the_authorization_request(http, user, webapp):
    code, verifier, _ = get_code(http)
    response = redeem(http, code, verifier, webapp, redirect_uri="https://app.example.test/other")
    assert response.json()["error"] == "invalid_grant"


def test_public_client_redeems_code_without_secret(http, user, spa):
    code, verifier, _ = get_code(http, "spa")
    response = redeem(http, code, verifier, spa, redirect_uri="http://127.0.0.1/callback")
    assert response.status_code == 200, response.text
    assert "refresh_token" in response.json()
