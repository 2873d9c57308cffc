"""Authorization server metadata (RFC 8414 §2) and OpenID Provider metadata (OpenID Connect Discovery 1.0 §3).

One document serves both well-known paths (web.endpoints.discovery). It
is built from what the server does (oauth.capabilities) and where it does
it (web.routes), so it cannot advertise something the server would refuse.
"""

from __future__ import annotations

from gatehouse.oauth import capabilities as supported
from gatehouse.web import routes


def metadata(issuer: str, signing_alg: str) -> dict:
    """The metadata of the server at `issuer`, which signs its ID tokens with `signing_alg`."""
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + routes.AUTHORIZE,
        "token_endpoint": issuer + routes.TOKEN,
        "userinfo_endpoint": issuer + routes.USERINFO,
        "introspection_endpoint": issuer + routes.INTROSPECT,
        "revocation_endpoint": issuer + routes.REVOKE,
        "end_session_endpoint": issuer + routes.END_SESSION,
        "jwks_uri": issuer + routes.JWKS,
        "scopes_supported": list(supported.SCOPES_SUPPORTED),
        "response_types_supported": list(supported.RESPONSE_TYPES),
        "response_modes_supported": list(supported.RESPONSE_MODES),
        "grant_types_supported": list(supported.GRANT_TYPES),
        "code_challenge_methods_supported": list(supported.CODE_CHALLENGE_METHODS),
        "token_endpoint_auth_methods_supported": list(supported.ENDPOINT_AUTH_METHODS["token"]),
        "introspection_endpoint_auth_methods_supported": list(supported.ENDPOINT_AUTH_METHODS["introspection"]),
        "revocation_endpoint_auth_methods_supported": list(supported.ENDPOINT_AUTH_METHODS["revocation"]),
        "subject_types_supported": list(supported.SUBJECT_TYPES),
        "id_token_signing_alg_values_supported": [signing_alg],
        "userinfo_signing_alg_values_supported": [],
        "claims_supported": list(supported.CLAIMS_SUPPORTED),
        "prompt_values_supported": list(supported.PROMPT_VALUES),
        # RFC 9207: every authorization response names its issuer (oauth.server.handle_response).
        "authorization_response_iss_parameter_supported": True,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
    }
