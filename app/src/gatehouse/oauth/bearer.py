"""Bearer tokens at this server's own resources (RFC 6750): UserInfo and the admin API.

The one place that
- takes the token from a request: the Authorization header only (§2.1).
  The query parameter of §2.3 is refused outright: the token would end up
  in logs and browser history (RFC 9700 §2.5, OAuth 2.1 §5.2); the form
  body of §2.2 is not read;
- builds the `WWW-Authenticate` challenge (§3), with no error code when
  the request carried no credentials at all (§3.1);
- checks that a token may still be used: signed here as an access token
  (RFC 9068), unexpired, not revoked, its client still active.

What the token must then hold (a user, a scope, an audience) is the
resource's own rule.
"""

from __future__ import annotations

from gatehouse.oauth import access_token
from gatehouse.oauth.server import error_text

REALM = "gatehouse"
HEADER = "WWW-Authenticate"

INVALID_REQUEST = "invalid_request"
INVALID_TOKEN = "invalid_token"
INSUFFICIENT_SCOPE = "insufficient_scope"
# RFC 6750 §3.1: the status each error code goes with.
STATUS = {INVALID_REQUEST: 400, INVALID_TOKEN: 401, INSUFFICIENT_SCOPE: 403}


def challenge(error: str | None = None, description: str | None = None) -> str:
    """The value of the WWW-Authenticate header (RFC 6750 §3): the realm, then the error code and its
    description when there is one (none when the request had no credentials, §3.1)."""
    value = f'Bearer realm="{REALM}"'
    if error:
        value += f', error="{error}"'
        if description:
            value += f', error_description="{error_text(description)}"'
    return value


def challenge_headers(error: str | None = None, description: str | None = None) -> dict:
    return {HEADER: challenge(error, description)}


class BearerError(Exception):
    """A request refused by RFC 6750 §3.1's rules: `error` None means no credentials were sent."""

    def __init__(self, error: str | None, description: str):
        super().__init__(description)
        self.error = error
        self.description = description

    @property
    def status(self) -> int:
        return STATUS.get(self.error, 401)

    @property
    def headers(self) -> dict:
        return challenge_headers(self.error, self.description)


def token_from(request) -> str | None:
    """The bearer token of the Authorization header; None when the request has no such header.

    BearerError(invalid_request) for a token in the query string, and for an
    Authorization header that is not `Bearer <token>`.
    """
    if "access_token" in request.query_params:
        raise BearerError(INVALID_REQUEST, "access tokens are accepted only in the Authorization header")
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise BearerError(INVALID_REQUEST, "the Authorization header must carry a Bearer token")
    return token


def live_access_token(server, token: str) -> dict | None:
    """Claims of an access token that may still be used: signed here, unexpired, not revoked, and
    issued to a client that is still active. None otherwise.

    Introspection (oauth.introspection) makes the same checks, and the caller's.
    """
    claims = access_token.verify(server.tokens.signer, token)
    if claims is None or server.tokens.is_revoked(claims) or not server.clients.is_active(claims.get("client_id")):
        return None
    return claims
