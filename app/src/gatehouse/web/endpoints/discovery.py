"""Discovery: OpenID Provider metadata, RFC 8414 metadata, and the JWKS."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from starlette.responses import Response

from gatehouse.oauth.server import SCOPES_SUPPORTED
from gatehouse.web import routes
from gatehouse.web.common import gh

router = APIRouter(tags=["discovery"])


def metadata(settings, signing_alg: str) -> dict:
    issuer = settings.issuer
    auth_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + routes.AUTHORIZE,
        "token_endpoint": issuer + routes.TOKEN,
        "userinfo_endpoint": issuer + routes.USERINFO,
        "introspection_endpoint": issuer + routes.INTROSPECT,
        "revocation_endpoint": issuer + routes.REVOKE,
        "end_session_endpoint": issuer + routes.END_SESSION,
        "jwks_uri": issuer + routes.JWKS,
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods + ["none"],
        "introspection_endpoint_auth_methods_supported": auth_methods,
        # A public client revokes its own tokens with client_id alone (RFC 7009 §2.1).
        "revocation_endpoint_auth_methods_supported": auth_methods + ["none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [signing_alg],
        "userinfo_signing_alg_values_supported": [],
        "claims_supported": [
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
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": True,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
    }


CACHEABLE = {"Cache-Control": "public, max-age=300"}


def _metadata(request: Request):
    state = gh(request)
    cached = getattr(request.app.state, "metadata_json", None)
    if cached is None:
        body = metadata(state.settings, state.settings.jwt_algorithm)
        cached = request.app.state.metadata_json = json.dumps(body, separators=(",", ":")).encode()
    return Response(cached, media_type="application/json", headers=CACHEABLE)


@router.get(routes.OPENID_CONFIGURATION, summary="OpenID Provider metadata")
async def openid_configuration(request: Request):
    return _metadata(request)


@router.get(routes.OAUTH_METADATA, summary="RFC 8414 authorization server metadata")
async def oauth_authorization_server(request: Request):
    return _metadata(request)


@router.get(routes.JWKS, summary="The public signing keys (JWKS)")
async def jwks(request: Request):
    return Response(gh(request).keys.jwks_json(), media_type="application/json", headers=CACHEABLE)
