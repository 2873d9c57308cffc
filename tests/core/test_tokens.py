"""The claims of this server's tokens: access tokens (RFC 9068 §2.2, oauth.access_token) and ID tokens
(OIDC Core §2, oauth.id_token)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from gatehouse.oauth import access_token, id_token

from core.conftest import ISSUER


def _header(token: str) -> dict:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# Access tokens ------------------------------------------------------------------------------


def test_an_access_token_carries_the_rfc_9068_claims(rs256_signer):
    token, claims = access_token.issue(rs256_signer, client_id="webapp", subject="7", scope="openid", ttl=60)
    assert {"iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp"} == set(claims)
    assert claims["iss"] == ISSUER and claims["exp"] - claims["iat"] == 60
    assert _header(token)["typ"] == "at+jwt"
    assert access_token.verify(rs256_signer, token) == claims


def test_the_audience_is_the_client_unless_another_is_named():
    assert access_token.claims(ISSUER, client_id="c", subject="s", scope="", ttl=1)["aud"] == "c"
    assert access_token.claims(ISSUER, client_id="c", subject="s", scope="", ttl=1, audience="api")["aud"] == "api"


def test_roles_permissions_grant_and_auth_time_only_when_given():
    claims = access_token.claims(
        ISSUER,
        client_id="c",
        subject="s",
        scope="",
        ttl=1,
        roles=("admin",),
        permissions=["users:read"],
        grant_id="g",
        auth_time=5,
    )
    assert (claims["roles"], claims["permissions"], claims["gid"], claims["auth_time"]) == (
        ["admin"],
        ["users:read"],
        "g",
        5,
    )


def test_every_access_token_has_its_own_jti():
    ids = {access_token.claims(ISSUER, client_id="c", subject="s", scope="", ttl=1)["jti"] for _ in range(50)}
    assert len(ids) == 50


# ID tokens --------------------------------------------------------------------------------


def _id_token(signer, **overrides) -> str:
    values = {"client_id": "webapp", "subject": "7", "ttl": 60, "auth_time": 100, "nonce": "n", "access_token": None}
    return id_token.issue(signer, **{**values, **overrides})


def test_an_id_token_names_its_client_as_audience_and_authorized_party(signer):
    claims = id_token.verify_hint(signer, _id_token(signer, extra={"preferred_username": "alice"}))
    assert (claims["aud"], claims["azp"], claims["sub"], claims["nonce"]) == ("webapp", "webapp", "7", "n")
    assert claims["auth_time"] == 100 and claims["preferred_username"] == "alice"


def test_at_hash_is_the_left_half_of_the_hash_of_the_signing_algorithm(signer, keys):
    """OIDC Core §3.1.3.6; Ed25519 hashes with SHA-512."""
    claims = id_token.verify_hint(signer, _id_token(signer, access_token="the-access-token"))
    digest = (hashlib.sha512 if keys.active.alg == "EdDSA" else hashlib.sha256)(b"the-access-token").digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@pytest.mark.parametrize("nonce", [None, ""])
def test_no_nonce_claim_without_a_nonce(rs256_signer, nonce):
    assert "nonce" not in id_token.verify_hint(rs256_signer, _id_token(rs256_signer, nonce=nonce))


def test_an_expired_id_token_still_serves_as_a_hint_but_an_access_token_does_not(rs256_signer):
    assert id_token.verify_hint(rs256_signer, _id_token(rs256_signer, ttl=-5))["sub"] == "7"
    token, _ = access_token.issue(rs256_signer, client_id="webapp", subject="7", scope="", ttl=60)
    assert id_token.verify_hint(rs256_signer, token) is None
