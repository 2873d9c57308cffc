"""Administration of users, clients, roles, permissions, and reading the audit log.

The one module that writes accounts: the JSON API, the portal and the
command line (as the SYSTEM actor) all call it, so the rules live here once.
Every function checks its whole input before it writes anything, raises an
GatehouseError naming the field at fault, records one audit event per change,
and returns plain dicts that never hold a password hash or a secret digest.

No escalation (docs/admin-threat-model.md): an actor may grant only
permissions it holds itself, and may change the password, active flag, roles
or existence of a user only if its own permissions are a superset of that
user's; the admin role, admin clients and the admin role's members are for
admins alone; the last active admin cannot be deactivated, demoted or deleted.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass

import peewee

from gatehouse.accounts import clients as clients_admin
from gatehouse.accounts.clients import ClientError, validate_redirect_uri
from gatehouse.accounts.password_policy import PASSWORD_MAX, PASSWORD_MIN, PasswordRejected, check_new_password  # noqa: F401 (limits re-exported for the API's fields)
from gatehouse.accounts.username_policy import username_skeleton
from gatehouse.accounts.users import (
    ADMIN_PERMISSIONS,
    ADMIN_ROLE,
    UserError,
    email_key,
    roles_and_permissions,
    username_key,
    validate_username,
)
from gatehouse.crypto.digests import digest, new_token
from gatehouse.crypto.passwords import hash_password
from gatehouse.errors import Conflict, Invalid, NotAllowed, NotFound, ReauthenticationRequired
from gatehouse.oauth.admin_resource import ADMIN_SCOPE
from gatehouse.runtime import audit
from gatehouse.store.database import database, is_mysql
from gatehouse.store.models import (
    AuditLog,
    AuthorizationCode,
    Client,
    Consent,
    Grant,
    Permission,
    Role,
    RolePermission,
    Session,
    User,
    UserRole,
)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
# resource:action, lower case so that SQLite and MySQL's case-insensitive
# collation agree on what a duplicate is.
PERMISSION_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,48}:[a-z0-9][a-z0-9._-]{0,48}$")


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the audit log records it, and what they may grant."""

    id: str
    user_id: int | None = None
    ip: str | None = None
    via: str = "api"  # "token", "session", "portal" or "cli"
    permissions: frozenset = frozenset()
    is_admin: bool = False
    # When the person behind a session last proved their password (None: not a session; a
    # token's or the command line's caller proved it when the credential was issued).
    auth_time: int | None = None


# Sensitive changes made with a session need a sign-in at most this old (ASVS 7.5).
REAUTHENTICATE_AFTER = 300


def _sensitive(actor: Actor, what: str) -> None:
    if actor.via in ("session", "portal") and (actor.auth_time or 0) + REAUTHENTICATE_AFTER < _now():
        raise ReauthenticationRequired(f"enter your password again to {what}")


# The command line runs as root on an auth server, with the database's credentials: it is the site's owner.
SYSTEM = Actor(id="cli", via="cli", is_admin=True)


def _may_grant(actor: Actor, permissions, field: str) -> None:
    """An actor grants only permissions it holds (admins: any)."""
    missing = sorted(set(permissions) - actor.permissions)
    if missing and not actor.is_admin:
        raise NotAllowed(f"you cannot grant permissions you do not hold: {', '.join(missing)}", field)


def _may_manage(actor: Actor, user: User, what: str) -> None:
    """Changing a user's password, active flag, roles or existence needs every permission they hold."""
    if actor.is_admin:
        return
    roles, held = roles_and_permissions(user.id)
    if ADMIN_ROLE in roles:
        raise NotAllowed(f"only an admin can {what} an admin")
    missing = sorted(set(held) - actor.permissions)
    if missing:
        raise NotAllowed(f"you cannot {what} a user who holds permissions you do not: {', '.join(missing)}")


def _refuse_losing_last_admin(user: User, what: str) -> None:
    """The site keeps at least one active admin. Called inside the change's transaction; on
    MySQL the admins' rows are locked (FOR UPDATE), so two admins demoting each other at once
    cannot both succeed."""
    admins = (
        User.select(User.id)
        .join(UserRole, on=(UserRole.user == User.id))
        .join(Role, on=(Role.id == UserRole.role))
        .where((Role.name == ADMIN_ROLE) & (User.is_active == True))  # noqa: E712
    )
    if is_mysql():
        admins = admins.for_update()
    ids = {row.id for row in admins}
    if user.id in ids and len(ids) == 1:
        raise Conflict(f"{user.username!r} is the last active admin and cannot be {what}")


