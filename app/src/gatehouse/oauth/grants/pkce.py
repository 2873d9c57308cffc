"""PKCE (RFC 7636) as OAuth 2.1 §4.1.1 wants it: a code challenge on every authorization request, S256 only.

`plain` (RFC 7636 §4.2) is refused: it protects nothing once the
authorization request is seen. The verifier is checked at the token
endpoint before the code is claimed (authorization_code.py), so a stolen
code without its verifier cannot burn the client's code.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge

from gatehouse.oauth.capabilities import CODE_CHALLENGE_METHODS


class S256CodeChallenge(CodeChallenge):
    """Authlib's CodeChallenge, with the challenge required and its method named (S256)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = list(CODE_CHALLENGE_METHODS)
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("'code_challenge' is required (PKCE with S256)")
        if data.get("code_challenge_method") not in CODE_CHALLENGE_METHODS:
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)
