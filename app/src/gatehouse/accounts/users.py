"""Users: the sign-in lookup, what they hold, how their names compare, and the only code that writes them.

Every writer checks its whole input before it writes anything, raises a
GatehouseError naming the field at fault, records one audit event per
change, and returns plain dicts that never hold a password hash. Who may
change what is actor.py's; this module asks it before each change.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata

import peewee

from gatehouse.accounts import consents
from gatehouse.accounts.actor import (
    ADMIN_ROLE,
    SYSTEM,
    Actor,
    may_give_role,
    may_manage,
    record,
    refuse_losing_last_admin,
    sensitive,
)
from gatehouse.accounts.paging import Page, page
from gatehouse.accounts.password_policy import check_new_password
from gatehouse.accounts.roles import ensure_admin_role, find_role, role_permissions, roles_named
from gatehouse.accounts.username_policy import check_username_characters, username_skeleton
from gatehouse.crypto.passwords import hash_password
from gatehouse.errors import Conflict, Invalid, NotFound
from gatehouse.store.database import database
from gatehouse.store.models import (
    AuthorizationCode,
    Grant,
    Permission,
    Role,
    RolePermission,
    Session,
    User,
    UserRole,
)
from gatehouse.store.statements import Compiled

USERNAME_MAX = 150  # characters, of the username as given and of its key (both columns are VARCHAR(150))
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class UserError(Invalid):
    """A username, e-mail address or name the rules refuse; `field` names which."""


# Reads -------------------------------------------------------------------------

_ROLES_AND_PERMISSIONS = Compiled(
    lambda user_id: (
        UserRole.select(Role.name, Permission.name)
        .join(Role)
        .join(RolePermission, peewee.JOIN.LEFT_OUTER, on=(RolePermission.role == Role.id))
        .join(Permission, peewee.JOIN.LEFT_OUTER, on=(Permission.id == RolePermission.permission))
        .where(UserRole.user == user_id)
        .tuples()
    ),
    arity=1,
)


# The sign-in lookup, compiled once (gatehouse.compiled): only what a login reads.
_LOGIN_COLUMNS = ("id", "username", "password_hash", "is_active")
_USER_FOR_LOGIN = Compiled(
    lambda key: User.select(*[getattr(User, c) for c in _LOGIN_COLUMNS]).where(User.username_key == key).tuples(),
    arity=1,
)


def find_for_login(username: str) -> User | None:
    """The user signing in as `username`, matched by username_key (a partial row: id, username, password_hash,
    is_active), or None."""
    values = _USER_FOR_LOGIN.first(username_key(username))
    return None if values is None else User(**dict(zip(_LOGIN_COLUMNS, values, strict=True)))


def roles_and_permissions(user_id: int) -> tuple[list[str], list[str]]:
    """The user's role names and the union of their permissions, sorted; one query (it runs on every token)."""
    return collect_roles(_ROLES_AND_PERMISSIONS.rows(user_id))


def collect_roles(pairs) -> tuple[list[str], list[str]]:
    """Sorted role names and permissions from (role, permission) rows of a LEFT JOIN (either may be NULL)."""
    roles, permissions = set(), set()
    for role, permission in pairs:
        if role is not None:
            roles.add(role)
        if permission is not None:
            permissions.add(permission)
    return sorted(roles), sorted(permissions)


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
    users = page(User.select().order_by(User.id), limit, offset, user_dict)
    ids = [item["id"] for item in users.items]
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
    for item in users.items:
        item["roles"] = roles[item["id"]]
    return users


def get_user(user_id: int) -> dict:
    return user_dict(_user(user_id), with_access=True)


# The account rules -------------------------------------------------------------


def username_key(username: str) -> str:
    """What usernames are compared by, on every backend (sign-in, uniqueness, lockout).

    NFKC folds compatibility forms (full-width 'Ａ' is 'A'), casefold is
    Unicode's caseless matching ('STRASSE' matches 'straße'); accents stay,
    so 'jose' and 'josé' are different users. The database compares keys
    byte for byte, never with its own collation.
    """
    return unicodedata.normalize("NFKC", username).casefold()


def email_key(email: str | None) -> str | None:
    """What e-mail addresses are compared by, on every backend: NFKC, then casefold. The local part
    is case-sensitive in theory (RFC 5321 §2.4) but no provider treats it so, and two accounts whose
    addresses differ only in case are one person's or an impersonation."""
    return None if email is None else unicodedata.normalize("NFKC", email).casefold()


def validate_username(username: str) -> None:
    """Length, no spaces, no invisible or direction-changing characters (username_policy), and a key that fits."""
    if not username or len(username) > USERNAME_MAX or any(c.isspace() for c in username):
        raise UserError(f"username must be 1-{USERNAME_MAX} characters without spaces", "username")
    # Controls, format and bidirectional characters make one name display as another.
    check_username_characters(username)
    folded = len(username_key(username))
    if folded > USERNAME_MAX:
        # Folding can lengthen a name ('ß' becomes 'ss'); the key must still fit its column.
        raise UserError(
            f"username is {folded} characters once case is folded ('ß' counts as 'ss'); at most {USERNAME_MAX}",
            "username",
        )


def _check_email(email: str | None) -> None:
    if email is not None and (len(email) > 254 or not EMAIL.match(email)):
        raise UserError(f"email {email!r} is not an email address", "email")


def _check_name(name: str | None) -> None:
    if name is not None and len(name) > 200:
        raise UserError("name must be at most 200 characters", "name")


