"""What every endpoint reads from a request: the app's services, the client's address, the form,
an OAuth request for Authlib, the client of an introspection or revocation request.

Answers are built in web.answers, errors turned into answers in web.errors.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, OAuth2Error
from fastapi import Request

from gatehouse.oauth.capabilities import ENDPOINT_AUTH_METHODS
from gatehouse.oauth.server import GatehouseRequest
from gatehouse.web.errors import oauth_error
from gatehouse.web.middleware import BODY_LIMIT_SCOPE_KEY, RequestBodyTooLarge

MAX_FORM_BYTES = 64 * 1024


def gh(request: Request):
    """The Gatehouse context of this app."""
    return request.app.state.gatehouse


def client_ip(request: Request) -> str:
    """The client's address: the connection's peer, unless the peer is one of
    FORWARDED_ALLOW_IPS (the site's proxies): then the right-most hop of
    X-Forwarded-For, the one that proxy appended (nginx's
    $proxy_add_x_forwarded_for is what the client sent, then the address
    nginx saw). Hops left of it are what the client wrote: never read.
    gunicorn_conf turns off the server's own reading of the header, so the
    peer here is the connection's."""
    peer = request.client.host if request.client else "unknown"
    trusted = gh(request).settings.forwarded_allow_ips
    if not trusted:
        return peer
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    address = getattr(address, "ipv4_mapped", None) or address  # ::ffff:10.0.0.1 is 10.0.0.1
    if not any(address in network for network in trusted):
        return peer
    forwarded = request.headers.getlist("x-forwarded-for")
    if not forwarded:
        return peer
    try:
        hop = ipaddress.ip_address(forwarded[-1].rsplit(",", 1)[-1].strip())
    except ValueError:  # not what a proxy appends: keep the proxy's own address
        return peer
    return str(getattr(hop, "ipv4_mapped", None) or hop)


async def read_form(request: Request) -> list[tuple[str, str]]:
    """The url-encoded body as (name, value) pairs; anything else is an OAuth invalid_request.

    Read as a stream and never past the limit: BodyLimit (web/middleware.py) answers the client
    413 and says which limit applies; MAX_FORM_BYTES holds where it is not in front.
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequestError("the body must be application/x-www-form-urlencoded")
    limit = request.scope.get(BODY_LIMIT_SCOPE_KEY, MAX_FORM_BYTES)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise InvalidRequestError("the request body is too large")
            chunks.append(chunk)
    except RequestBodyTooLarge:
        raise InvalidRequestError("the request body is too large") from None
    body = b"".join(chunks)
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError("the body is not valid form encoding") from None


def refuse_repeated(items: list[tuple[str, str]]) -> None:
    """RFC 6749 §3.1/§3.2: request parameters MUST NOT be included more than once."""
    seen = set()
    for key, _ in items:
        if key in seen:
            raise InvalidRequestError(f"parameter '{key}' is repeated")
        seen.add(key)


def form_body(*names: str) -> dict:
    """openapi_extra for an endpoint that reads a url-encoded form of these string parameters."""
    schema = {"type": "object", "properties": {name: {"type": "string"} for name in names}}
    return {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}}


async def token_request(request: Request, endpoint: str):
    """Parse and authenticate a request about one token: introspection (RFC 7662 §2.1) or revocation
    (RFC 7009 §2.1), by the methods capabilities.ENDPOINT_AUTH_METHODS gives the endpoint.

    Returns (client, token, token_type_hint), or (None, the error response, None).
    """
    try:
        items = await read_form(request)
        refuse_repeated(items)
        methods = ENDPOINT_AUTH_METHODS[endpoint]
        client = gh(request).oauth.authenticate_client(oauth_request(request, items), methods, endpoint)
    except InvalidClientError as error:
        error.status_code = 401
        return None, oauth_error(error), None
    except OAuth2Error as error:
        return None, oauth_error(error), None
    data = dict(items)
    if not data.get("token"):
        return None, oauth_error(InvalidRequestError("Missing 'token'")), None
    return client, data["token"], data.get("token_type_hint")


def oauth_request(request: Request, items: list[tuple[str, str]]) -> GatehouseRequest:
    settings = gh(request).settings
    # The issuer's URL, not the socket's: behind nginx the app sees plain HTTP.
    uri = settings.issuer + request.url.path
    return GatehouseRequest(request.method, uri, request.headers, items)