@dataclass(frozen=True)
class Page:
    items: list
    total: int
    limit: int
    offset: int

    def as_dict(self) -> dict:
        return {"items": self.items, "total": self.total, "limit": self.limit, "offset": self.offset}


def _audit(actor: Actor, event: str, subject: str | None, **details) -> None:
    # Detail keys must not collide with logging.LogRecord attributes (name, msg, ...).
    audit.record(event, actor=actor.id, subject=subject, ip=actor.ip, via=actor.via, **details)


def _page(query, limit: int, offset: int, to_dict) -> Page:
    total = query.count()
    return Page([to_dict(row) for row in query.limit(limit).offset(offset)], total, limit, offset)


def _now() -> int:
    return int(time.time())


# Users -----------------------------------------------------------------------


def user_dict(user: User, with_access: bool = False) -> dict:
    data = {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "is_active": user.is_active,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }
    if with_access:
        data["roles"], data["permissions"] = roles_and_permissions(user.id)
    return data


def _user(user_id: int) -> User:
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def list_users(limit: int = 50, offset: int = 0) -> Page:
    """A page of users, each with the names of their roles (one query for the whole page)."""
    page = _page(User.select().order_by(User.id), limit, offset, user_dict)
    ids = [item["id"] for item in page.items]
    roles: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        rows = (
            UserRole.select(UserRole.user, Role.name)
            .join(Role)
            .where(UserRole.user.in_(ids))
            .order_by(Role.name)
            .tuples()
        )
        for user_id, role_name in rows:
            roles[user_id].append(role_name)
    for item in page.items:
        item["roles"] = roles[item["id"]]
    return page


def get_user(user_id: int) -> dict:
    return user_dict(_user(user_id), with_access=True)


def check_password(password: str, username: str | None = None, email: str | None = None) -> None:
    """Length, the shipped list of common passwords, not the username or e-mail (password_policy)."""
    try:
        check_new_password(password, username=username, email=email)
    except PasswordRejected as exc:
        raise Invalid(exc.message, "password") from None


def hash_new_password(password: str, username: str | None = None, email: str | None = None) -> str:
    """Check a new password and hash it (slow: callers run it off the event loop)."""
    check_password(password, username, email)
    return hash_password(password)


def _check_email(email: str | None) -> None:
    if email is not None and (len(email) > 254 or not EMAIL.match(email)):
        raise Invalid(f"email {email!r} is not an email address", "email")


def _check_name(name: str | None) -> None:
    if name is not None and len(name) > 200:
        raise Invalid("name must be at most 200 characters", "name")


def _roles_named(names) -> list[Role]:
    names = list(dict.fromkeys(names))
    found = {r.name: r for r in Role.select().where(Role.name.in_(names))} if names else {}
    missing = [n for n in names if n not in found]
    if missing:
        raise Invalid(f"unknown role(s): {', '.join(missing)}", "roles")
    return [found[n] for n in names]


def create_user(
    actor: Actor,
    *,
    username: str,
    password_hash: str,
    email: str | None = None,
    name: str | None = None,
    is_active: bool = True,
    roles=(),
) -> dict:
    try:
        validate_username(username)
    except UserError as exc:
        raise Invalid(str(exc), "username") from None
    _check_email(email)
    _check_name(name)
    role_rows = _roles_named(roles)
    for role in role_rows:
        _may_give_role(actor, role, "roles")
    if User.select().where(User.username_key == username_key(username)).exists():
        raise Conflict("a user with that username already exists", "username")
    if email is not None and User.select().where(User.email_key == email_key(email)).exists():
        raise Conflict("another user has that email", "email")
    skeleton = hashlib.sha256(username_skeleton(username).encode("utf-8")).hexdigest()
    lookalike = User.get_or_none(User.username_skeleton == skeleton)
    if lookalike is not None:
        raise Conflict(f"username {username!r} looks like the existing username {lookalike.username!r}", "username")
    now = _now()
    try:
        with database.atomic():
            user = User.create(
                username=username,
                username_key=username_key(username),
                username_skeleton=skeleton,
                email=email,
                email_key=email_key(email),
                name=name,
                password_hash=password_hash,
                is_active=is_active,
                created_at=now,
                updated_at=now,
            )
            for role in role_rows:
                UserRole.create(user=user, role=role)
    except peewee.IntegrityError:
        raise Conflict("a user with that username or email already exists", "username") from None
    _audit(actor, "user.created", str(user.id), username=username, roles=[r.name for r in role_rows])
    return user_dict(user, with_access=True)


