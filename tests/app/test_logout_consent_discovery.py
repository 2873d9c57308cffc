"""RP-initiated logout, consent memory, and discovery metadata (RFC 8414, OIDC Discovery)."""

from __future__ import annotations

import re

from conftest import authorize_params, csrf_of, get_code, login, pkce_pair, query_of, redeem

LOGOUT = "/api/v2/oauth/logout"


def _id_token(http, webapp):
    code, verifier, _ = get_code(http)
    return redeem(http, code, verifier, webapp).json()["id_token"]


def test_logout_redirects_to_registered_post_logout_uri_with_state(http, user, webapp):
    id_token = _id_token(http, webapp)
    response = http.get(
        LOGOUT,
        params={"id_token_hint": id_token, "post_logout_redirect_uri": "https://app.example.test/bye", "state": "s1"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "https://app.example.test/bye?state=s1"
    assert http.get("/").text.count("Sign in") >= 1  # the session is gone


def test_logout_never_redirects_to_an_unregistered_uri(http, user, webapp):
    id_token = _id_token(http, webapp)
    response = http.get(LOGOUT, params={"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"})
    assert response.status_code == 400
    assert "location" not in response.headers


def test_logout_without_hint_asks_the_user_to_confirm(http, user, webapp):
    login(http)
    response = http.get(
        LOGOUT, params={"client_id": "webapp", "post_logout_redirect_uri": "https://app.example.test/bye"}
    )
    assert response.status_code == 200
    assert "Sign out" in response.text
    confirmed = http.post(
        LOGOUT,
        data={
            "csrf_token": csrf_of(response.text),
            "confirm": "yes",
            "client_id": "webapp",
            "post_logout_redirect_uri": "https://app.example.test/bye",
        },
    )
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "https://app.example.test/bye"


def test_logout_ends_the_session_so_authorize_asks_to_log_in_again(http, user, webapp):
    id_token = _id_token(http, webapp)
    http.get(LOGOUT, params={"id_token_hint": id_token})
    _, challenge = pkce_pair()
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_consent_is_remembered_per_user_client_and_scope(http, user, webapp):
    get_code(http)  # consents once
    _, challenge = pkce_pair()
    again = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge))
    assert again.status_code == 302  # no consent page the second time
    _, challenge = pkce_pair()
    wider = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge, scope="openid profile"))
    assert wider.status_code == 200  # a different scope set asks again
    assert "Web App" in wider.text


def test_consent_page_names_client_and_scopes(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    page = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge))
    assert "Web App" in page.text
    for scope in ("openid", "profile", "email", "offline_access"):
        assert f'data-scope="{scope}"' in page.text


def test_denied_consent_returns_access_denied(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    page = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge))
    original = re.search(r'name="request" value="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    response = http.post("/consent", data={"csrf_token": csrf_of(page.text), "request": original, "decision": "deny"})
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "access_denied"
    assert query["state"] == "st-123"
    assert query["iss"] == "https://testserver"


def test_consent_without_csrf_token_is_refused(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    page = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge))
    original = re.search(r'name="request" value="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    response = http.post("/consent", data={"csrf_token": "forged", "request": original, "decision": "allow"})
    assert response.status_code == 400
    assert "location" not in response.headers


def test_discovery_documents_point_to_the_reference_paths(http, state):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        meta = http.get(path).json()
        assert meta["issuer"] == "https://testserver"
        assert meta["authorization_endpoint"] == "https://testserver/api/v2/oauth/authorize"
        assert meta["token_endpoint"] == "https://testserver/api/v2/oauth/token"
        assert meta["userinfo_endpoint"] == "https://testserver/api/v2/oauth/userinfo"
        assert meta["introspection_endpoint"] == "https://testserver/api/v2/oauth/introspect"
        assert meta["revocation_endpoint"] == "https://testserver/api/v2/oauth/revoke"
        assert meta["end_session_endpoint"] == "https://testserver/api/v2/oauth/logout"
        assert meta["jwks_uri"] == "https://testserver/jwks.json"
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["response_types_supported"] == ["code"]
        assert meta["authorization_response_iss_parameter_supported"] is True
        assert "password" not in meta["grant_types_supported"]
        assert "implicit" not in meta["grant_types_supported"]
        assert set(meta["scopes_supported"]) >= {"openid", "profile", "email", "offline_access"}


def test_jwks_keys_all_have_a_kid(http, state):
    keys = http.get("/jwks.json").json()["keys"]
    assert keys
    assert all(key.get("kid") for key in keys)
    assert all("d" not in key for key in keys)  # never a private part
