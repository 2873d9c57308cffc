"""The grants of the token endpoint (RFC 6749 §4, §6), Authlib's bound to Gatehouse storage with OAuth 2.1's rules.

One module per grant and one for PKCE:
authorization_code (RFC 6749 §4.1, OIDC Core §3.1), pkce (RFC 7636, S256
only), client_credentials (RFC 6749 §4.4), refresh_token (RFC 6749 §6,
rotation per RFC 9700 §4.14.2). oauth.server registers them.
"""

from gatehouse.oauth.grants.authorization_code import AuthorizationCodeGrant
from gatehouse.oauth.grants.client_credentials import ClientCredentialsGrant
from gatehouse.oauth.grants.pkce import S256CodeChallenge
from gatehouse.oauth.grants.refresh_token import RefreshTokenGrant

__all__ = ["AuthorizationCodeGrant", "ClientCredentialsGrant", "RefreshTokenGrant", "S256CodeChallenge"]
