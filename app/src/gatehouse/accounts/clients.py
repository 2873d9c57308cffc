"""The rules a client's registration must follow. admin_service is the one writer that applies them;
create_client here is the entry point the command line, the dev server and tests use (as the SYSTEM actor)."""

from __future__ import annotations

import re

from gatehouse import errors
from gatehouse.oauth.redirect_uris import RedirectURIError
from gatehouse.oauth.redirect_uris import check as check_redirect_uri
from gatehouse.oauth.server import SCOPES_SUPPORTED
from gatehouse.store.models import Client

GRANT_TYPES = ("authorization_code", "client_credentials", "refresh_token")
CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,100}$")


class ClientError(ValueError):
    pass


def validate_redirect_uri(uri: str, what: str = "redirect URI") -> None:
    """Refuse a URI that is not strictly valid (see gatehouse.oauth.redirect_uris): the
    authorization endpoint and RP-initiated logout refuse the same URIs at request time."""
    try:
        check_redirect_uri(uri)
    except RedirectURIError as exc:
        raise ClientError(f"{what} {uri!r} {exc}") from None


def validate(confidential: bool, redirect_uris, post_logout_redirect_uris, grant_types, scope: str) -> None:
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown or not grant_types:
        raise ClientError(f"grant type must be among {', '.join(GRANT_TYPES)}; got {', '.join(unknown) or 'none'}")
    if "client_credentials" in grant_types and not confidential:
        raise ClientError("a public client cannot use client_credentials")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientError("authorization_code needs at least one --redirect-uri")
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        raise ClientError("refresh_token is only issued with authorization_code")
    for uri in redirect_uris:
        validate_redirect_uri(uri)
    for uri in post_logout_redirect_uris:
        validate_redirect_uri(uri, "post-logout redirect URI")
    check_scope(scope)


def check_scope(scope: str) -> None:
    bad = [s for s in scope.split() if s not in SCOPES_SUPPORTED and not re.match(r"^[a-z][a-z0-9_.:-]{0,63}$", s)]
    if bad:
        raise ClientError(f"invalid scope value(s): {', '.join(bad)}")


def check_client_id(client_id: str) -> None:
    """RFC 6749 §2.2 leaves the form open; here it is URL-safe, and never all digits: a client's own
    token has the client as its `sub`, and a user's `sub` is their numeric id, so the two can never
    be confused (RFC 9068 §5)."""
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise ClientError("client id must be 1-100 characters of letters, digits, '.', '_', '~', '-'")
    if client_id.isascii() and client_id.isdigit():
        raise ClientError("client id must not be all digits: users' subjects are")


def create_client(
    *, client_id, name, confidential, redirect_uris, post_logout_redirect_uris, grant_types, scope, is_admin=False
):
    """Register a client as the SYSTEM actor; return (row, secret), secret None for a public client.
    Raises ClientError with admin_service's message."""
    from gatehouse.accounts import admin as admin_service

    try:
        data, secret = admin_service.create_client(
            admin_service.SYSTEM,
            client_id=client_id,
            name=name,
            confidential=confidential,
            redirect_uris=list(redirect_uris),
            post_logout_redirect_uris=list(post_logout_redirect_uris),
            grant_types=list(grant_types),
            scope=scope,
            is_admin=is_admin,
        )
    except errors.GatehouseError as exc:
        raise ClientError(exc.message) from None
    return Client.get(Client.client_id == data["client_id"]), secret
