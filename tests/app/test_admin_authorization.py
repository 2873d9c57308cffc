"""Who may do what on the admin surface (docs/admin-threat-model.md), each rule tried as an attacker would.

- The admin API is a resource server of its own: only a token issued to an
  admin client, with scope `admin` and the admin API as its audience, works
  there (RFC 8707, RFC 9068 §4).
- No escalation: an actor grants only permissions it holds, and manages only
  users whose permissions it holds all of; the admin role and admin clients
  are for admins; the last active admin stays.
- Sensitive changes made with a session need a recent sign-in (ASVS 7.5).
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import (
    ISSUER,
    MYSQL_URL,
    PASSWORD,
    REDIRECT,
    authorize_params,
    basic,
    get_code,
    login,
    redeem,
    register,
    run_cli,
)
from gatehouse import errors
from gatehouse.accounts import users
from gatehouse.accounts.actor import REAUTHENTICATE_AFTER, SYSTEM, Actor
from gatehouse.accounts.roles import ensure_admin_role
from gatehouse.accounts.users import create_user_as_system as create_user
from gatehouse.oauth.admin_resource import admin_audience
from gatehouse.store.models import Client, Consent, Grant, Session, User, UserRole
from helpers import ADMIN_CLIENT, API, admin_client, auth, role_with, signed_admin_token, token_for


def user_with(name, *permissions):
    """A user holding exactly `permissions` through a role of their own."""
    user = create_user(name, PASSWORD, email=f"{name}@example.test")
    role = role_with(f"{name}-role", *permissions)
    UserRole.create(user=user, role=role)
    return user


def api_token(state, user):
    return auth(token_for(state, user))


# 1. The admin API accepts only tokens issued for it -------------------------------------------


def test_an_ordinary_relying_partys_token_of_an_admin_does_not_work_at_the_admin_api(http, state, admin_user, webapp):
    """The critical finding: an admin signing in to any relying party handed it a full admin credential."""
    code, verifier, _ = get_code(http, username="root-admin")
    token = redeem(http, code, verifier, webapp).json()["access_token"]
    http.cookies.clear()
    headers = auth(token)
    assert http.get(f"{API}/users", headers=headers).status_code == 401
    response = http.post(f"{API}/users", json={"username": "mallory", "password": PASSWORD}, headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert http.put(f"{API}/users/{admin_user.id}/roles/admin", headers=headers).status_code == 401
    assert not User.select().where(User.username == "mallory").exists()


def test_an_ordinary_client_cannot_obtain_the_admin_scope(http, state, admin_user, webapp):
    # Not at registration ...
    with pytest.raises(ValueError, match="only an admin client may hold the admin scope"):
        register(client_id="sneaky", name="Sneaky", scope="openid admin")
    # ... and not at the authorization endpoint, even when its stored registration says so.
    Client.update(scope="openid profile email offline_access admin").where(Client.client_id == "webapp").execute()
    login(http, "root-admin")
    response = http.get(
        "/api/v2/oauth/authorize",
        params=authorize_params(scope="openid admin", challenge="x" * 43),
    )
    assert response.status_code == 302
    assert "error=invalid_scope" in response.headers["location"]


def test_a_token_with_the_admin_audience_but_without_the_admin_scope_is_refused(http, state, admin_user):
    token = signed_admin_token(state, admin_user, scope="openid")
    response = http.get(f"{API}/users", headers=auth(token))
    assert response.status_code == 403


def test_an_admin_token_of_a_client_that_is_not_an_admin_client_is_refused(http, state, admin_user, webapp):
    token = signed_admin_token(state, admin_user, client_id="webapp")
    assert http.get(f"{API}/users", headers=auth(token)).status_code == 401


def test_admin_tokens_stop_working_when_their_client_is_deactivated(http, state, admin_user):
    headers = api_token(state, admin_user)
    assert http.get(f"{API}/users", headers=headers).status_code == 200
    Client.update(is_active=False).where(Client.client_id == ADMIN_CLIENT).execute()
    assert http.get(f"{API}/users", headers=headers).status_code == 401


def test_admin_tokens_stop_working_when_their_client_stops_being_an_admin_client(http, state, admin_user):
    headers = api_token(state, admin_user)
    Client.update(is_admin=False).where(Client.client_id == ADMIN_CLIENT).execute()
    assert http.get(f"{API}/users", headers=headers).status_code == 401


def test_only_an_admin_can_register_or_make_an_admin_client(http, state, admin_user):
    clerk = user_with("clerk", "clients:read", "clients:write")
    headers = api_token(state, clerk)
    body = {
        "client_id": "console2",
        "name": "Console",
        "grant_types": ["client_credentials"],
        "scope": "admin",
        "is_admin": True,
    }
    response = http.post(f"{API}/clients", json=body, headers=headers)
    assert response.status_code == 403 and response.json()["field"] == "is_admin"
    assert not Client.select().where(Client.client_id == "console2").exists()
    register(client_id="plain", name="Plain", redirect_uris=[], grant_types=["client_credentials"], scope="")
    response = http.patch(f"{API}/clients/plain", json={"is_admin": True}, headers=headers)
    assert response.status_code == 403
    assert not Client.get(Client.client_id == "plain").is_admin
    # An admin may.
    response = http.post(f"{API}/clients", json=body, headers=api_token(state, admin_user))
    assert response.status_code == 201 and response.json()["is_admin"] is True


def test_a_clients_writer_cannot_take_over_an_admin_client(http, state, admin_user):
    clerk = user_with("clerk", "clients:read", "clients:write")
    headers = api_token(state, clerk)
    admin_client()
    assert http.post(f"{API}/clients/{ADMIN_CLIENT}/rotate-secret", headers=headers).status_code == 403
    response = http.patch(
        f"{API}/clients/{ADMIN_CLIENT}", json={"redirect_uris": ["https://evil.example/cb"]}, headers=headers
    )
    assert response.status_code == 403
    assert http.delete(f"{API}/clients/{ADMIN_CLIENT}", headers=headers).status_code == 403
    assert Client.get(Client.client_id == ADMIN_CLIENT).redirect_uris == [REDIRECT]


def test_client_ids_of_digits_alone_are_refused_so_a_clients_sub_never_equals_a_users(http, state, admin_user):
    body = {"client_id": "42", "name": "Digits", "grant_types": ["client_credentials"], "scope": ""}
    response = http.post(f"{API}/clients", json=body, headers=api_token(state, admin_user))
    assert response.status_code == 400 and response.json()["field"] == "client_id"


# The documented way to an admin token: gatehouse admin-token ---------------------------------


def test_gatehouse_admin_token_gives_a_token_the_admin_api_accepts(http, state, env, admin_user):
    admin_client()

    def run(*args, stdin):
        return run_cli(env, *args, stdin=stdin)

    result = run("admin-token", "--username", "ROOT-ADMIN", "--client-id", ADMIN_CLIENT, "--password-stdin",
                 stdin=PASSWORD + "\n")  # fmt: skip
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert http.get(f"{API}/users", headers=auth(token)).status_code == 200
    claims = state.tokens.signer.verify(token)
    assert claims["aud"] == admin_audience(ISSUER) and claims["scope"] == "admin"
    # A wrong password, an unknown user, a client that is not an admin client: refused, no token.
    wrong = run("admin-token", "--username", "root-admin", "--client-id", ADMIN_CLIENT, "--password-stdin",
                stdin="wrong password\n")  # fmt: skip
    assert wrong.returncode == 1 and wrong.stdout == "" and "wrong username or password" in wrong.stderr
    register(client_id="plain", name="Plain", redirect_uris=[], grant_types=["client_credentials"], scope="")
    plain = run("admin-token", "--username", "root-admin", "--client-id", "plain", "--password-stdin",
                stdin=PASSWORD + "\n")  # fmt: skip
    assert plain.returncode == 1 and "not an active admin client" in plain.stderr
    bad_ttl = run("admin-token", "--username", "root-admin", "--ttl", "0", "--password-stdin", stdin=PASSWORD + "\n")
    assert bad_ttl.returncode == 2 and "--ttl" in bad_ttl.stderr


# 3. No escalation ------------------------------------------------------------------------------


def test_users_write_alone_cannot_reset_an_admins_password(http, state, admin_user):
    clerk = user_with("clerk", "users:read", "users:write")
    response = http.patch(
        f"{API}/users/{admin_user.id}", json={"password": "taken over at last"}, headers=api_token(state, clerk)
    )
    assert response.status_code == 403 and response.json()["error"] == "access_denied"
    http.cookies.clear()
    login(http, "root-admin", "taken over at last")
    assert http.get("/admin/users").status_code != 200  # the attacker's password does not sign in


def test_a_user_writer_cannot_manage_a_user_holding_permissions_it_lacks(http, state, admin_user):
    clerk = user_with("clerk", "users:read", "users:write")
    auditor = user_with("auditor", "audit-logs:read")
    headers = api_token(state, clerk)
    assert http.patch(f"{API}/users/{auditor.id}", json={"is_active": False}, headers=headers).status_code == 403
    assert http.delete(f"{API}/users/{auditor.id}", headers=headers).status_code == 403
    assert User.get_by_id(auditor.id).is_active
    # A user whose permissions the clerk holds all of is the clerk's to manage; name and e-mail need no superset.
    intern = user_with("intern", "users:read")
    assert http.patch(f"{API}/users/{intern.id}", json={"is_active": False}, headers=headers).status_code == 200
    assert http.patch(f"{API}/users/{auditor.id}", json={"name": "Aud"}, headers=headers).status_code == 200


def test_roles_write_alone_cannot_add_permissions_to_its_own_role(http, state, admin_user):
    clerk = user_with("clerk", "roles:read", "roles:write")
    headers = api_token(state, clerk)
    wanted = {"permissions": ["roles:read", "roles:write", "users:write"]}
    response = http.put(f"{API}/roles/clerk-role/permissions", json=wanted, headers=headers)
    assert response.status_code == 403 and "users:write" in response.json()["error_description"]
    assert http.get(f"{API}/roles/clerk-role", headers=headers).json()["permissions"] == ["roles:read", "roles:write"]
    response = http.post(f"{API}/roles", json={"name": "mine", "permissions": ["users:write"]}, headers=headers)
    assert response.status_code == 403
    assert http.get(f"{API}/roles/mine", headers=headers).status_code == 404


def test_users_and_roles_write_cannot_give_themselves_admin(http, state, admin_user):
    clerk = user_with("clerk", "users:read", "users:write", "roles:read", "roles:write")
    headers = api_token(state, clerk)
    assert http.put(f"{API}/users/{clerk.id}/roles/admin", headers=headers).status_code == 403
    role_with("powerful", "audit-logs:read")
    assert http.put(f"{API}/users/{clerk.id}/roles/powerful", headers=headers).status_code == 403
    names = [r.role.name for r in UserRole.select().where(UserRole.user == clerk.id)]
    assert names == ["clerk-role"]


def test_an_actor_may_grant_what_it_holds(http, state, admin_user):
    clerk = user_with("clerk", "users:read", "users:write", "roles:read", "roles:write")
    headers = api_token(state, clerk)
    response = http.post(f"{API}/roles", json={"name": "reader", "permissions": ["users:read"]}, headers=headers)
    assert response.status_code == 201
    intern = user_with("intern")
    assert http.put(f"{API}/users/{intern.id}/roles/reader", headers=headers).status_code == 200


def test_the_last_active_admin_cannot_be_deactivated_demoted_or_deleted(state, admin_user):
    with pytest.raises(errors.Conflict, match="last active admin"):
        users.update_user(SYSTEM, admin_user.id, {"is_active": False}, state.tokens)
    with pytest.raises(errors.Conflict, match="last active admin"):
        users.remove_role(SYSTEM, admin_user.id, "admin")
    with pytest.raises(errors.Conflict, match="last active admin"):
        users.delete_user(SYSTEM, admin_user.id, state.tokens)
    assert User.get_by_id(admin_user.id).is_active
    # With a second active admin, the first may go.
    second = create_user("second-admin", PASSWORD, admin=True)
    users.remove_role(SYSTEM, admin_user.id, "admin")
    with pytest.raises(errors.Conflict, match="last active admin"):
        users.update_user(SYSTEM, second.id, {"is_active": False}, state.tokens)


@pytest.mark.skipif(not MYSQL_URL, reason="SQLite serialises every write; the race needs MariaDB's row locks")
def test_two_admins_demoting_each_other_at_once_leave_one_admin(state, admin_user):
    second = create_user("second-admin", PASSWORD, admin=True)
    results = []

    def demote(actor_id, target_id):
        actor = Actor(id=str(actor_id), user_id=actor_id, is_admin=True, via="token")
        try:
            users.remove_role(actor, target_id, "admin")
            results.append("demoted")
        except errors.GatehouseError as exc:
            results.append(exc.error)
        except Exception as exc:  # noqa: BLE001 (a deadlock victim is refused too: never both demoted)
            results.append(type(exc).__name__)

    threads = [
        threading.Thread(target=demote, args=(admin_user.id, second.id)),
        threading.Thread(target=demote, args=(second.id, admin_user.id)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    admins = UserRole.select().join_from(UserRole, User).where(UserRole.role == ensure_admin_role().id).count()
    assert admins == 1, results


# Revocations that follow from admin changes ----------------------------------------------------


def test_a_password_reset_by_an_admin_revokes_the_users_grants(http, state, admin_user, user, webapp):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    http.cookies.clear()
    response = http.patch(
        f"{API}/users/{user.id}", json={"password": "a new password 123"}, headers=api_token(state, admin_user)
    )
    assert response.status_code == 200
    refresh = http.post(
        "/api/v2/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(*webapp),
    )
    assert refresh.json()["error"] == "invalid_grant"
    assert state.tokens.is_revoked(state.tokens.signer.verify(tokens["access_token"]))
    assert not Session.select().where(Session.user_id == user.id).exists()


def test_deactivating_a_client_revokes_its_grants(http, state, admin_user, user, webapp):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    http.cookies.clear()
    response = http.patch(f"{API}/clients/webapp", json={"is_active": False}, headers=api_token(state, admin_user))
    assert response.status_code == 200
    assert Grant.select().where((Grant.client_id == "webapp") & Grant.revoked_at.is_null()).count() == 0
    assert state.tokens.is_revoked(state.tokens.signer.verify(tokens["access_token"]))
    # Active again, its old tokens stay dead.
    http.patch(f"{API}/clients/webapp", json={"is_active": True}, headers=api_token(state, admin_user))
    refresh = http.post(
        "/api/v2/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers=basic(*webapp),
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_changing_a_clients_redirect_uris_forgets_its_consents(http, state, admin_user, user, webapp):
    get_code(http)
    assert Consent.select().where(Consent.client_id == "webapp").count() == 1
    uris = {"redirect_uris": [REDIRECT, "https://app.example.test/other"]}
    assert http.patch(f"{API}/clients/webapp", json=uris, headers=api_token(state, admin_user)).status_code == 200
    assert Consent.select().where(Consent.client_id == "webapp").count() == 0


# Subjects --------------------------------------------------------------------------------------


def test_a_deleted_users_subject_is_never_given_to_another_user(http, state, admin_user):
    headers = api_token(state, admin_user)
    first = http.post(f"{API}/users", json={"username": "temp", "password": PASSWORD}, headers=headers).json()
    assert http.delete(f"{API}/users/{first['id']}", headers=headers).status_code == 204
    second = http.post(f"{API}/users", json={"username": "next", "password": PASSWORD}, headers=headers).json()
    assert second["id"] > first["id"]


# Input the API must refuse, not crash on -------------------------------------------------------


@pytest.mark.parametrize("since", ["²", "١٢٣", "1²", "１２"])
def test_audit_since_in_non_ascii_digits_is_400(http, state, admin_user, since):
    response = http.get(f"{API}/audit-logs", params={"since": since}, headers=api_token(state, admin_user))
    assert response.status_code == 400 and response.json()["field"] == "since"


# 3. Re-authentication for sensitive changes made with a session (ASVS 7.5) ---------------------


def test_a_sensitive_change_with_an_old_session_asks_for_the_password_again(http, state, admin_user, user):
    login(http, "root-admin")
    csrf = http.get("/admin/users").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    old = int(time.time()) - REAUTHENTICATE_AFTER - 5
    Session.update(auth_time=old).where(Session.user_id == admin_user.id).execute()
    headers = {"X-CSRF-Token": csrf}
    response = http.patch(f"{API}/users/{user.id}", json={"is_active": False}, headers=headers)
    assert response.status_code == 403 and response.json()["error"] == "reauthentication_required"
    assert User.get_by_id(user.id).is_active
    # A harmless change needs no new sign-in.
    assert http.patch(f"{API}/users/{user.id}", json={"name": "Al"}, headers=headers).status_code == 200
    # A fresh sign-in allows it.
    Session.update(auth_time=int(time.time())).where(Session.user_id == admin_user.id).execute()
    assert http.patch(f"{API}/users/{user.id}", json={"is_active": False}, headers=headers).status_code == 200


# 4. One write path: the same account rules whoever writes ----------------------------------------


def test_a_common_password_is_refused_by_the_api_and_the_command_line_alike(http, state, admin_user):
    headers = api_token(state, admin_user)
    response = http.post(f"{API}/users", json={"username": "bob", "password": "password123"}, headers=headers)
    assert response.status_code == 400 and response.json()["field"] == "password"
    response = http.post(f"{API}/users", json={"username": "bob", "password": "bob-the-builder!"}, headers=headers)
    assert response.status_code == 400 and "username" in response.json()["error_description"]
    with pytest.raises(ValueError, match="common"):
        create_user("bob", "password123")
    assert not User.select().where(User.username == "bob").exists()
    # A password reset follows the same rule, with the target's own name.
    response = http.patch(f"{API}/users/{admin_user.id}", json={"password": "root-admin-2024"}, headers=headers)
    assert response.status_code == 400 and response.json()["field"] == "password"


@pytest.mark.parametrize(
    "username", ["ali\u202ecod.exe", "zero\u200bwidth", "bell\x07", "bidi\u2066x", "hangul\u3164filler"]
)
def test_usernames_with_control_format_or_bidi_characters_are_refused(http, state, admin_user, username):
    response = http.post(
        f"{API}/users", json={"username": username, "password": PASSWORD}, headers=api_token(state, admin_user)
    )
    assert response.status_code == 400 and response.json()["field"] == "username"
    assert "U+" in response.json()["error_description"]
    assert User.select().count() == 1


@pytest.mark.parametrize("lookalike", ["r\u043e\u043et-admin", "root-adrnin", "ROOT-ADMIN\u0301"[:-1], "r00t-admin"])
def test_a_username_confusable_with_an_existing_one_is_refused(http, state, admin_user, lookalike):
    response = http.post(
        f"{API}/users", json={"username": lookalike, "password": PASSWORD}, headers=api_token(state, admin_user)
    )
    assert response.status_code == 409 and response.json()["field"] == "username"
    assert User.select().count() == 1


def test_email_addresses_are_unique_by_folded_case_and_keep_accents_on_every_backend(http, state, admin_user):
    headers = api_token(state, admin_user)

    def create(username, email):
        return http.post(
            f"{API}/users", json={"username": username, "password": PASSWORD, "email": email}, headers=headers
        )

    assert create("bob", "Bob@Example.test").status_code == 201
    response = create("robert", "bob@EXAMPLE.TEST")
    assert response.status_code == 409 and response.json()["field"] == "email"
    # Accents are other addresses (MariaDB's collation used to call these one).
    assert create("jose", "jose@example.test").status_code == 201
    assert create("josé", "josé@example.test").status_code == 201
    bob = User.get(User.username == "bob")
    response = http.patch(f"{API}/users/{bob.id}", json={"email": "JOSE@example.test"}, headers=headers)
    assert response.status_code == 409 and User.get_by_id(bob.id).email == "Bob@Example.test"


# Resource indicators (RFC 8707) ------------------------------------------------------------------


def test_a_resource_other_than_the_admin_api_is_invalid_target(http, state, service):
    data = {"grant_type": "client_credentials", "resource": "https://api.example.test/"}
    response = http.post("/api/v2/oauth/token", data=data, headers=basic(*service))
    assert response.status_code == 400 and response.json()["error"] == "invalid_target"


def test_the_admin_api_resource_needs_the_admin_scope(http, state, user, webapp):
    login(http)
    response = http.get(
        "/api/v2/oauth/authorize",
        params=authorize_params(scope="openid", challenge="x" * 43, resource=admin_audience(ISSUER)),
    )
    assert response.status_code == 302 and "error=invalid_target" in response.headers["location"]


def test_an_admin_client_may_name_the_admin_api_as_its_resource(http, state, admin_user):
    console = register(client_id="ops-console", name="Ops console", is_admin=True, scope="openid admin")
    code, verifier, _ = get_code(
        http, client_id="ops-console", username="root-admin", redirect_uri=REDIRECT, scope="admin",
        resource=admin_audience(ISSUER),
    )  # fmt: skip
    response = http.post(
        "/api/v2/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "resource": admin_audience(ISSUER),
        },
        headers=basic(*console),
    )
    assert response.status_code == 200, response.text
    http.cookies.clear()
    assert http.get(f"{API}/users", headers=auth(response.json()["access_token"])).status_code == 200


def test_gatehouse_admin_client_marks_a_client_once_and_says_unchanged_after(state, env):
    register(client_id="plain", name="Plain", redirect_uris=[], grant_types=["client_credentials"], scope="")

    def run(*args):
        return run_cli(env, "admin-client", *args)

    first = run("--client-id", "plain")
    assert first.returncode == 0 and "now an admin client" in first.stdout
    assert Client.get(Client.client_id == "plain").is_admin
    again = run("--client-id", "plain")
    assert again.returncode == 0 and "unchanged" in again.stdout
    missing = run("--client-id", "nobody")
    assert missing.returncode == 1 and "no client with id 'nobody'" in missing.stderr
    assert run("--client-id", "plain", "--off").returncode == 0
    assert not Client.get(Client.client_id == "plain").is_admin
