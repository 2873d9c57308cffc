"""Roles and `resource:action` permissions: reading them, and the only code that writes them.

A role's permissions are granted to every holder of the role, so changing
them, or deleting the role, is granting or taking away: the actor must
hold every permission concerned (actor.may_grant). The admin role is built
in: it keeps the permissions the admin API checks, and only admins change it.
"""

from __future__ import annotations

import re

import peewee

from gatehouse.accounts.actor import ADMIN_PERMISSIONS, ADMIN_ROLE, Actor, may_grant, record, sensitive
from gatehouse.accounts.paging import Page, page
from gatehouse.errors import Conflict, Invalid, NotAllowed, NotFound
from gatehouse.store.database import database
from gatehouse.store.models import Permission, Role, RolePermission, UserRole

ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
# resource:action, lower case so that SQLite and MySQL's case-insensitive
# collation agree on what a duplicate is.
PERMISSION_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,48}:[a-z0-9][a-z0-9._-]{0,48}$")


def ensure_admin_role() -> Role:
    """The admin role with every permission the admin API checks, made if missing."""
    role, _ = Role.get_or_create(name=ADMIN_ROLE, defaults={"description": "Full administrative access"})
    for name in ADMIN_PERMISSIONS:
        perm, _ = Permission.get_or_create(name=name)
        RolePermission.get_or_create(role=role, permission=perm)
    return role


# Roles -------------------------------------------------------------------------


def find_role(name: str) -> Role:
    role = Role.get_or_none(Role.name == name)
    if role is None:
        raise NotFound(f"no role named {name!r}")
    return role


def roles_named(names) -> list[Role]:
    """The roles called `names` (repeats dropped), all of them or Invalid naming the unknown ones."""
    names = list(dict.fromkeys(names))
    found = {r.name: r for r in Role.select().where(Role.name.in_(names))} if names else {}
    missing = [n for n in names if n not in found]
    if missing:
        raise Invalid(f"unknown role(s): {', '.join(missing)}", "roles")
    return [found[n] for n in names]


def role_permissions(role: Role) -> list[str]:
    """The names of the role's permissions, sorted."""
    return [
        p.name
        for p in Permission.select(Permission.name)
        .join(RolePermission)
        .where(RolePermission.role == role.id)
        .order_by(Permission.name)
    ]


def role_dict(role: Role) -> dict:
    permissions = role_permissions(role)
    users = UserRole.select().where(UserRole.role == role.id).count()
    return {"name": role.name, "description": role.description, "permissions": permissions, "users": users}


def list_roles(limit: int = 100, offset: int = 0) -> Page:
    return page(Role.select().order_by(Role.name), limit, offset, role_dict)


def get_role(name: str) -> dict:
    return role_dict(find_role(name))


def _check_description(description: str) -> None:
    if len(description) > 255:
        raise Invalid("description must be at most 255 characters", "description")


def create_role(actor: Actor, *, name: str, description: str = "", permissions=()) -> dict:
    if not ROLE_NAME.match(name or ""):
        raise Invalid("role name must be 1-100 lower-case letters, digits, '.', '_', '-'", "name")
    _check_description(description)
    rows = _permissions_named(permissions)
    may_grant(actor, [p.name for p in rows], "permissions")
    try:
        with database.atomic():
            role = Role.create(name=name, description=description)
            for permission in rows:
                RolePermission.create(role=role, permission=permission)
    except peewee.IntegrityError:
        raise Conflict(f"a role named {name!r} already exists", "name") from None
    record(actor, "role.changed", name, action="created", permissions=[p.name for p in rows])
    return role_dict(role)


def delete_role(actor: Actor, name: str) -> None:
    role = find_role(name)
    if role.name == ADMIN_ROLE:
        raise Conflict("the admin role is built in and cannot be deleted")
    # Deleting a role takes its permissions from its holders: only for one who could have given them.
    may_grant(actor, role_permissions(role), "name")
    with database.atomic():
        UserRole.delete().where(UserRole.role == role.id).execute()
        RolePermission.delete().where(RolePermission.role == role.id).execute()
        Role.delete().where(Role.id == role.id).execute()
    record(actor, "role.changed", role.name, action="deleted")


def set_role_permissions(actor: Actor, name: str, permissions) -> dict:
    role = find_role(name)
    rows = _permissions_named(permissions)
    wanted = {p.name for p in rows}
    if role.name == ADMIN_ROLE and not set(ADMIN_PERMISSIONS) <= wanted:
        missing = sorted(set(ADMIN_PERMISSIONS) - wanted)
        raise Conflict(f"the admin role must keep {', '.join(missing)}", "permissions")
    if role.name == ADMIN_ROLE and not actor.is_admin:
        raise NotAllowed("only an admin can change the admin role", "permissions")
    before = set(role_permissions(role))
    # Adding grants the permission to every holder of the role; removing takes it from them.
    may_grant(actor, wanted ^ before, "permissions")
    sensitive(actor, "change a role's permissions")
    with database.atomic():
        RolePermission.delete().where(RolePermission.role == role.id).execute()
        for permission in rows:
            RolePermission.create(role=role, permission=permission)
    if before != wanted:
        record(
            actor,
            "role.changed",
            role.name,
            action="permissions_set",
            added=sorted(wanted - before),
            removed=sorted(before - wanted),
        )
    return role_dict(role)


# Permissions -------------------------------------------------------------------


def _permissions_named(names) -> list[Permission]:
    names = list(dict.fromkeys(names))
    found = {p.name: p for p in Permission.select().where(Permission.name.in_(names))} if names else {}
    missing = [n for n in names if n not in found]
    if missing:
        raise Invalid(f"unknown permission(s): {', '.join(missing)}", "permissions")
    return [found[n] for n in names]


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
    return page(Permission.select().order_by(Permission.name), limit, offset, permission_dict)


def create_permission(actor: Actor, *, name: str, description: str = "") -> dict:
    if not PERMISSION_NAME.match(name or ""):
        raise Invalid("permission name must be resource:action in lower-case letters, digits, '.', '_', '-'", "name")
    _check_description(description)
    try:
        permission = Permission.create(name=name, description=description)
    except peewee.IntegrityError:
        raise Conflict(f"a permission named {name!r} already exists", "name") from None
    record(actor, "permission.changed", name, action="created")
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
    record(actor, "permission.changed", permission.name, action="deleted")
