"""Who makes a change, and what they may change: the no-escalation rules (docs/admin-threat-model.md).

Every writer in accounts/ takes an Actor and asks these rules before it
writes, whoever calls it: the JSON API and the portal (an actor built from
the caller's token or session), the command line and the dev server (SYSTEM).

- An actor grants only permissions it holds (may_grant), and takes away only
  permissions it holds (removing them from a role, deleting a role).
- An actor manages a user (password, active flag, roles, existence) only if
  it holds every permission that user holds, and an admin only if it is one
  (may_manage); the admin role is given and taken by admins (may_give_role).
- The site keeps at least one active admin (refuse_losing_last_admin).
- A sensitive change made with a session needs a recent sign-in (sensitive).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gatehouse.errors import Conflict, NotAllowed, ReauthenticationRequired
from gatehouse.runtime import audit
from gatehouse.store.database import is_mysql
from gatehouse.store.models import Role, User, UserRole

ADMIN_ROLE = "admin"
# Every permission the admin API checks; the admin role holds them all.
ADMIN_PERMISSIONS = [
    f"{resource}:{action}"
    for resource in ("users", "clients", "roles", "permissions", "audit-logs")
    for action in ("read", "write")
]

# Sensitive changes made with a session need a sign-in at most this old, in seconds (ASVS 7.5).
REAUTHENTICATE_AFTER = 300


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


# The command line runs as root on an auth server, with the database's credentials: it is the site's owner.
SYSTEM = Actor(id="cli", via="cli", is_admin=True)


def sensitive(actor: Actor, what: str) -> None:
    """A sensitive change (`what` completes "enter your password again to ...") from a session
    whose sign-in is older than REAUTHENTICATE_AFTER is refused until the password is entered again."""
    if actor.via in ("session", "portal") and (actor.auth_time or 0) + REAUTHENTICATE_AFTER < int(time.time()):
        raise ReauthenticationRequired(f"enter your password again to {what}")


def may_grant(actor: Actor, permissions, field: str) -> None:
    """An actor grants, or takes away, only permissions it holds (admins: any)."""
    missing = sorted(set(permissions) - actor.permissions)
    if missing and not actor.is_admin:
        raise NotAllowed(f"you cannot grant permissions you do not hold: {', '.join(missing)}", field)


def may_manage(actor: Actor, roles, permissions, what: str) -> None:
    """Changing a user's password, active flag, roles or existence needs every permission they hold
    (`roles` and `permissions` are the user's), and an admin is managed by admins only."""
    if actor.is_admin:
        return
    if ADMIN_ROLE in roles:
        raise NotAllowed(f"only an admin can {what} an admin")
    missing = sorted(set(permissions) - actor.permissions)
    if missing:
        raise NotAllowed(f"you cannot {what} a user who holds permissions you do not: {', '.join(missing)}")


def may_give_role(actor: Actor, role_name: str, permissions, field: str = "role") -> None:
    """Giving or taking a role grants or takes its `permissions`; the admin role is for admins alone."""
    if role_name == ADMIN_ROLE and not actor.is_admin:
        raise NotAllowed("only an admin can give or take the admin role", field)
    may_grant(actor, permissions, field)


def refuse_losing_last_admin(user: User, what: str) -> None:
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


def record(actor: Actor, event: str, subject: str | None, **details) -> None:
    """One audit event for one change, naming who made it and how."""
    # Detail keys must not collide with logging.LogRecord attributes (name, msg, ...).
    audit.record(event, actor=actor.id, subject=subject, ip=actor.ip, via=actor.via, **details)
