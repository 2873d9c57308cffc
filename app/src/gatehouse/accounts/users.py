"""Users, their roles and `resource:action` permissions, and their OIDC claims."""

from __future__ import annotations

import unicodedata

import peewee

from gatehouse import errors
from gatehouse.accounts.username_policy import unsafe_characters
from gatehouse.store.models import Permission, Role, RolePermission, User, UserRole
from gatehouse.store.statements import Compiled

ADMIN_ROLE = "admin"
# Every permission the admin API checks; the admin role holds them all.
ADMIN_PERMISSIONS = [
    f"{resource}:{action}"
    for resource in ("users", "clients", "roles", "permissions", "audit-logs")
    for action in ("read", "write")
]


class UserError(ValueError):
    pass


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


def has_permission(user_id: int, permission: str) -> bool:
    return permission in roles_and_permissions(user_id)[1]


def ensure_admin_role() -> Role:
    role, _ = Role.get_or_create(name=ADMIN_ROLE, defaults={"description": "Full administrative access"})
    for name in ADMIN_PERMISSIONS:
        perm, _ = Permission.get_or_create(name=name)
        RolePermission.get_or_create(role=role, permission=perm)
    return role


def create_user(
    username: str, password: str, email: str | None = None, admin: bool = False, name: str | None = None
) -> User:
    """Create a user as the SYSTEM actor (the command line, the dev server, tests): admin_service
    writes it, with the same rules as the admin API and the portal. UserError carries its message."""
    from gatehouse.accounts import admin as admin_service

    try:
        password_hash = admin_service.hash_new_password(password, username=username, email=email)
        if admin:
            ensure_admin_role()
        data = admin_service.create_user(
            admin_service.SYSTEM,
            username=username,
            password_hash=password_hash,
            email=email,
            name=name,
            roles=[ADMIN_ROLE] if admin else [],
        )
    except errors.GatehouseError as exc:
        raise UserError(exc.message) from None
    return User.get_by_id(data["id"])


USERNAME_MAX = 150  # characters, of the username as given and of its key (both columns are VARCHAR(150))


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
    if not username or len(username) > USERNAME_MAX or any(c.isspace() for c in username):
        raise UserError(f"username must be 1-{USERNAME_MAX} characters without spaces")
    unsafe = unsafe_characters(username)
    if unsafe:
        # Controls, format and bidirectional characters make one name display as another.
        raise UserError(f"username must not hold {', '.join(unsafe)}")
    folded = len(username_key(username))
    if folded > USERNAME_MAX:
        # Folding can lengthen a name ('ß' becomes 'ss'); the key must still fit its column.
        raise UserError(
            f"username is {folded} characters once case is folded ('ß' counts as 'ss'); at most {USERNAME_MAX}"
        )
