"""Clients: the rules a registration must follow, and the only code that writes registrations.

Every writer checks the whole registration before it writes anything,
raises a GatehouseError naming the field at fault, records one audit event
per change, and returns plain dicts that never hold a secret's digest.
Only an admin registers, changes, rotates or deletes an admin client, and
only an admin client may hold the admin scope (docs/admin-threat-model.md).
"""

from __future__ import annotations

import re
import time

import peewee

from gatehouse.accounts import consents
from gatehouse.accounts.actor import SYSTEM, Actor, record, sensitive
from gatehouse.accounts.paging import Page, page
from gatehouse.crypto.digests import digest, new_token
from gatehouse.errors import Conflict, Invalid, NotAllowed, NotFound
from gatehouse.oauth.admin_resource import ADMIN_SCOPE
from gatehouse.oauth.capabilities import GRANT_TYPES, SCOPES_SUPPORTED
from gatehouse.oauth.redirect_uris import RedirectURIError
from gatehouse.oauth.redirect_uris import check as check_redirect_uri
from gatehouse.store.database import database
from gatehouse.store.models import AuthorizationCode, Client, Grant

CLIENT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,100}$")
SCOPE_VALUE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
# What update_client may change.
CLIENT_FIELDS = ("name", "redirect_uris", "post_logout_redirect_uris", "grant_types", "scope", "is_active", "is_admin")


class ClientError(Invalid):
    """A registration the rules refuse; `field` names the input at fault."""


# The registration rules --------------------------------------------------------


def check_client_id(client_id: str) -> None:
    """RFC 6749 §2.2 leaves the form open; here it is URL-safe, and never all digits: a client's own
    token has the client as its `sub`, and a user's `sub` is their numeric id, so the two can never
    be confused (RFC 9068 §5)."""
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise ClientError("client id must be 1-100 characters of letters, digits, '.', '_', '~', '-'", "client_id")
    if client_id.isascii() and client_id.isdigit():
        raise ClientError("client id must not be all digits: users' subjects are", "client_id")


def validate_redirect_uri(uri: str, what: str = "redirect URI", field: str = "redirect_uris") -> None:
    """Refuse a URI that is not strictly valid (see gatehouse.oauth.redirect_uris): the
    authorization endpoint and RP-initiated logout refuse the same URIs at request time."""
    try:
        check_redirect_uri(uri)
    except RedirectURIError as exc:
        raise ClientError(f"{what} {uri!r} {exc}", field) from None


def check_scope(scope: str) -> None:
    bad = [s for s in scope.split() if s not in SCOPES_SUPPORTED and not SCOPE_VALUE.match(s)]
    if bad:
        raise ClientError(f"invalid scope value(s): {', '.join(bad)}", "scope")


def validate(
    confidential: bool, redirect_uris, post_logout_redirect_uris, grant_types, scope: str, *, is_admin: bool = False
) -> None:
    """A registration's redirect URIs, scope and grant types, checked together; the first rule broken is raised."""
    if ADMIN_SCOPE in scope.split() and not is_admin:
        raise ClientError(f"only an admin client may hold the {ADMIN_SCOPE} scope", "scope")
    for uri in redirect_uris:
        validate_redirect_uri(uri)
    for uri in post_logout_redirect_uris:
        validate_redirect_uri(uri, "post-logout redirect URI", "post_logout_redirect_uris")
    check_scope(scope)
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientError("authorization_code needs at least one redirect URI", "redirect_uris")
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown or not grant_types:
        raise ClientError(
            f"grant type must be among {', '.join(GRANT_TYPES)}; got {', '.join(unknown) or 'none'}", "grant_types"
        )
    if "client_credentials" in grant_types and not confidential:
        raise ClientError("a public client cannot use client_credentials", "grant_types")
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        raise ClientError("refresh_token is only issued with authorization_code", "grant_types")


# A secret the operator supplies (create-client --secret-stdin) rather than one generated here. It is
# stored as a fast SHA-256 digest like a generated one (crypto.digests), so it must be long: 32
# characters, as the Ansible role's preflight demands of the vault's. Whitespace and control or
# invisible characters are refused: they are lost or changed on the way (a stray space or CR from a
# file, a terminal), and the client could then never present the secret stored.
MIN_SECRET_LENGTH = 32


