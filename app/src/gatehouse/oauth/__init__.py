"""OAuth 2.1 and OpenID Connect: Authlib's grants bound to Gatehouse's storage.

One module per specification, as Authlib lays them out:
clients (RFC 6749 §2), grants (RFC 6749 §4 + RFC 7636 PKCE + OIDC Core),
introspection (RFC 7662), revocation (RFC 7009), server (the Authlib
AuthorizationServer bound to Starlette requests).
"""
