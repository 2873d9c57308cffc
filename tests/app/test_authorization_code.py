"""Authorization code with PKCE (RFC 6749 §4.1, RFC 7636, OAuth 2.1 §4.1, RFC 9207)."""

from __future__ import annotations

from conftest import REDIRECT, authorize_params, basic, get_code, login, pkce_pair, query_of, redeem


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


def test_missing_code_challenge_is_refused(http, user, webapp):
    login(http)
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", None))
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_plain_code_challenge_method_is_refused(http, user, webapp):
    login(http)
    verifier, _ = pkce_pair()
    params = authorize_params("webapp", verifier, code_challenge_method="plain")
    response = http.get("/api/v2/oauth/authorize", params=params)
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_missing_code_challenge_method_is_refused(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    params = authorize_params("webapp", challenge)
    del params["code_challenge_method"]
    response = http.get("/api/v2/oauth/authorize", params=params)
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_wrong_code_verifier_is_refused(http, user, webapp):
    code, _, _ = get_code(http)
    other_verifier, _ = pkce_pair()
    response = redeem(http, code, other_verifier, webapp)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_code_verifier_is_refused(http, user, webapp):
    code, _, _ = get_code(http)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    response = http.post("/api/v2/oauth/token", data=data, headers=basic(*webapp))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_code_verifier_shorter_than_43_chars_is_refused(http, user, webapp):
    code, _, _ = get_code(http)
    response = redeem(http, code, "a" * 42, webapp)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_failed_pkce_does_not_burn_the_code(http, user, webapp):
    code, verifier, _ = get_code(http)
    assert redeem(http, code, "b" * 50, webapp).status_code == 400
    assert redeem(http, code, verifier, webapp).status_code == 200


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


def test_unknown_client_id_shows_error_page_without_redirect(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("nobody", challenge))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_client" in response.text


def test_unregistered_redirect_uri_shows_error_page_without_redirect(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    params = authorize_params("webapp", challenge, redirect_uri="https://evil.example/callback")
    response = http.get("/api/v2/oauth/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_redirect_uri_prefix_does_not_match(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    params = authorize_params("webapp", challenge, redirect_uri=REDIRECT + "/extra")
    response = http.get("/api/v2/oauth/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_loopback_redirect_uri_may_differ_in_port(http, user, spa):
    code, verifier, query = get_code(http, "spa", redirect_uri="http://127.0.0.1:53117/callback")
    response = redeem(http, code, verifier, spa, redirect_uri="http://127.0.0.1:53117/callback")
    assert response.status_code == 200, response.text


def test_non_loopback_redirect_uri_may_not_differ_in_port(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    params = authorize_params("webapp", challenge, redirect_uri="https://app.example.test:8443/callback")
    assert http.get("/api/v2/oauth/authorize", params=params).status_code == 400


def test_implicit_flow_is_unsupported(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    params = authorize_params("webapp", challenge, response_type="token")
    response = http.get("/api/v2/oauth/authorize", params=params)
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "unsupported_response_type"
    assert query["iss"] == "https://testserver"


def test_public_client_redeems_code_without_secret(http, user, spa):
    code, verifier, _ = get_code(http, "spa")
    response = redeem(http, code, verifier, spa, redirect_uri="http://127.0.0.1/callback")
    assert response.status_code == 200, response.text
    assert "refresh_token" in response.json()


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
