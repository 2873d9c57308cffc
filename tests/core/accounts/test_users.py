"""Users (accounts.users), written as the command line and as limited actors: the account rules and no escalation."""

from __future__ import annotations

import json
import time

import pytest
from gatehouse import errors
from gatehouse.accounts import users
from gatehouse.accounts.actor import ADMIN_PERMISSIONS, ADMIN_ROLE, REAUTHENTICATE_AFTER, SYSTEM
from gatehouse.accounts.password_policy import PasswordRejected
from gatehouse.accounts.username_policy import UnsafeUsername
from gatehouse.crypto.passwords import verify_password
from gatehouse.store.models import AuditLog, AuthorizationCode, Consent, Grant, Session, User, UserRole


def new_user(actor, username, **fields):
    return users.create_user(actor, username=username, password_hash="not-a-hash", **fields)


def grant_for(user_id: int, grant_id: str) -> None:
    now = int(time.time())
    Grant.create(
        id=grant_id,
        client_id="app",
        user_id=user_id,
        scope="openid",
        auth_time=now,
        created_at=now,
        expires_at=now + 60,
    )


def session_for(user_id: int) -> None:
    now = int(time.time())
    Session.create(
        id=f"s-{user_id}", user_id=user_id, csrf_token="c", auth_time=now, created_at=now, expires_at=now + 60
    )


# Creating users: the same rules whoever writes ----------------------------------------------


def test_a_user_created_by_the_command_line_is_recorded_and_holds_no_hash(db):
    created = new_user(SYSTEM, "alice", email="alice@example.test", name="Alice")
    assert created["username"] == "alice" and created["roles"] == [] and created["permissions"] == []
    assert not any("hash" in key for key in created)
    event = AuditLog.get(AuditLog.event == "user.created")
    assert (event.actor, event.subject) == ("cli", str(created["id"]))
    assert json.loads(event.details)["via"] == "cli"


def test_the_system_entry_point_checks_and_hashes_the_password_and_gives_the_admin_role(db):
    row = users.create_user_as_system("root", "correct horse battery staple", admin=True)
    assert verify_password(User.get_by_id(row.id).password_hash, "correct horse battery staple")
    assert users.get_user(row.id)["roles"] == [ADMIN_ROLE]
    with pytest.raises(PasswordRejected) as refused:
        users.create_user_as_system("bob", "password123")
    assert (refused.value.field, refused.value.reason) == ("password", "common")
    assert not User.select().where(User.username == "bob").exists()


def test_a_new_password_must_not_contain_the_username_or_the_email_name(db):
    with pytest.raises(PasswordRejected, match="must not contain the username") as refused:
        users.hash_new_password("bob-the-builder!", username="bob")
    assert refused.value.status == 400
    with pytest.raises(PasswordRejected, match="email address's name"):
        users.hash_new_password("robert-smith-99", username="bob", email="robert-smith@example.test")


@pytest.mark.parametrize("twin", ["ALICE", "Alice", "ａｌｉｃｅ"])
def test_a_username_differing_only_in_case_or_width_is_taken(db, twin):
    new_user(SYSTEM, "alice")
    with pytest.raises(errors.Conflict, match="already exists") as refused:
        new_user(SYSTEM, twin)
    assert refused.value.field == "username"


def test_a_username_that_looks_like_an_existing_one_is_refused(db):
    new_user(SYSTEM, "alice")
    with pytest.raises(errors.Conflict, match="looks like the existing username 'alice'"):
        new_user(SYSTEM, "aIice")  # a capital I


def test_a_username_with_a_bidirectional_override_is_refused_naming_the_character(db):
    with pytest.raises(UnsafeUsername, match="username must not hold U\\+202E RIGHT-TO-LEFT OVERRIDE") as refused:
        new_user(SYSTEM, "admin\u202egnp.exe")
    assert refused.value.field == "username" and isinstance(refused.value, errors.Invalid)
    assert User.select().count() == 0


@pytest.mark.parametrize("username", ["", "with space", "x" * 151])
def test_a_username_must_be_1_to_150_characters_without_spaces(db, username):
    with pytest.raises(users.UserError, match="without spaces") as refused:
        new_user(SYSTEM, username)
    assert refused.value.field == "username"


def test_emails_are_unique_after_nfkc_and_case_folding(db):
    new_user(SYSTEM, "alice", email="Alice@Example.test")
    with pytest.raises(errors.Conflict, match="another user has that email") as refused:
        new_user(SYSTEM, "bob", email="alice@example.TEST")
    assert refused.value.field == "email"


def test_an_email_must_be_an_address(db):
    with pytest.raises(users.UserError, match="is not an email address") as refused:
        new_user(SYSTEM, "alice", email="alice")
    assert refused.value.field == "email"


# No escalation -------------------------------------------------------------------------------


