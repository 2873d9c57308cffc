"""ID tokens (OpenID Connect Core §2, §3.1.3.6): issued only for the openid
scope, carrying nonce, at_hash and auth_time."""

from __future__ import annotations

import base64
import hashlib

from helpers import _payload, _tokens


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