def _end_sessions_and_grants(user_id: int, tokens, reason: str) -> None:
    """Sign the user out everywhere and revoke every authorization they gave."""
    Session.delete().where(Session.user_id == user_id).execute()
    live = Grant.select(Grant.id).where((Grant.user_id == user_id) & Grant.revoked_at.is_null())
    for grant in list(live):
        tokens.revoke_grant(grant.id, reason)


def update_user(actor: Actor, user_id: int, changes: dict, tokens) -> dict:
    """Change email, name, is_active or password_hash; keys absent from changes stay as they are.

    Deactivating a user or setting a new password signs them out everywhere
    and revokes their grants, so no token of theirs outlives it (whoever knew
    the old password may hold one).
    """
    user = _user(user_id)
    if "password_hash" in changes:
        _may_manage(actor, user, "reset the password of")
        _sensitive(actor, "reset a password")
    if "is_active" in changes and changes["is_active"] != user.is_active:
        _may_manage(actor, user, "activate or deactivate")
        _sensitive(actor, "activate or deactivate a user")
    unknown = set(changes) - {"email", "name", "is_active", "password_hash"}
    if unknown:
        raise Invalid(f"cannot change {', '.join(sorted(unknown))}", sorted(unknown)[0])
    if "email" in changes:
        _check_email(changes["email"])
    if "name" in changes:
        _check_name(changes["name"])
    for field in ("is_active", "password_hash"):
        if field in changes and changes[field] is None:
            raise Invalid(f"{field.removesuffix('_hash')} cannot be null", field.removesuffix("_hash"))
    if changes.get("is_active") is False and user.id == actor.user_id:
        raise Conflict("you cannot deactivate your own account", "is_active")
    changed = {k: v for k, v in changes.items() if k == "password_hash" or getattr(user, k) != v}
    if not changed:
        return user_dict(user, with_access=True)
    if "email" in changed:
        changed["email_key"] = email_key(changed["email"])
        taken = User.select().where((User.email_key == changed["email_key"]) & (User.id != user.id)).exists()
        if changed["email_key"] is not None and taken:
            raise Conflict("another user has that email", "email")
    changed["updated_at"] = _now()
    try:
        with database.atomic():
            if changed.get("is_active") is False:
                _refuse_losing_last_admin(user, "deactivated")
            User.update(**changed).where(User.id == user.id).execute()
            if changed.get("is_active") is False:
                _end_sessions_and_grants(user.id, tokens, "user_deactivated")
            elif "password_hash" in changed:
                _end_sessions_and_grants(user.id, tokens, "password_reset")
    except peewee.IntegrityError:
        raise Conflict("another user has that email", "email") from None
    fields = sorted(k.removesuffix("_hash") for k in changed if k not in ("updated_at", "email_key"))
    _audit(actor, "user.updated", str(user.id), username=user.username, fields=fields)
    return get_user(user.id)


def delete_user(actor: Actor, user_id: int, tokens) -> None:
    user = _user(user_id)
    if user.id == actor.user_id:
        raise Conflict("you cannot delete your own account")
    _may_manage(actor, user, "delete")
    _sensitive(actor, "delete a user")
    # Nothing that names this id may survive it (ids are never reused: migration 0003).
    with database.atomic():
        _refuse_losing_last_admin(user, "deleted")
        _end_sessions_and_grants(user.id, tokens, "user_deleted")
        Consent.delete().where(Consent.user_id == user.id).execute()
        AuthorizationCode.delete().where(AuthorizationCode.user_id == user.id).execute()
        UserRole.delete().where(UserRole.user == user.id).execute()
        User.delete().where(User.id == user.id).execute()
    _audit(actor, "user.deleted", str(user.id), username=user.username)


def _role_permissions(role: Role) -> list[str]:
    return [
        p.name
        for p in Permission.select(Permission.name)
        .join(RolePermission)
        .where(RolePermission.role == role.id)
        .order_by(Permission.name)
    ]


def _may_give_role(actor: Actor, role: Role, field: str = "role") -> None:
    if role.name == ADMIN_ROLE and not actor.is_admin:
        raise NotAllowed("only an admin can give or take the admin role", field)
    _may_grant(actor, _role_permissions(role), field)


