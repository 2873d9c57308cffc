"""OAuth 2.1 and OpenID Connect: the protocol, one module per specification, without HTTP.

- server: the authorization server (RFC 6749), Authlib's bound to Gatehouse.
- grants/: the token endpoint's grants: authorization_code (RFC 6749 §4.1,
  OIDC Core §3.1), pkce (RFC 7636, S256 only), client_credentials
  (RFC 6749 §4.4), refresh_token (RFC 6749 §6, rotation per RFC 9700 §4.14.2).
- capabilities: what the server supports (grant types, client
  authentication methods, response types and modes, PKCE methods, scopes,
  prompt values, claims), read by the server, the client rules and metadata.
- metadata: the authorization server metadata (RFC 8414, OpenID Connect Discovery 1.0).
- clients: registered clients as Authlib sees them (RFC 6749 §2), cached.
- redirect_uris: redirect URIs parsed strictly and matched (RFC 3986,
  OAuth 2.1 §4.1.1, RFC 8252 §7.3 loopback); the loopback hosts.
- issuance: which tokens a grant gets, their rows, and revoking them.
- access_token: JWT access tokens (RFC 9068).
- id_token: ID tokens (OIDC Core §2) and at_hash.
- claims: a user's claims by scope (OIDC Core §5.1, §5.4), the user a `sub` names.
- bearer: bearer tokens at this server's resources (RFC 6750).
- introspection: token introspection (RFC 7662).
- revocation: token revocation (RFC 7009).
- admin_resource: the admin API as a resource server (RFC 8707, RFC 9068 §4).
- rp_logout: RP-Initiated Logout 1.0.

The HTTP endpoints that serve them are web.endpoints; signing is crypto.jws.
"""