def test_a_user_is_created_with_roles_whose_permissions_the_actor_holds(db, make_user, actor_of, role_with):
    clerk = actor_of(make_user("clerk", "users:write", "users:read"))
    role_with("readers", "users:read")
    role_with("auditors", "audit-logs:read")
    assert new_user(clerk, "reader", roles=["readers"])["roles"] == ["readers"]
    with pytest.raises(errors.NotAllowed, match="audit-logs:read") as refused:
        new_user(clerk, "auditor", roles=["auditors"])
    assert refused.value.field == "roles"
    assert not User.select().where(User.username == "auditor").exists()


def test_only_an_admin_gives_the_admin_role(db, make_user, actor_of):
    make_user("root", admin=True)
    everything = actor_of(make_user("almost", *ADMIN_PERMISSIONS))  # every permission, but not the role
    with pytest.raises(errors.NotAllowed, match="only an admin can give or take the admin role"):
        new_user(everything, "usurper", roles=[ADMIN_ROLE])
    created = make_user("helper")
    with pytest.raises(errors.NotAllowed, match="only an admin"):
        users.assign_role(everything, created["id"], ADMIN_ROLE)
    assert users.get_user(created["id"])["roles"] == []


def test_a_password_is_reset_only_by_an_actor_holding_all_the_users_permissions(db, make_user, actor_of, tokens):
    clerk = actor_of(make_user("clerk", "users:write"))
    auditor = make_user("auditor", "audit-logs:read")
    with pytest.raises(errors.NotAllowed, match="reset the password of a user who holds permissions you do not"):
        users.update_user(clerk, auditor["id"], {"password_hash": "new"}, tokens)
    assert User.get_by_id(auditor["id"]).password_hash == "not-a-hash"
    peer = make_user("peer", "users:write")
    users.update_user(clerk, peer["id"], {"password_hash": "new"}, tokens)
    assert User.get_by_id(peer["id"]).password_hash == "new"


def test_changing_a_name_or_email_needs_only_users_write(db, make_user, actor_of, tokens):
    clerk = actor_of(make_user("clerk", "users:write"))
    root = make_user("root", admin=True)
    changed = users.update_user(clerk, root["id"], {"name": "The Root", "email": "root@example.org"}, tokens)
    assert (changed["name"], changed["email"]) == ("The Root", "root@example.org")


def test_an_admin_is_deactivated_only_by_an_admin(db, make_user, actor_of, tokens):
    make_user("root", admin=True)
    other = make_user("other", admin=True)
    clerk = actor_of(make_user("clerk", "users:write"))
    with pytest.raises(errors.NotAllowed, match="only an admin can activate or deactivate an admin"):
        users.update_user(clerk, other["id"], {"is_active": False}, tokens)
    assert User.get_by_id(other["id"]).is_active


def test_a_role_is_taken_away_only_by_an_actor_holding_its_permissions(db, make_user, actor_of):
    clerk = actor_of(make_user("clerk", "users:write", "roles:write"))
    auditor = make_user("auditor", "audit-logs:read")
    with pytest.raises(errors.NotAllowed):
        users.remove_role(clerk, auditor["id"], "auditor-role")
    assert users.get_user(auditor["id"])["roles"] == ["auditor-role"]


# The last admin, and oneself -------------------------------------------------------------------


def test_the_last_active_admin_cannot_be_deactivated_demoted_or_deleted(db, make_user, tokens):
    root = make_user("root", admin=True)
    with pytest.raises(errors.Conflict, match="last active admin and cannot be deactivated"):
        users.update_user(SYSTEM, root["id"], {"is_active": False}, tokens)
    with pytest.raises(errors.Conflict, match="cannot be demoted"):
        users.remove_role(SYSTEM, root["id"], ADMIN_ROLE)
    with pytest.raises(errors.Conflict, match="cannot be deleted"):
        users.delete_user(SYSTEM, root["id"], tokens)
    assert users.get_user(root["id"])["roles"] == [ADMIN_ROLE] and User.get_by_id(root["id"]).is_active


def test_with_a_second_active_admin_the_first_may_be_demoted(db, make_user):
    root = make_user("root", admin=True)
    make_user("second", admin=True)
    assert users.remove_role(SYSTEM, root["id"], ADMIN_ROLE)["roles"] == []


def test_an_inactive_admin_does_not_count_as_the_one_left(db, make_user, tokens):
    root = make_user("root", admin=True)
    sleeper = make_user("sleeper", admin=True)
    users.update_user(SYSTEM, sleeper["id"], {"is_active": False}, tokens)
    with pytest.raises(errors.Conflict, match="last active admin"):
        users.delete_user(SYSTEM, root["id"], tokens)