def assign_role(actor: Actor, user_id: int, role_name: str) -> dict:
    user = _user(user_id)
    role = _role(role_name)
    _may_manage(actor, user, "change the roles of")
    _may_give_role(actor, role)
    _sensitive(actor, "give a role")
    _, created = UserRole.get_or_create(user=user, role=role)
    if created:
        _audit(actor, "role.changed", str(user.id), action="assigned", role=role.name, username=user.username)
    return get_user(user.id)


def remove_role(actor: Actor, user_id: int, role_name: str) -> dict:
    user = _user(user_id)
    role = _role(role_name)
    if role.name == ADMIN_ROLE and user.id == actor.user_id:
        raise Conflict("you cannot remove your own admin role", "role")
    _may_manage(actor, user, "change the roles of")
    _may_give_role(actor, role)
    _sensitive(actor, "take a role")
    with database.atomic():
        if role.name == ADMIN_ROLE and user.is_active:
            _refuse_losing_last_admin(user, "demoted")
        removed = UserRole.delete().where((UserRole.user == user.id) & (UserRole.role == role.id)).execute()
    if removed:
        _audit(actor, "role.changed", str(user.id), action="removed", role=role.name, username=user.username)
    return get_user(user.id)


# Clients ---------------------------------------------------------------------


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
    return _page(Client.select().order_by(Client.client_id), limit, offset, client_dict)


def get_client(client_id: str) -> dict:
    return client_dict(_client(client_id))


def _check_client(
    confidential: bool, name: str, redirect_uris, post_logout_redirect_uris, grant_types, scope, is_admin: bool
) -> None:
    """clients_admin's rules, each failure attributed to the field at fault."""
    if ADMIN_SCOPE in scope.split() and not is_admin:
        raise Invalid(f"only an admin client may hold the {ADMIN_SCOPE} scope", "scope")
    if not name or len(name) > 200:
        raise Invalid("name must be 1-200 characters", "name")
    for field, uris, what in (
        ("redirect_uris", redirect_uris, "redirect URI"),
        ("post_logout_redirect_uris", post_logout_redirect_uris, "post-logout redirect URI"),
    ):
        for uri in uris:
            try:
                validate_redirect_uri(uri, what)
            except ClientError as exc:
                raise Invalid(str(exc), field) from None
    try:
        clients_admin.check_scope(scope)
    except ClientError as exc:
        raise Invalid(str(exc), "scope") from None
    if "authorization_code" in grant_types and not redirect_uris:
        raise Invalid("authorization_code needs at least one redirect URI", "redirect_uris")
    try:  # what is left are the rules on grant types
        clients_admin.validate(confidential, redirect_uris, post_logout_redirect_uris, grant_types, scope)
    except ClientError as exc:
        raise Invalid(str(exc), "grant_types") from None


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
) -> tuple[dict, str | None]:
    """Register a client; return it and its secret (None for a public client), shown this once."""
    try:
        clients_admin.check_client_id(client_id)
    except ClientError as exc:
        raise Invalid(str(exc), "client_id") from None
    if is_admin and not actor.is_admin:
        raise NotAllowed("only an admin can register an admin client", "is_admin")
    if is_admin:
        _sensitive(actor, "register an admin client")
    grant_types = list(dict.fromkeys(grant_types))
    redirect_uris = list(dict.fromkeys(redirect_uris))
    post_logout_redirect_uris = list(dict.fromkeys(post_logout_redirect_uris))
    scope = " ".join(scope.split())
    _check_client(confidential, name, redirect_uris, post_logout_redirect_uris, grant_types, scope, is_admin)
    # Case-insensitively too: on MySQL's collation 'App' and 'app' would share a unique index entry,
    # and on SQLite they would be two clients that a human cannot tell apart.
    if Client.select().where(peewee.fn.LOWER(Client.client_id) == client_id.lower()).exists():
        raise Conflict(f"a client with id {client_id!r} already exists", "client_id")
    secret = new_token(32) if confidential else None
    now = _now()
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
    _audit(
        actor,
        "client.created",
        client_id,
        client_name=name,
        confidential=confidential,
        grant_types=grant_types,
        is_admin=is_admin,
    )
    return client_dict(row), secret