def hash_new_password(password: str, username: str | None = None, email: str | None = None) -> str:
    """Check a new password (password_policy: PasswordRejected names the field) and hash it.
    Slow: the API and the portal run it off the event loop."""
    check_new_password(password, username=username, email=email)
    return hash_password(password)


# Writes ------------------------------------------------------------------------


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
    """Create a user with a password already checked and hashed (hash_new_password) and the named roles."""
    validate_username(username)
    _check_email(email)
    _check_name(name)
    role_rows = roles_named(roles)
    for role in role_rows:
        may_give_role(actor, role.name, role_permissions(role), "roles")
    if User.select().where(User.username_key == username_key(username)).exists():
        raise Conflict("a user with that username already exists", "username")
    if email is not None and User.select().where(User.email_key == email_key(email)).exists():
        raise Conflict("another user has that email", "email")
    skeleton = hashlib.sha256(username_skeleton(username).encode("utf-8")).hexdigest()
    lookalike = User.get_or_none(User.username_skeleton == skeleton)
    if lookalike is not None:
        raise Conflict(f"username {username!r} looks like the existing username {lookalike.username!r}", "username")
    now = int(time.time())
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
    record(actor, "user.created", str(user.id), username=username, roles=[r.name for r in role_rows])
    return user_dict(user, with_access=True)


def create_user_as_system(
    username: str, password: str, email: str | None = None, admin: bool = False, name: str | None = None
) -> User:
    """create_user as SYSTEM, for callers holding the password itself and no event loop to keep free
    (the command line, the dev server, the tests' fixtures); answers the row. `admin` gives the
    admin role, made first on a site that has none yet."""
    password_hash = hash_new_password(password, username=username, email=email)
    if admin:
        ensure_admin_role()
    data = create_user(
        SYSTEM,
        username=username,
        password_hash=password_hash,
        email=email,
        name=name,
        roles=[ADMIN_ROLE] if admin else [],
    )
    return User.get_by_id(data["id"])


def upgrade_password_hash(user_id: int, password_hash: str) -> None:
    """A sign-in found the user's hash made with older parameters: keep the new hash of the same
    password (not a password change: no audit event, and the user's sessions stay)."""
    User.update(password_hash=password_hash).where(User.id == user_id).execute()


def _may_manage(actor: Actor, user: User, what: str) -> None:
    may_manage(actor, *roles_and_permissions(user.id), what)


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
        sensitive(actor, "reset a password")
    if "is_active" in changes and changes["is_active"] != user.is_active:
        _may_manage(actor, user, "activate or deactivate")
        sensitive(actor, "activate or deactivate a user")
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
    changed["updated_at"] = int(time.time())
    try:
        with database.atomic():
            if changed.get("is_active") is False:
                refuse_losing_last_admin(user, "deactivated")
            User.update(**changed).where(User.id == user.id).execute()
            if changed.get("is_active") is False:
                _end_sessions_and_grants(user.id, tokens, "user_deactivated")
            elif "password_hash" in changed:
                _end_sessions_and_grants(user.id, tokens, "password_reset")
    except peewee.IntegrityError:
        raise Conflict("another user has that email", "email") from None
    fields = sorted(k.removesuffix("_hash") for k in changed if k not in ("updated_at", "email_key"))
    record(actor, "user.updated", str(user.id), username=user.username, fields=fields)
    return get_user(user.id)


def delete_user(actor: Actor, user_id: int, tokens) -> None:
    user = _user(user_id)
    if user.id == actor.user_id:
        raise Conflict("you cannot delete your own account")
    _may_manage(actor, user, "delete")
    sensitive(actor, "delete a user")
    # Nothing that names this id may survive it (ids are never reused: migration 0003).
    with database.atomic():
        refuse_losing_last_admin(user, "deleted")
        _end_sessions_and_grants(user.id, tokens, "user_deleted")
        consents.forget_user(user.id)
        AuthorizationCode.delete().where(AuthorizationCode.user_id == user.id).execute()
        UserRole.delete().where(UserRole.user == user.id).execute()
        User.delete().where(User.id == user.id).execute()
    record(actor, "user.deleted", str(user.id), username=user.username)


def assign_role(actor: Actor, user_id: int, role_name: str) -> dict:
    user = _user(user_id)
    role = find_role(role_name)
    _may_manage(actor, user, "change the roles of")
    may_give_role(actor, role.name, role_permissions(role))
    sensitive(actor, "give a role")
    _, created = UserRole.get_or_create(user=user, role=role)
    if created:
        record(actor, "role.changed", str(user.id), action="assigned", role=role.name, username=user.username)
    return get_user(user.id)


def remove_role(actor: Actor, user_id: int, role_name: str) -> dict:
    user = _user(user_id)
    role = find_role(role_name)
    if role.name == ADMIN_ROLE and user.id == actor.user_id:
        raise Conflict("you cannot remove your own admin role", "role")
    _may_manage(actor, user, "change the roles of")
    may_give_role(actor, role.name, role_permissions(role))
    sensitive(actor, "take a role")
    with database.atomic():
        if role.name == ADMIN_ROLE and user.is_active:
            refuse_losing_last_admin(user, "demoted")
        removed = UserRole.delete().where((UserRole.user == user.id) & (UserRole.role == role.id)).execute()
    if removed:
        record(actor, "role.changed", str(user.id), action="removed", role=role.name, username=user.username)
    return get_user(user.id)
