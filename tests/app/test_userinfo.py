"""UserInfo (OIDC Core §5.3) and ID tokens (§2, §3.1.3.6)."""

from __future__ import annotations

import base64
import hashlib
import json

from conftest import basic, get_code, redeem

USERINFO = "/api/v2/oauth/userinfo"


def _payload(jwt: str) -> dict:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _tokens(http, webapp, **extra):
    code, verifier, _ = get_code(http, **extra)
    return redeem(http, code, verifier, webapp).json()


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


def test_id_token_carries_nonce_at_hash_and_auth_time(http, user, webapp):
    tokens = _tokens(http, webapp)
    claims = _payload(tokens["id_token"])
    assert claims["nonce"] == "n-456"
    assert claims["aud"] == "webapp"
    assert claims["iss"] == "https://testserver"
    assert isinstance(claims["auth_time"], int)
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_no_id_token_without_openid_scope(http, user, webapp):
    tokens = _tokens(http, webapp, scope="profile offline_access")
    assert "id_token" not in tokens


def test_access_token_for_an_ordinary_client_does_not_carry_the_users_admin_roles(http, state, webapp):
    """Roles and permissions go only into tokens for the admin API (test_admin_authorization)."""
    from conftest import PASSWORD
    from gatehouse.accounts.users import create_user_as_system as create_user

    create_user("alice", PASSWORD, admin=True)
    tokens = _tokens(http, webapp)
    claims = _payload(tokens["access_token"])
    assert "roles" not in claims and "permissions" not in claims