def check_client_secret(secret: str) -> None:
    """Refuse a supplied secret that is empty, short, or holds whitespace or a non-printable character.
    The messages never quote the secret."""
    if not isinstance(secret, str) or not secret:
        raise ClientError("client secret is empty", "client_secret")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ClientError(
            f"client secret must be at least {MIN_SECRET_LENGTH} characters (got {len(secret)})", "client_secret"
        )
    if any(ch.isspace() or not ch.isprintable() for ch in secret):
        raise ClientError("client secret must not contain whitespace or control characters", "client_secret")


def _check_name(name: str) -> None:
    if not name or len(name) > 200:
        raise ClientError("name must be 1-200 characters", "name")


# Reads -------------------------------------------------------------------------


def client_dict(row: Client) -> dict:
    return {
        "client_id": row.client_id,
        "name": row.name,
        "confidential": row.is_confidential,
        "redirect_uris": row.redirect_uris,
        "post_logout_redirect_uris": row.post_logout_redirect_uris,
        "grant_types": row.grant_types,
        "scope": row.scope,
        "is_active": row.is_active,
        "is_admin": row.is_admin,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _client(client_id: str) -> Client:
    row = Client.get_or_none(Client.client_id == client_id)
    if row is None:
        raise NotFound(f"no client with id {client_id!r}")
    return row


def list_clients(limit: int = 50, offset: int = 0) -> Page:
    return page(Client.select().order_by(Client.client_id), limit, offset, client_dict)


def get_client(client_id: str) -> dict:
    return client_dict(_client(client_id))


# Writes ------------------------------------------------------------------------


def create_client(
    actor: Actor,
    *,
    client_id: str,
    name: str,
    confidential: bool,
    redirect_uris,
    post_logout_redirect_uris,
    grant_types,
    scope: str,
    cache=None,
    is_admin: bool = False,
    secret: str | None = None,
) -> tuple[dict, str | None]:
    """Register a client; return it and its secret (None for a public client), shown this once.

    `secret`, when given, is the confidential client's secret instead of a generated one (checked
    by check_client_secret); a public client has none, so it is refused there."""
    check_client_id(client_id)
    if secret is not None:
        if not confidential:
            raise ClientError("a public client has no secret (token_endpoint_auth_method none)", "client_secret")
        check_client_secret(secret)
    if is_admin and not actor.is_admin:
        raise NotAllowed("only an admin can register an admin client", "is_admin")
    if is_admin:
        sensitive(actor, "register an admin client")
    grant_types = list(dict.fromkeys(grant_types))
    redirect_uris = list(dict.fromkeys(redirect_uris))
    post_logout_redirect_uris = list(dict.fromkeys(post_logout_redirect_uris))
    scope = " ".join(scope.split())
    _check_name(name)
    validate(confidential, redirect_uris, post_logout_redirect_uris, grant_types, scope, is_admin=is_admin)
    # Case-insensitively too: on MySQL's collation 'App' and 'app' would share a unique index entry,
    # and on SQLite they would be two clients that a human cannot tell apart.
    if Client.select().where(peewee.fn.LOWER(Client.client_id) == client_id.lower()).exists():
        raise Conflict(f"a client with id {client_id!r} already exists", "client_id")
    if confidential and secret is None:
        secret = new_token(32)
    now = int(time.time())
    try:
        row = Client.create(
            client_id=client_id,
            client_secret_digest=digest(secret) if secret else None,
            name=name,
            is_confidential=confidential,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout_redirect_uris,
            grant_types=grant_types,
            scope=scope,
            is_admin=is_admin,
            created_at=now,
            updated_at=now,
        )
    except peewee.IntegrityError:  # lost a race with another create of the same id
        raise Conflict(f"a client with id {client_id!r} already exists", "client_id") from None
    if cache is not None:
        cache.invalidate(client_id)
    record(
        actor,
        "client.created",
        client_id,
        client_name=name,
        confidential=confidential,
        grant_types=grant_types,
        is_admin=is_admin,
    )
    return client_dict(row), secret


def create_client_as_system(**registration) -> tuple[Client, str | None]:
    """create_client as SYSTEM, answering the row and the secret: for the tests' fixtures."""
    data, secret = create_client(SYSTEM, **registration)
    return Client.get(Client.client_id == data["client_id"]), secret


def _revoke_client_grants(client_id: str, tokens, reason: str) -> None:
    live = Grant.select(Grant.id).where((Grant.client_id == client_id) & Grant.revoked_at.is_null())
    for grant in list(live):
        tokens.revoke_grant(grant.id, reason)


def update_client(actor: Actor, client_id: str, changes: dict, cache, tokens) -> dict:
    """Change a client. Deactivating it revokes every grant it holds (its unexpired access tokens
    stop at the next use: every resource check looks the client up); new redirect URIs forget the
    consents users gave it, which named the old ones."""
    row = _client(client_id)
    unknown = set(changes) - set(CLIENT_FIELDS)
    if unknown:
        raise Invalid(f"cannot change {', '.join(sorted(unknown))}", sorted(unknown)[0])
    if (row.is_admin or changes.get("is_admin")) and not actor.is_admin:
        raise NotAllowed("only an admin can change an admin client or make a client one", "is_admin")
    if "is_admin" in changes and changes["is_admin"] != row.is_admin:
        sensitive(actor, "make a client an admin client or stop it being one")
    for field, value in changes.items():
        if value is None:
            raise Invalid(f"{field} cannot be null", field)
    for field in ("redirect_uris", "post_logout_redirect_uris", "grant_types"):
        if field in changes:
            changes[field] = list(dict.fromkeys(changes[field]))
    if "scope" in changes:
        changes["scope"] = " ".join(changes["scope"].split())
    merged = {field: changes.get(field, getattr(row, field)) for field in CLIENT_FIELDS}
    _check_name(merged["name"])
    validate(
        row.is_confidential,
        merged["redirect_uris"],
        merged["post_logout_redirect_uris"],
        merged["grant_types"],
        merged["scope"],
        is_admin=merged["is_admin"],
    )
    changed = {k: v for k, v in changes.items() if getattr(row, k) != v}
    if changed:
        with database.atomic():
            Client.update(**changed, updated_at=int(time.time())).where(Client.id == row.id).execute()
            if changed.get("is_active") is False:
                _revoke_client_grants(row.client_id, tokens, "client_deactivated")
            if "redirect_uris" in changed:
                consents.forget_client(row.client_id)
        cache.invalidate(row.client_id)
        record(actor, "client.updated", row.client_id, changes=changed)
    return get_client(row.client_id)


def rotate_client_secret(actor: Actor, client_id: str, cache=None) -> str:
    row = _client(client_id)
    if row.is_admin and not actor.is_admin:
        raise NotAllowed("only an admin can rotate an admin client's secret")
    sensitive(actor, "rotate a client secret")
    if not row.is_confidential:
        raise Conflict("a public client has no secret")
    secret = new_token(32)
    Client.update(client_secret_digest=digest(secret), updated_at=int(time.time())).where(Client.id == row.id).execute()
    if cache is not None:
        cache.invalidate(row.client_id)
    record(actor, "client.secret_rotated", row.client_id)
    return secret


def delete_client(actor: Actor, client_id: str, cache, tokens) -> None:
    row = _client(client_id)
    # A client id can be registered again; its old consents and grants must not carry over.
    client_id = row.client_id  # as stored: MySQL matched the path's id case-insensitively
    if row.is_admin and not actor.is_admin:
        raise NotAllowed("only an admin can delete an admin client")
    with database.atomic():
        _revoke_client_grants(client_id, tokens, "client_deleted")
        consents.forget_client(client_id)
        AuthorizationCode.delete().where(AuthorizationCode.client_id == client_id).execute()
        Client.delete().where(Client.id == row.id).execute()
    cache.invalidate(client_id)
    record(actor, "client.deleted", client_id, client_name=row.name)
