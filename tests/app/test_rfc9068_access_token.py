"""Access tokens are JWTs (RFC 9068): their header and claims; a user's roles and
permissions (§2.2.3.1) go only into tokens for the admin API."""

from __future__ import annotations

import base64
import json

from conftest import basic
from helpers import TOKEN, _payload, _tokens


def _claims(jwt: str) -> tuple[dict, dict]:
    header, payload, _ = jwt.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(base64.urlsafe_b64decode(pad(payload)))


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


def test_access_token_for_an_ordinary_client_does_not_carry_the_users_admin_roles(http, state, webapp):
    """Roles and permissions go only into tokens for the admin API (test_admin_authorization)."""
    from conftest import PASSWORD
    from gatehouse.accounts.users import create_user_as_system as create_user

    create_user("alice", PASSWORD, admin=True)
    tokens = _tokens(http, webapp)
    claims = _payload(tokens["access_token"])
    assert "roles" not in claims and "permissions" not in claims
