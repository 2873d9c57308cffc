"""Bearer tokens at this server's resources (RFC 6750), oauth.bearer: taking the token, the challenge, the live check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from gatehouse.oauth import access_token, bearer, id_token
from starlette.requests import Request

from core.conftest import server


def request(query: bytes = b"", authorization: bytes | None = None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization)]
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": headers})


# §2.1: the Authorization header, and nothing else ------------------------------------------


@pytest.mark.parametrize("header", [b"Bearer abc.def.ghi", b"bearer abc.def.ghi", b"BEARER  abc.def.ghi "])
def test_the_token_is_taken_from_the_authorization_header(header):
    assert bearer.token_from(request(authorization=header)) == "abc.def.ghi"


def test_a_request_without_an_authorization_header_has_no_token():
    assert bearer.token_from(request()) is None


def test_a_token_in_the_query_string_is_refused_as_invalid_request():
    """§2.3 is not offered: a token in a URL ends up in logs and history (RFC 9700 §2.5)."""
    with pytest.raises(bearer.BearerError) as refused:
        bearer.token_from(request(query=b"access_token=abc", authorization=b"Bearer abc"))
    assert refused.value.error == "invalid_request"
    assert refused.value.status == 400


@pytest.mark.parametrize("header", [b"", b"Bearer", b"Bearer ", b"Bearer    ", b"Basic dXNlcjpwYXNz", b"Bearerabc"])
def test_an_authorization_header_that_is_not_bearer_and_a_token_is_invalid_request(header):
    with pytest.raises(bearer.BearerError) as refused:
        bearer.token_from(request(authorization=header))
    assert refused.value.error == "invalid_request"
    assert refused.value.description == "the Authorization header must carry a Bearer token"


# §3: the WWW-Authenticate challenge ------------------------------------------------------


def test_a_request_without_credentials_gets_a_challenge_without_an_error_code():
    """§3.1: no error code when the client did not try to authenticate."""
    assert bearer.challenge() == 'Bearer realm="gatehouse"'
    missing = bearer.BearerError(None, "a bearer token is required")
    assert missing.headers == {"WWW-Authenticate": 'Bearer realm="gatehouse"'}
    assert missing.status == 401


def test_a_refusal_names_its_error_and_description_in_the_challenge():
    assert bearer.challenge("invalid_token", "expired") == (
        'Bearer realm="gatehouse", error="invalid_token", error_description="expired"'
    )
    assert bearer.challenge("insufficient_scope") == 'Bearer realm="gatehouse", error="insufficient_scope"'


def test_a_description_never_breaks_out_of_its_quoted_string():
    """§3: error_description is %x20-21 / %x23-5B / %x5D-7E; a quote, a backslash or a newline is replaced."""
    value = bearer.challenge("invalid_token", 'a"b\\c\r\nSet-Cookie: x=1 é')
    assert value == 'Bearer realm="gatehouse", error="invalid_token", error_description="a?b?c??Set-Cookie: x=1 ?"'


@pytest.mark.parametrize(
    ("error", "status"), [("invalid_request", 400), ("invalid_token", 401), ("insufficient_scope", 403)]
)
def test_each_error_code_goes_with_its_status(error, status):
    assert bearer.BearerError(error, "x").status == status


# A live access token: signed here, unexpired, not revoked, its client active ------------------------


CLIENT = SimpleNamespace(client_id="webapp")


def _access_token(signer, **overrides) -> tuple[str, dict]:
    values = {"client_id": "webapp", "subject": "7", "scope": "openid", "ttl": 60, "grant_id": "g1", **overrides}
    return access_token.issue(signer, **values)


def test_a_valid_access_token_of_an_active_client_is_live(rs256_signer):
    token, claims = _access_token(rs256_signer)
    assert bearer.live_access_token(server(rs256_signer, [CLIENT]), token) == claims


def test_an_expired_access_token_is_not_live(rs256_signer):
    token, _ = _access_token(rs256_signer, ttl=-1)
    assert bearer.live_access_token(server(rs256_signer, [CLIENT]), token) is None


def test_a_revoked_access_token_or_grant_is_not_live(rs256_signer):
    token, claims = _access_token(rs256_signer)
    assert bearer.live_access_token(server(rs256_signer, [CLIENT], revoked=[claims["jti"]]), token) is None
    assert bearer.live_access_token(server(rs256_signer, [CLIENT], revoked=["g1"]), token) is None


def test_the_access_token_of_a_deactivated_or_deleted_client_is_not_live(rs256_signer):
    token, _ = _access_token(rs256_signer)
    assert bearer.live_access_token(server(rs256_signer, []), token) is None


def test_an_id_token_is_not_an_access_token(rs256_signer):
    token = id_token.issue(
        rs256_signer, client_id="webapp", subject="7", ttl=60, auth_time=1, nonce=None, access_token=None
    )
    assert bearer.live_access_token(server(rs256_signer, [CLIENT]), token) is None
