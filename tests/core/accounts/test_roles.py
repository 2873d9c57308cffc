"""Roles and permissions (accounts.roles): granting is holding, and the admin role is built in."""

from __future__ import annotations

import pytest
from gatehouse import errors
from gatehouse.accounts import roles
from gatehouse.accounts.actor import ADMIN_PERMISSIONS, ADMIN_ROLE, SYSTEM
from gatehouse.store.models import AuditLog, Permission, Role, UserRole


def test_a_role_is_created_with_permissions_the_actor_holds(db, make_user, actor_of, role_with):
    clerk = actor_of(make_user("clerk", "users:read", "roles:write"))
    role_with("auditors", "roles:read")
    assert roles.create_role(clerk, name="readers", permissions=["users:read"])["permissions"] == ["users:read"]
    with pytest.raises(errors.NotAllowed, match="you cannot grant permissions you do not hold: roles:read") as refused:
        roles.create_role(clerk, name="escalators", permissions=["roles:read"])
    assert refused.value.field == "permissions"
    assert not Role.select().where(Role.name == "escalators").exists()


def test_setting_a_roles_permissions_needs_those_added_and_those_removed(db, make_user, actor_of, role_with):
    clerk = actor_of(make_user("clerk", "users:read", "roles:write"))
    role_with("mixed", "users:read", "audit-logs:read")
    with pytest.raises(errors.NotAllowed, match="audit-logs:read"):  # removing takes it from every holder
        roles.set_role_permissions(clerk, "mixed", ["users:read"])
    assert roles.get_role("mixed")["permissions"] == ["audit-logs:read", "users:read"]
    role_with("plain", "users:read")
    assert roles.set_role_permissions(clerk, "plain", ["users:read", "roles:write"])["permissions"] == [
        "roles:write",
        "users:read",
    ]


def test_deleting_a_role_needs_its_permissions_and_takes_it_from_its_holders(db, make_user, actor_of, role_with):
    clerk = actor_of(make_user("clerk", "users:read", "roles:write"))
    role_with("auditors", "audit-logs:read")
    with pytest.raises(errors.NotAllowed):
        roles.delete_role(clerk, "auditors")
    holder = make_user("holder", "users:read")
    roles.delete_role(clerk, "holder-role")
    assert not UserRole.select().where(UserRole.user == holder["id"]).exists()
    assert AuditLog.select().where(AuditLog.event == "role.changed", AuditLog.subject == "holder-role").exists()


def test_the_admin_role_keeps_every_admin_permission_and_cannot_be_deleted(db, make_user):
    make_user("root", admin=True)
    with pytest.raises(errors.Conflict, match="the admin role must keep users:write") as refused:
        roles.set_role_permissions(SYSTEM, ADMIN_ROLE, [p for p in ADMIN_PERMISSIONS if p != "users:write"])
    assert refused.value.field == "permissions"
    with pytest.raises(errors.Conflict, match="built in"):
        roles.delete_role(SYSTEM, ADMIN_ROLE)
    assert roles.get_role(ADMIN_ROLE)["permissions"] == sorted(ADMIN_PERMISSIONS)


def test_only_an_admin_changes_the_admin_role(db, make_user, actor_of):
    make_user("root", admin=True)
    everything = actor_of(make_user("almost", *ADMIN_PERMISSIONS, "extra:read"))
    with pytest.raises(errors.NotAllowed, match="only an admin can change the admin role"):
        roles.set_role_permissions(everything, ADMIN_ROLE, [*ADMIN_PERMISSIONS, "extra:read"])


@pytest.mark.parametrize("name", ["Readers", "-readers", "", "with space", "x" * 101])
def test_a_role_name_is_lower_case_letters_digits_and_dot_dash_underscore(db, name):
    with pytest.raises(errors.Invalid, match="role name") as refused:
        roles.create_role(SYSTEM, name=name)
    assert refused.value.field == "name"


def test_a_role_name_is_taken_once(db):
    roles.create_role(SYSTEM, name="readers")
    with pytest.raises(errors.Conflict, match="already exists"):
        roles.create_role(SYSTEM, name="readers")


def test_an_unknown_permission_is_named(db):
    with pytest.raises(errors.Invalid, match="unknown permission\\(s\\): nope:read") as refused:
        roles.create_role(SYSTEM, name="readers", permissions=["nope:read"])
    assert refused.value.field == "permissions"


@pytest.mark.parametrize("name", ["users", "Users:read", "users:", ":read", "users:read:all"])
def test_a_permission_is_resource_colon_action_in_lower_case(db, name):
    with pytest.raises(errors.Invalid, match="resource:action"):
        roles.create_permission(SYSTEM, name=name)
    assert not Permission.select().where(Permission.name == name).exists()


def test_a_permission_the_admin_api_checks_cannot_be_deleted(db):
    roles.ensure_admin_role()
    with pytest.raises(errors.Conflict, match="built in"):
        roles.delete_permission(SYSTEM, "users:write")
    roles.create_permission(SYSTEM, name="reports:read")
    roles.delete_permission(SYSTEM, "reports:read")
    assert not Permission.select().where(Permission.name == "reports:read").exists()


def test_ensure_admin_role_is_idempotent(db):
    first = roles.ensure_admin_role()
    assert roles.ensure_admin_role().id == first.id
    assert roles.get_role(ADMIN_ROLE)["permissions"] == sorted(ADMIN_PERMISSIONS)
