"""The token endpoint (RFC 6749 §3.2), introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidClientError, OAuth2Error
from fastapi import APIRouter, Request

from gatehouse.oauth.introspection import introspect
from gatehouse.oauth.revocation import revoke
from gatehouse.store.database import on_database_thread
from gatehouse.web import routes
from gatehouse.web.common import gh, oauth_answer, oauth_error, oauth_request, read_form, refuse_repeated

router = APIRouter(tags=["oauth"])

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
# Grants that make several database round trips run on the database threads
# (db.on_database_thread); client_credentials makes none and stays on the loop.
DATABASE_GRANTS = {"authorization_code", "refresh_token"}

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


@router.post(routes.TOKEN, summary="Token endpoint", openapi_extra=FORM_BODY)
async def token(request: Request):
    try:
        items = await read_form(request)
        refuse_repeated(items)
    except OAuth2Error as error:
        return oauth_error(error)
    create = gh(request).oauth.create_token_response
    parsed = oauth_request(request, items)
    if parsed.form.get("grant_type") in DATABASE_GRANTS:
        status, body, headers = await on_database_thread(create, parsed)
    else:
        status, body, headers = create(parsed)
    return oauth_answer(status, body, headers)


# Introspection tells what a token carries: confidential clients (resource
# servers) only. Revocation also takes public clients by client_id alone
# (RFC 7009 §2.1); a confidential client must still send its secret
# (ClientRecord.check_endpoint_auth_method refuses `none` for it).
ENDPOINT_METHODS = {"introspection": SECRET_METHODS, "revocation": SECRET_METHODS + ["none"]}


async def _token_request(request: Request, endpoint: str):
    """Parse and authenticate an introspection or revocation request.

    Returns (client, token, hint) or (None, error response, None).
    """
    try:
        items = await read_form(request)
        refuse_repeated(items)
        methods = ENDPOINT_METHODS[endpoint]
        client = gh(request).oauth.authenticate_client(oauth_request(request, items), methods, endpoint)
    except InvalidClientError as error:
        error.status_code = 401
        return None, oauth_error(error), None
    except OAuth2Error as error:
        return None, oauth_error(error), None
    data = dict(items)
    if not data.get("token"):
        missing = oauth_answer(400, {"error": "invalid_request", "error_description": "Missing 'token'"}, [])
        return None, missing, None
    return client, data["token"], data.get("token_type_hint")


@router.post(routes.INTROSPECT, summary="Token introspection (RFC 7662)", openapi_extra=FORM_BODY)
async def introspection(request: Request):
    client, token, hint = await _token_request(request, "introspection")
    if client is None:
        return token
    return oauth_answer(200, introspect(gh(request).oauth, client, token, hint), [])


@router.post(routes.REVOKE, summary="Token revocation (RFC 7009)", openapi_extra=FORM_BODY)
async def revocation(request: Request):
    client, token, hint = await _token_request(request, "revocation")
    if client is None:
        return token
    revoke(gh(request).oauth, client, token, hint)
    return oauth_answer(200, "", [])
