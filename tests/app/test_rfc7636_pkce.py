"""PKCE (RFC 7636, required by OAuth 2.1 §4.1.1): S256 only, and the code is
redeemed only with its verifier."""

from __future__ import annotations

from conftest import REDIRECT, authorize_params, basic, get_code, login, pkce_pair, query_of, redeem


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
