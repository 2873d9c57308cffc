"""PKCE (RFC 7636) as OAuth 2.1 §4.1.1 wants it, oauth.grants.pkce: a challenge on every request, S256 only."""

from __future__ import annotations

import base64
import hashlib
import secrets
from types import SimpleNamespace

import pytest
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from gatehouse.oauth.grants import S256CodeChallenge
from gatehouse.oauth.server import GatehouseRequest


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def authorization_request(**params) -> SimpleNamespace:
    """A grant at the authorization endpoint, as Authlib hands it to the PKCE hook."""
    request = GatehouseRequest("GET", "https://issuer.test/authorize", {}, list(params.items()))
    return SimpleNamespace(request=request)


def token_request(challenge: str, method: str = "S256", **params) -> SimpleNamespace:
    """A grant at the token endpoint, its code issued with `challenge` and `method`."""
    request = GatehouseRequest("POST", "https://issuer.test/token", {}, list(params.items()))
    request.auth_method = "none"
    request.authorization_code = SimpleNamespace(code_challenge=challenge, code_challenge_method=method)
    return SimpleNamespace(request=request)


VERIFIER = secrets.token_urlsafe(48)
PKCE = S256CodeChallenge(required=True)


# At the authorization endpoint (§4.3) ----------------------------------------------------


def test_an_s256_challenge_is_accepted():
    PKCE.validate_code_challenge(authorization_request(code_challenge=s256(VERIFIER), code_challenge_method="S256"), "")


def test_a_request_without_a_challenge_is_refused():
    """OAuth 2.1 §4.1.1: every client, confidential ones too."""
    with pytest.raises(InvalidRequestError, match="code_challenge"):
        PKCE.validate_code_challenge(authorization_request(), "")


def test_the_plain_method_is_refused():
    with pytest.raises(InvalidRequestError, match="S256"):
        PKCE.validate_code_challenge(authorization_request(code_challenge=VERIFIER, code_challenge_method="plain"), "")


def test_a_challenge_without_its_method_is_refused():
    """RFC 7636 §4.3 would default to plain; here the method must be named."""
    with pytest.raises(InvalidRequestError, match="S256"):
        PKCE.validate_code_challenge(authorization_request(code_challenge=s256(VERIFIER)), "")


def test_a_challenge_of_the_wrong_form_is_refused():
    with pytest.raises(InvalidRequestError):
        PKCE.validate_code_challenge(authorization_request(code_challenge="short", code_challenge_method="S256"), "")


# At the token endpoint (§4.5, §4.6) ------------------------------------------------------


def test_the_verifier_whose_s256_is_the_challenge_passes():
    PKCE.validate_code_verifier(token_request(s256(VERIFIER), code_verifier=VERIFIER), None)


def test_another_verifier_is_invalid_grant():
    with pytest.raises(InvalidGrantError):
        PKCE.validate_code_verifier(token_request(s256(VERIFIER), code_verifier=secrets.token_urlsafe(48)), None)


def test_the_challenge_itself_presented_as_verifier_fails():
    """What plain would accept: the challenge seen in the authorization request."""
    challenge = s256(VERIFIER)
    with pytest.raises(InvalidGrantError):
        PKCE.validate_code_verifier(token_request(challenge, code_verifier=challenge), None)


def test_a_token_request_without_a_verifier_is_refused():
    with pytest.raises(InvalidRequestError, match="code_verifier"):
        PKCE.validate_code_verifier(token_request(s256(VERIFIER)), None)
