"""The JWK Set (RFC 7517 §5) of the signing keys (crypto.key_set): the `jwks_uri` of the metadata."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gatehouse.web import routes
from gatehouse.web.answers import CACHEABLE
from gatehouse.web.common import gh

router = APIRouter(tags=["discovery"])


@router.get(routes.JWKS, summary="The public signing keys (JWKS)")
async def jwks(request: Request):
    return Response(gh(request).keys.jwks_json(), media_type="application/json", headers=CACHEABLE)
