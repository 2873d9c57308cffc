"""The token endpoint (RFC 6749 §3.2), introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidClientError, OAuth2Error
from fastapi import APIRouter, Request

from ..oauth.introspection import introspect
from ..oauth.revocation import revoke
from .common import gh, oauth_answer, oauth_error, oauth_request, read_form, refuse_repeated

router = APIRouter(prefix="/api/v2/oauth", tags=["oauth"])

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]

FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "grant_type": {"type": "string"},
                        "code": {"type": "string"},
                        "redirect_uri": {"type": "string"},
                        "code_verifier": {"type": "string"},
                        "refresh_token": {"type": "string"},
                        "scope": {"type": "string"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                        "token": {"type": "string"},
                        "token_type_hint": {"type": "string"},
                    },
                }
            }
        },
    }
}


@router.post("/token", summary="Token endpoint", openapi_extra=FORM_BODY)
async def token(request: Request):
    try:
        items = await read_form(request)
        refuse_repeated(items)
    except OAuth2Error as error:
        return oauth_error(error)
    status, body, headers = gh(request).oauth.create_token_response(oauth_request(request, items))
    return oauth_answer(status, body, headers)


def _authenticate(request: Request, items, endpoint: str):
    oauth = gh(request).oauth
    req = oauth_request(request, items)
    try:
        return oauth.authenticate_client(req, SECRET_METHODS, endpoint), None
    except InvalidClientError as error:
        error.status_code = 401
        return None, oauth_error(error)


@router.post("/introspect", summary="Token introspection (RFC 7662)", openapi_extra=FORM_BODY)
async def introspection(request: Request):
    try:
        items = await read_form(request)
        refuse_repeated(items)
    except OAuth2Error as error:
        return oauth_error(error)
    client, failure = _authenticate(request, items, "introspection")
    if failure is not None:
        return failure
    data = dict(items)
    if not data.get("token"):
        return oauth_answer(400, {"error": "invalid_request", "error_description": "Missing 'token'"}, [])
    return oauth_answer(200, introspect(gh(request).oauth, data["token"], data.get("token_type_hint")), [])


@router.post("/revoke", summary="Token revocation (RFC 7009)", openapi_extra=FORM_BODY)
async def revocation(request: Request):
    try:
        items = await read_form(request)
        refuse_repeated(items)
    except OAuth2Error as error:
        return oauth_error(error)
    client, failure = _authenticate(request, items, "revocation")
    if failure is not None:
        return failure
    data = dict(items)
    if not data.get("token"):
        return oauth_answer(400, {"error": "invalid_request", "error_description": "Missing 'token'"}, [])
    revoke(gh(request).oauth, client, data["token"], data.get("token_type_hint"))
    return oauth_answer(200, "", [])
