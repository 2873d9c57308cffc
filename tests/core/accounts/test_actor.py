"""Who may do what (accounts.actor), as plain rules: no database, no HTTP (docs/admin-threat-model.md)."""

from __future__ import annotations

import time

import pytest
from gatehouse import errors
from gatehouse.accounts.actor import (
    ADMIN_PERMISSIONS,
    ADMIN_ROLE,
    REAUTHENTICATE_AFTER,
    SYSTEM,
    Actor,
    may_give_role,
    may_grant,
    may_manage,
    sensitive,
)

CLERK = Actor(id="7", user_id=7, via="token", permissions=frozenset({"users:read", "users:write"}))
ADMIN = Actor(id="1", user_id=1, via="token", permissions=frozenset(ADMIN_PERMISSIONS), is_admin=True)


def test_an_actor_grants_only_permissions_it_holds():
    may_grant(CLERK, ["users:read"], "permissions")
    with pytest.raises(errors.NotAllowed, match="do not hold: roles:write") as refused:
        may_grant(CLERK, ["users:read", "roles:write"], "permissions")
    assert (refused.value.status, refused.value.field) == (403, "permissions")


def test_an_admin_and_the_command_line_grant_anything():
    may_grant(ADMIN, ["anything:at-all"], "permissions")
    may_grant(SYSTEM, ["anything:at-all"], "permissions")


def test_a_user_is_managed_only_by_an_actor_holding_all_their_permissions():
    may_manage(CLERK, ["clerks"], ["users:read"], "delete")
    with pytest.raises(errors.NotAllowed, match="holds permissions you do not: audit-logs:read"):
        may_manage(CLERK, ["auditors"], ["audit-logs:read", "users:read"], "delete")


def test_an_admin_is_managed_by_admins_alone_whatever_the_actor_holds():
    everything = Actor(id="8", user_id=8, permissions=frozenset(ADMIN_PERMISSIONS))  # all of them, not the role
    with pytest.raises(errors.NotAllowed, match="only an admin can reset the password of an admin"):
        may_manage(everything, [ADMIN_ROLE], [], "reset the password of")
    may_manage(ADMIN, [ADMIN_ROLE], ADMIN_PERMISSIONS, "reset the password of")


def test_the_admin_role_is_given_and_taken_by_admins_alone():
    everything = Actor(id="8", user_id=8, permissions=frozenset(ADMIN_PERMISSIONS))
    with pytest.raises(errors.NotAllowed, match="only an admin can give or take the admin role"):
        may_give_role(everything, ADMIN_ROLE, ADMIN_PERMISSIONS)
    may_give_role(ADMIN, ADMIN_ROLE, ADMIN_PERMISSIONS)


def test_giving_a_role_grants_its_permissions():
    may_give_role(CLERK, "readers", ["users:read"])
    with pytest.raises(errors.NotAllowed, match="roles:read"):
        may_give_role(CLERK, "auditors", ["roles:read"])


@pytest.mark.parametrize("via", ["session", "portal"])
def test_a_sensitive_change_from_an_old_session_needs_the_password_again(via):
    stale = Actor(id="1", user_id=1, via=via, is_admin=True, auth_time=int(time.time()) - REAUTHENTICATE_AFTER - 5)
    with pytest.raises(errors.ReauthenticationRequired, match="enter your password again to delete a user") as asked:
        sensitive(stale, "delete a user")
    assert (asked.value.status, asked.value.error) == (403, "reauthentication_required")
    sensitive(Actor(id="1", user_id=1, via=via, is_admin=True, auth_time=int(time.time())), "delete a user")


def test_tokens_and_the_command_line_are_not_asked_to_sign_in_again():
    sensitive(ADMIN, "delete a user")  # a token: its holder proved the password when it was issued
    sensitive(SYSTEM, "delete a user")
