"""UserInfo (OpenID Connect Core §5.3): a bearer token in the header, the claims
of the granted scopes, for users' tokens only."""

from __future__ import annotations

from conftest import basic
from gatehouse.oauth import access_token as access_tokens
from helpers import USERINFO, _tokens, _userinfo


def test_userinfo_get_with_bearer_header(http, user, webapp):
    tokens = _tokens(http, webapp)
    response = http.get(USERINFO, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200
    body = response.json()
    assert body["sub"] == str(user.id)
    assert body["preferred_username"] == "alice"
    assert body["email"] == "alice@example.test"


def test_userinfo_post_with_bearer_header(http, user, webapp):
    tokens = _tokens(http, webapp)
    response = http.post(USERINFO, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200


def test_userinfo_refuses_token_in_query_string(http, user, webapp):
    tokens = _tokens(http, webapp)
    response = http.get(USERINFO, params={"access_token": tokens["access_token"]})
    assert response.status_code == 400


def test_userinfo_without_token_is_401_with_challenge(http, user):
    response = http.get(USERINFO)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_userinfo_releases_only_claims_of_granted_scopes(http, user, webapp):
    tokens = _tokens(http, webapp, scope="openid")
    body = http.get(USERINFO, headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert body == {"sub": str(user.id)}


def test_userinfo_refuses_a_revoked_token(http, user, webapp):
    tokens = _tokens(http, webapp)
    http.post("/api/v2/oauth/revoke", data={"token": tokens["access_token"]}, headers=basic(*webapp))
    response = http.get(USERINFO, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_userinfo_refuses_client_credentials_token(http, service):
    token = http.post("/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*service)).json()[
        "access_token"
    ]
    assert http.get(USERINFO, headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_userinfo_with_a_non_ascii_digit_subject_is_refused_not_500(http, state, webapp):
    for subject in ("²", "١٢", "9" * 4400):
        token, _ = access_tokens.issue(
            state.tokens.signer, client_id="webapp", subject=subject, scope="openid", ttl=300, grant_id="g" * 22
        )
        response = _userinfo(http, token)
        assert response.status_code == 403, subject
        assert response.json()["error"] == "insufficient_scope"