CLIENT_FIELDS = ("name", "redirect_uris", "post_logout_redirect_uris", "grant_types", "scope", "is_active", "is_admin")


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
        _sensitive(actor, "make a client an admin client or stop it being one")
    for field, value in changes.items():
        if value is None:
            raise Invalid(f"{field} cannot be null", field)
    for field in ("redirect_uris", "post_logout_redirect_uris", "grant_types"):
        if field in changes:
            changes[field] = list(dict.fromkeys(changes[field]))
    if "scope" in changes:
        changes["scope"] = " ".join(changes["scope"].split())
    merged = {field: changes.get(field, getattr(row, field)) for field in CLIENT_FIELDS}
    _check_client(
        row.is_confidential,
        merged["name"],
        merged["redirect_uris"],
        merged["post_logout_redirect_uris"],
        merged["grant_types"],
        merged["scope"],
        merged["is_admin"],
    )
    changed = {k: v for k, v in changes.items() if getattr(row, k) != v}
    if changed:
        with database.atomic():
            Client.update(**changed, updated_at=_now()).where(Client.id == row.id).execute()
            if changed.get("is_active") is False:
                _revoke_client_grants(row.client_id, tokens, "client_deactivated")
            if "redirect_uris" in changed:
                Consent.delete().where(Consent.client_id == row.client_id).execute()
        cache.invalidate(row.client_id)
        _audit(actor, "client.updated", row.client_id, changes=changed)
    return get_client(row.client_id)


def rotate_client_secret(actor: Actor, client_id: str, cache=None) -> str:
    row = _client(client_id)
    if row.is_admin and not actor.is_admin:
        raise NotAllowed("only an admin can rotate an admin client's secret")
    _sensitive(actor, "rotate a client secret")
    if not row.is_confidential:
        raise Conflict("a public client has no secret")
    secret = new_token(32)
    Client.update(client_secret_digest=digest(secret), updated_at=_now()).where(Client.id == row.id).execute()
    if cache is not None:
        cache.invalidate(row.client_id)
    _audit(actor, "client.secret_rotated", row.client_id)
    return secret


def delete_client(actor: Actor, client_id: str, cache, tokens) -> None:
    row = _client(client_id)
    # A client id can be registered again; its old consents and grants must not carry over.
    client_id = row.client_id  # as stored: MySQL matched the path's id case-insensitively
    if row.is_admin and not actor.is_admin:
        raise NotAllowed("only an admin can delete an admin client")
    with database.atomic():
        _revoke_client_grants(client_id, tokens, "client_deleted")
        Consent.delete().where(Consent.client_id == client_id).execute()
        AuthorizationCode.delete().where(AuthorizationCode.client_id == client_id).execute()
        Client.delete().where(Client.id == row.id).execute()
    cache.invalidate(client_id)
    _audit(actor, "client.deleted", client_id, client_name=row.name)


# Roles and permissions -------------------------------------------------------


def _role(name: str) -> Role:
    role = Role.get_or_none(Role.name == name)
    if role is None:
        raise NotFound(f"no role named {name!r}")
    return role


def role_dict(role: Role) -> dict:
    permissions = _role_permissions(role)
    users = UserRole.select().where(UserRole.role == role.id).count()
    return {"name": role.name, "description": role.description, "permissions": permissions, "users": users}


def list_roles(limit: int = 100, offset: int = 0) -> Page:
    return _page(Role.select().order_by(Role.name), limit, offset, role_dict)


def get_role(name: str) -> dict:
    return role_dict(_role(name))


def _permissions_named(names) -> list[Permission]:
    names = list(dict.fromkeys(names))
    found = {p.name: p for p in Permission.select().where(Permission.name.in_(names))} if names else {}
    missing = [n for n in names if n not in found]
    if missing:
        raise Invalid(f"unknown permission(s): {', '.join(missing)}", "permissions")
    return [found[n] for n in names]


def create_role(actor: Actor, *, name: str, description: str = "", permissions=()) -> dict:
    if not ROLE_NAME.match(name or ""):
        raise Invalid("role name must be 1-100 lower-case letters, digits, '.', '_', '-'", "name")
    if len(description) > 255:
        raise Invalid("description must be at most 255 characters", "description")
    rows = _permissions_named(permissions)
    _may_grant(actor, [p.name for p in rows], "permissions")
    try:
        with database.atomic():
            role = Role.create(name=name, description=description)
            for permission in rows:
                RolePermission.create(role=role, permission=permission)
    except peewee.IntegrityError:
        raise Conflict(f"a role named {name!r} already exists", "name") from None
    _audit(actor, "role.changed", name, action="created", permissions=[p.name for p in rows])
    return role_dict(role)


