"""Registering and changing clients, with every rule checked before anything is written."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import peewee

from .hashing import digest, new_token
from .models import Client
from .oauth.server import SCOPES_SUPPORTED

GRANT_TYPES = ("authorization_code", "client_credentials", "refresh_token")
CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,100}$")


class ClientError(ValueError):
    pass


def validate_redirect_uri(uri: str, what: str = "redirect URI") -> None:
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise ClientError(f"{what} {uri!r} is not a URL") from None
    if parts.fragment or "#" in uri:
        raise ClientError(f"{what} {uri!r} must not have a fragment")
    if parts.scheme == "https" and parts.netloc:
        return
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost"):
        return
    if parts.scheme and parts.scheme not in ("http", "https", "javascript", "data", "file") and "." in parts.scheme:
        return  # private-use scheme of a native app (RFC 8252 §7.1), reverse-DNS form
    raise ClientError(f"{what} {uri!r} must be https, http on loopback, or a reverse-DNS private scheme")


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


def create_client(*, client_id, name, confidential, redirect_uris, post_logout_redirect_uris, grant_types, scope):
    """Create a client; return (row, secret) where secret is None for a public client."""
    if not CLIENT_ID.match(client_id or ""):
        raise ClientError("client id must be 1-100 characters of letters, digits, '.', '_', '~', '-'")
    if not name or len(name) > 200:
        raise ClientError("client name must be 1-200 characters")
    grant_types = list(dict.fromkeys(grant_types))
    validate(confidential, redirect_uris, post_logout_redirect_uris, grant_types, scope)
    secret = new_token(32) if confidential else None
    now = int(time.time())
    try:
        row = Client.create(
            client_id=client_id,
            client_secret_digest=digest(secret) if secret else None,
            name=name,
            is_confidential=confidential,
            redirect_uris=list(redirect_uris),
            post_logout_redirect_uris=list(post_logout_redirect_uris),
            grant_types=grant_types,
            scope=" ".join(scope.split()),
            created_at=now,
            updated_at=now,
        )
    except peewee.IntegrityError:
        raise ClientError(f"a client with id {client_id!r} already exists") from None
    return row, secret


def rotate_secret(row: Client) -> str:
    if not row.is_confidential:
        raise ClientError("a public client has no secret")
    secret = new_token(32)
    Client.update(client_secret_digest=digest(secret), updated_at=int(time.time())).where(Client.id == row.id).execute()
    return secret
