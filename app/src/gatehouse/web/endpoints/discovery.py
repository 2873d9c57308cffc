"""Discovery: the metadata document (oauth.metadata) at both of its well-known paths,
OpenID Connect Discovery 1.0 §4 and RFC 8414 §3."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from starlette.responses import Response

from gatehouse.oauth.metadata import metadata
from gatehouse.web import routes
from gatehouse.web.answers import CACHEABLE
from gatehouse.web.common import gh

router = APIRouter(tags=["discovery"])


def _metadata(request: Request):
    cached = getattr(request.app.state, "metadata_json", None)
    if cached is None:
        settings = gh(request).settings
        body = metadata(settings.issuer, settings.jwt_algorithm)
        cached = request.app.state.metadata_json = json.dumps(body, separators=(",", ":")).encode()
    return Response(cached, media_type="application/json", headers=CACHEABLE)


@router.get(routes.OPENID_CONFIGURATION, summary="OpenID Provider metadata")
async def openid_configuration(request: Request):
    return _metadata(request)


@router.get(routes.OAUTH_METADATA, summary="RFC 8414 authorization server metadata")
async def oauth_authorization_server(request: Request):
    return _metadata(request)