def delete_role(actor: Actor, name: str) -> None:
    role = _role(name)
    if role.name == ADMIN_ROLE:
        raise Conflict("the admin role is built in and cannot be deleted")
    # Deleting a role takes its permissions from its holders: only for one who could have given them.
    _may_grant(actor, _role_permissions(role), "name")
    with database.atomic():
        UserRole.delete().where(UserRole.role == role.id).execute()
        RolePermission.delete().where(RolePermission.role == role.id).execute()
        Role.delete().where(Role.id == role.id).execute()
    _audit(actor, "role.changed", role.name, action="deleted")


def set_role_permissions(actor: Actor, name: str, permissions) -> dict:
    role = _role(name)
    rows = _permissions_named(permissions)
    wanted = {p.name for p in rows}
    if role.name == ADMIN_ROLE and not set(ADMIN_PERMISSIONS) <= wanted:
        missing = sorted(set(ADMIN_PERMISSIONS) - wanted)
        raise Conflict(f"the admin role must keep {', '.join(missing)}", "permissions")
    if role.name == ADMIN_ROLE and not actor.is_admin:
        raise NotAllowed("only an admin can change the admin role", "permissions")
    before = set(_role_permissions(role))
    # Adding grants the permission to every holder of the role; removing takes it from them.
    _may_grant(actor, wanted ^ before, "permissions")
    _sensitive(actor, "change a role's permissions")
    with database.atomic():
        RolePermission.delete().where(RolePermission.role == role.id).execute()
        for permission in rows:
            RolePermission.create(role=role, permission=permission)
    if before != wanted:
        _audit(
            actor,
            "role.changed",
            role.name,
            action="permissions_set",
            added=sorted(wanted - before),
            removed=sorted(before - wanted),
        )
    return role_dict(role)


def permission_dict(permission: Permission) -> dict:
    roles = [
        r.name
        for r in Role.select(Role.name)
        .join(RolePermission)
        .where(RolePermission.permission == permission.id)
        .order_by(Role.name)
    ]
    return {"name": permission.name, "description": permission.description, "roles": roles}


def list_permissions(limit: int = 100, offset: int = 0) -> Page:
    return _page(Permission.select().order_by(Permission.name), limit, offset, permission_dict)


def create_permission(actor: Actor, *, name: str, description: str = "") -> dict:
    if not PERMISSION_NAME.match(name or ""):
        raise Invalid("permission name must be resource:action in lower-case letters, digits, '.', '_', '-'", "name")
    if len(description) > 255:
        raise Invalid("description must be at most 255 characters", "description")
    try:
        permission = Permission.create(name=name, description=description)
    except peewee.IntegrityError:
        raise Conflict(f"a permission named {name!r} already exists", "name") from None
    _audit(actor, "permission.changed", name, action="created")
    return permission_dict(permission)


def delete_permission(actor: Actor, name: str) -> None:
    permission = Permission.get_or_none(Permission.name == name)
    if permission is None:
        raise NotFound(f"no permission named {name!r}")
    if permission.name in ADMIN_PERMISSIONS:
        raise Conflict(f"{permission.name} is built in: the admin API checks it")
    with database.atomic():
        RolePermission.delete().where(RolePermission.permission == permission.id).execute()
        Permission.delete().where(Permission.id == permission.id).execute()
    _audit(actor, "permission.changed", permission.name, action="deleted")


# Audit log and counts ----------------------------------------------------------


def audit_dict(row: AuditLog) -> dict:
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {}
    return {
        "id": row.id,
        "created_at": row.created_at,
        "event": row.event,
        "actor": row.actor,
        "subject": row.subject,
        "ip": row.ip,
        "request_id": row.request_id,
        "details": details,
    }


def list_audit(
    limit: int = 50, offset: int = 0, event: str | None = None, actor: str | None = None, since: int | None = None
) -> Page:
    """Newest first; filters combine."""
    query = AuditLog.select()
    if event:
        query = query.where(AuditLog.event == event)
    if actor:
        query = query.where(AuditLog.actor == actor)
    if since is not None:
        query = query.where(AuditLog.created_at >= since)
    return _page(query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()), limit, offset, audit_dict)


def counts() -> dict:
    return {
        "users": User.select().count(),
        "active_users": User.select().where(User.is_active == True).count(),  # noqa: E712
        "clients": Client.select().count(),
        "active_clients": Client.select().where(Client.is_active == True).count(),  # noqa: E712
        "roles": Role.select().count(),
        "permissions": Permission.select().count(),
        "audit_events_24h": AuditLog.select().where(AuditLog.created_at >= _now() - 86400).count(),
    }
