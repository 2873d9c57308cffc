"""Compact JWS of this server's JWTs (RFC 7515 §7.1, RFC 7519), crypto.jws: for RS256, ES256 and EdDSA alike."""

from __future__ import annotations

import base64
import json
import time

import pytest
from gatehouse.crypto.jws import TokenSigner
from joserfc import jwt

from core.conftest import ISSUER, key_set


def _segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _claims(ttl: int = 60, **extra) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "sub": "s", "iat": now, "exp": now + ttl, **extra}


def test_a_signed_token_verifies_and_gives_back_its_claims(signer):
    claims = _claims(scope="a b")
    assert signer.verify(signer.sign(claims, "at+jwt"), typ="at+jwt") == claims


def test_the_signature_is_one_joserfc_accepts_with_the_published_key(signer, keys):
    """sign() builds the JWS by hand for speed; a standard library must agree with it (ECDSA as r || s)."""
    token = signer.sign(_claims(), "JWT")
    key = keys.verification_key(keys.active.kid).key
    assert jwt.decode(token, key, algorithms=[keys.active.alg]).claims["sub"] == "s"


def test_the_header_names_the_algorithm_the_key_and_the_type(signer, keys):
    header = _segment(signer.sign(_claims(), "at+jwt"), 0)
    assert header == {"alg": keys.active.alg, "kid": keys.active.kid, "typ": "at+jwt"}


def test_a_token_of_another_type_is_refused(signer):
    token = signer.sign(_claims(), "JWT")
    assert signer.verify(token, typ="at+jwt") is None
    assert signer.verify(token, typ="JWT") is not None


def test_an_expired_token_is_refused_unless_expired_ones_are_allowed(signer):
    token = signer.sign(_claims(ttl=-1), "JWT")
    assert signer.verify(token) is None
    assert signer.verify(token, allow_expired=True)["sub"] == "s"


def test_a_token_without_a_numeric_exp_is_refused(signer):
    assert signer.verify(signer.sign({"iss": ISSUER, "sub": "s", "exp": "never"}, "JWT"), allow_expired=True) is None


def test_a_token_of_another_issuer_is_refused(signer):
    assert signer.verify(signer.sign({**_claims(), "iss": "https://other.test"}, "JWT")) is None


def test_a_token_signed_by_a_foreign_key_is_refused(signer, keys, tmp_path):
    """Another key set, same issuer and the same kid: the signature does not verify."""
    foreign = TokenSigner(key_set(tmp_path / "foreign", keys.active.alg), ISSUER)
    forged = foreign.sign(_claims(), "JWT")
    header, payload, signature = forged.split(".")
    ours = signer.sign(_claims(), "JWT").split(".")[0]
    assert signer.verify(forged) is None  # unknown kid
    assert signer.verify(f"{ours}.{payload}.{signature}") is None  # our kid, their signature


def test_a_token_whose_payload_was_changed_is_refused(signer):
    header, _, signature = signer.sign(_claims(sub="alice"), "JWT").split(".")
    changed = base64.urlsafe_b64encode(json.dumps(_claims(sub="admin")).encode()).rstrip(b"=").decode()
    assert signer.verify(f"{header}.{changed}.{signature}") is None


def test_a_header_naming_another_algorithm_than_the_keys_is_refused(signer, keys):
    _, payload, signature = signer.sign(_claims(), "JWT").split(".")
    for alg in ("none", "HS256", "RS256" if keys.active.alg != "RS256" else "ES256"):
        header = {"alg": alg, "kid": keys.active.kid, "typ": "JWT"}
        encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
        assert signer.verify(f"{encoded}.{payload}.{signature}") is None, alg


@pytest.mark.parametrize("token", [None, 42, "", "a.b", "a.b.c", "a.b.c.d", "x" * 9000, "W10.e30.e30", "e30.e30.e30"])
def test_anything_but_a_token_is_refused_without_an_exception(rs256_signer, token):
    assert rs256_signer.verify(token) is None


def test_the_header_of_a_key_and_type_is_encoded_once(rs256_signer):
    """The hot path: every token of one key and type shares its encoded header."""
    first = rs256_signer.sign(_claims(), "at+jwt").split(".")[0]
    second = rs256_signer.sign(_claims(), "at+jwt").split(".")[0]
    assert first == second
    assert len(rs256_signer._headers) == 1
