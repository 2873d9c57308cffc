"""What this server supports, by the names the specifications give them: the one list of each.

The authorization server (oauth.server and oauth.grants), the metadata
document (oauth.metadata: RFC 8414 §2, OpenID Connect Discovery 1.0 §3),
the client rules (oauth.clients, accounts.clients) and the endpoints read
them here, so what the server does and what it advertises cannot drift apart.
"""

from __future__ import annotations

# RFC 6749 §4 grants, and the refresh token (§6). OAuth 2.1 drops implicit and password.
GRANT_TYPES = ("authorization_code", "client_credentials", "refresh_token")

# Client authentication (RFC 6749 §2.3.1, OIDC Core §9). A confidential client sends its secret by
# one of SECRET_METHODS; a public client holds no secret and names itself by client_id alone (NONE).
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
NONE = "none"
ANY_CLIENT_METHODS = (*SECRET_METHODS, NONE)

# The methods each endpoint accepts (RFC 8414 §2 `<endpoint>_auth_methods_supported`), by the endpoint
# names Authlib passes to ClientMixin.check_endpoint_auth_method. Introspection tells what a token
# carries: confidential clients (resource servers) only. Revocation also takes a public client by its
# client_id alone (RFC 7009 §2.1): it may end only the tokens it was issued.
ENDPOINT_AUTH_METHODS = {
    "token": ANY_CLIENT_METHODS,
    "introspection": SECRET_METHODS,
    "revocation": ANY_CLIENT_METHODS,
}


def client_auth_methods(is_confidential: bool) -> tuple[str, ...]:
    """How a client of this kind authenticates: with its secret, or (public) not at all."""
    return SECRET_METHODS if is_confidential else (NONE,)


# The authorization endpoint (RFC 6749 §3.1.1, OAuth 2.1 §4.1.1): the code flow only, answered in the query.
RESPONSE_TYPES = ("code",)
RESPONSE_MODES = ("query",)

# PKCE (RFC 7636 §4.2): S256 only; OAuth 2.1 §4.1.1 refuses plain.
CODE_CHALLENGE_METHODS = ("S256",)

# The scopes every client may register beside its own API scopes (OIDC Core §5.4, §11).
SCOPES_SUPPORTED = ("openid", "profile", "email", "offline_access")

# OIDC Core §3.1.2.1 prompt values this server honours (select_account is not among them).
PROMPT_VALUES = ("none", "login", "consent")

# OIDC Core §8: one subject identifier per user for every client.
SUBJECT_TYPES = ("public",)

# The claims of an ID token (OIDC Core §2) and of a user (oauth.claims, §5.1).
CLAIMS_SUPPORTED = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
)