def test_an_actor_cannot_deactivate_or_delete_itself_or_drop_its_own_admin_role(db, make_user, actor_of, tokens):
    root = make_user("root", admin=True)
    make_user("second", admin=True)
    me = actor_of(root)
    with pytest.raises(errors.Conflict, match="your own account"):
        users.update_user(me, root["id"], {"is_active": False}, tokens)
    with pytest.raises(errors.Conflict, match="your own account"):
        users.delete_user(me, root["id"], tokens)
    with pytest.raises(errors.Conflict, match="your own admin role"):
        users.remove_role(me, root["id"], ADMIN_ROLE)


# Re-authentication -----------------------------------------------------------------------------


def test_a_password_reset_from_an_old_session_needs_the_password_again(db, make_user, actor_of, tokens):
    root = make_user("root", admin=True)
    target = make_user("target")
    stale = actor_of(root, via="session", auth_time=int(time.time()) - REAUTHENTICATE_AFTER - 5)
    with pytest.raises(errors.ReauthenticationRequired):
        users.update_user(stale, target["id"], {"password_hash": "new"}, tokens)
    assert User.get_by_id(target["id"]).password_hash == "not-a-hash"
    users.update_user(actor_of(root, via="session"), target["id"], {"password_hash": "new"}, tokens)
    assert User.get_by_id(target["id"]).password_hash == "new"


def test_a_name_change_from_an_old_session_is_not_sensitive(db, make_user, actor_of, tokens):
    root = make_user("root", admin=True)
    stale = actor_of(root, via="portal", auth_time=int(time.time()) - REAUTHENTICATE_AFTER - 5)
    assert users.update_user(stale, root["id"], {"name": "Root"}, tokens)["name"] == "Root"


# What follows from a change --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"), [({"is_active": False}, "user_deactivated"), ({"password_hash": "new"}, "password_reset")]
)
def test_deactivation_and_a_password_reset_sign_the_user_out_and_revoke_their_grants(
    db, make_user, tokens, changes, reason
):
    alice = make_user("alice")
    bob = make_user("bob")
    for user, grant_id in ((alice, "g1"), (alice, "g2"), (bob, "g3")):
        grant_for(user["id"], grant_id)
    session_for(alice["id"])
    session_for(bob["id"])
    users.update_user(SYSTEM, alice["id"], changes, tokens)
    assert sorted(tokens.revoked) == [("g1", reason), ("g2", reason)]
    assert not Session.select().where(Session.user_id == alice["id"]).exists()
    assert Session.select().where(Session.user_id == bob["id"]).exists()


def test_a_change_that_changes_nothing_is_not_written_or_recorded(db, make_user, tokens):
    alice = make_user("alice")
    before = AuditLog.select().count()
    users.update_user(SYSTEM, alice["id"], {"name": None, "is_active": True}, tokens)
    assert AuditLog.select().count() == before and tokens.revoked == []


def test_a_deleted_user_leaves_nothing_that_names_their_id(db, make_user, tokens):
    alice = make_user("alice", "users:read")
    grant_for(alice["id"], "g1")
    session_for(alice["id"])
    now = int(time.time())
    Consent.create(user_id=alice["id"], client_id="app", scope="openid", created_at=now)
    AuthorizationCode.create(
        code_digest="d",
        grant_id="g1",
        client_id="app",
        user_id=alice["id"],
        redirect_uri="https://app.example.test/cb",
        scope="openid",
        code_challenge="c",
        code_challenge_method="S256",
        auth_time=now,
        expires_at=now + 60,
    )
    users.delete_user(SYSTEM, alice["id"], tokens)
    assert tokens.revoked == [("g1", "user_deleted")]
    for model, column in ((User, User.id), (UserRole, UserRole.user), (Session, Session.user_id)):
        assert not model.select().where(column == alice["id"]).exists(), model
    assert not Consent.select().exists() and not AuthorizationCode.select().exists()


def test_unknown_fields_and_nulls_are_refused_naming_the_field(db, make_user, tokens):
    alice = make_user("alice")
    with pytest.raises(errors.Invalid, match="cannot change username") as refused:
        users.update_user(SYSTEM, alice["id"], {"username": "mallory"}, tokens)
    assert refused.value.field == "username"
    with pytest.raises(errors.Invalid, match="is_active cannot be null"):
        users.update_user(SYSTEM, alice["id"], {"is_active": None}, tokens)


def test_a_missing_user_is_not_found(db, tokens):
    with pytest.raises(errors.NotFound, match="no user with id 404") as missing:
        users.update_user(SYSTEM, 404, {"name": "x"}, tokens)
    assert missing.value.status == 404


def test_users_are_listed_a_page_at_a_time_with_their_roles(db, make_user):
    for name in ("a", "b", "c"):
        make_user(name, "users:read")
    page = users.list_users(limit=2, offset=1).as_dict()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert [(u["username"], u["roles"]) for u in page["items"]] == [("b", ["b-role"]), ("c", ["c-role"])]
