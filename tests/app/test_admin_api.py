"""The admin JSON API (/api/v2/admin/...): resource:action permissions, CRUD, validation, audit."""

from __future__ import annotations

import time

import pytest
from conftest import PASSWORD, REDIRECT, basic, csrf_of, get_code, login, redeem, register
from gatehouse.accounts.roles import ensure_admin_role
from gatehouse.oauth import id_token as id_tokens
from gatehouse.store.models import AuditLog, Client, Permission, Role, Session, User, UserRole
from helpers import ADMIN_CLIENT, API, auth, role_with, signed_admin_token, token_for


@pytest.fixture
def admin(state, admin_user):
    return auth(token_for(state, admin_user))


def audit_events(event):
    """The events the API's callers caused (not the fixtures' own, written as the command line's SYSTEM actor)."""
    return list(AuditLog.select().where((AuditLog.event == event) & (AuditLog.actor != "cli")).order_by(AuditLog.id))


def new_user(http, admin, **overrides):
    body = {"username": "bob", "password": PASSWORD, "email": "bob@example.test", "name": "Bob"}
    body.update(overrides)
    response = http.post(f"{API}/users", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


SERVICE = {
    "client_id": "reporting",
    "name": "Reporting job",
    "confidential": True,
    "grant_types": ["client_credentials"],
    "scope": "reports:read",
}


# Authentication and permissions ----------------------------------------------------------


def test_admin_api_without_credentials_is_401_with_bearer_challenge(http, state):
    response = http.get(f"{API}/users")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize("header", ["Bearer not.a.jwt", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a.b.c"])
def test_admin_api_refuses_malformed_or_foreign_credentials(http, state, header):
    response = http.get(f"{API}/users", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_admin_api_refuses_id_token_as_access_token(http, state, admin_user):
    id_token = id_tokens.issue(
        state.tokens.signer,
        client_id="x",
        subject=str(admin_user.id),
        ttl=60,
        auth_time=int(time.time()),
        nonce=None,
        access_token=None,
    )
    response = http.get(f"{API}/users", headers=auth(id_token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_admin_api_refuses_revoked_token(http, state, admin_user):
    token = token_for(state, admin_user)
    state.tokens.revoke_access_token(state.tokens.signer.verify(token))
    response = http.get(f"{API}/users", headers=auth(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_admin_api_refuses_token_in_query_string(http, state, admin_user):
    token = token_for(state, admin_user)
    response = http.get(f"{API}/users", params={"access_token": token})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_request"


def test_admin_api_refuses_token_without_permission(http, state, user):
    response = http.get(f"{API}/users", headers=auth(token_for(state, user)))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_admin_api_read_permission_does_not_allow_writes(http, state, user):
    UserRole.create(user=user, role=role_with("auditor", "users:read"))
    headers = auth(token_for(state, user))
    assert http.get(f"{API}/users", headers=headers).status_code == 200
    response = http.post(f"{API}/users", json={"username": "eve", "password": PASSWORD}, headers=headers)
    assert response.status_code == 403
    assert "users:write" in response.json()["error_description"]
    assert not User.select().where(User.username == "eve").exists()
    assert http.get(f"{API}/clients", headers=headers).status_code == 403


def test_admin_api_refuses_permission_claim_the_user_no_longer_holds(http, state, admin_user):
    headers = auth(token_for(state, admin_user))
    UserRole.delete().where(UserRole.user == admin_user.id).execute()
    assert http.get(f"{API}/users", headers=headers).status_code == 403


def test_admin_api_refuses_permission_missing_from_token_claim(http, state, admin_user):
    token = signed_admin_token(state, admin_user, roles=(), permissions=["users:read"])
    assert http.get(f"{API}/users", headers=auth(token)).status_code == 200
    assert http.get(f"{API}/clients", headers=auth(token)).status_code == 403


def test_admin_api_refuses_token_of_deactivated_user(http, state, admin_user):
    headers = auth(token_for(state, admin_user))
    User.update(is_active=False).where(User.id == admin_user.id).execute()
    assert http.get(f"{API}/users", headers=headers).status_code == 401


def test_admin_api_refuses_client_credentials_token_of_an_admin_client(http, state):
    """Scope admin and the admin API's audience, but the token acts for no user: it holds no permission."""
    _, secret = register(
        client_id="admin-robot",
        name="Admin robot",
        is_admin=True,
        redirect_uris=[],
        post_logout_redirect_uris=[],
        grant_types=["client_credentials"],
        scope="admin",
    )
    response = http.post(
        "/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("admin-robot", secret)
    )
    token = response.json()["access_token"]
    response = http.get(f"{API}/users", headers=auth(token))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_admin_api_accepts_admin_token_from_code_flow_of_an_admin_client(http, state, user):
    UserRole.create(user=user, role=ensure_admin_role())
    client = register(client_id="ops-console", name="Ops console", is_admin=True, scope="openid admin")
    code, verifier, _ = get_code(http, client_id="ops-console", redirect_uri=REDIRECT, scope="openid admin")
    access_token = redeem(http, code, verifier, client).json()["access_token"]
    http.cookies.clear()
    response = http.get(f"{API}/users", headers=auth(access_token))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


def test_admin_api_authenticates_before_reading_the_body(http, state):
    response = http.post(f"{API}/users", content=b'{"username": 1}', headers={"Content-Type": "application/json"})
    assert response.status_code == 401


def test_admin_api_accepts_session_cookie_of_admin(http, state, admin_user):
    login(http, "root-admin")
    response = http.get(f"{API}/users")
    assert response.status_code == 200
    assert {u["username"] for u in response.json()["items"]} == {"root-admin"}


def test_admin_api_session_of_user_without_permission_is_403(http, state, user):
    login(http)
    assert http.get(f"{API}/users").status_code == 403


def test_admin_api_cookie_change_without_csrf_header_is_refused_and_writes_nothing(http, state, admin_user):
    login(http, "root-admin")
    body = {"username": "bob", "password": PASSWORD}
    response = http.post(f"{API}/users", json=body)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_csrf_token"
    response = http.post(f"{API}/users", json=body, headers={"X-CSRF-Token": "forged"})
    assert response.status_code == 403
    assert not User.select().where(User.username == "bob").exists()


def test_admin_api_cookie_change_with_csrf_header_is_accepted(http, state, admin_user):
    login(http, "root-admin")
    csrf = csrf_of(http.get("/admin/users").text)
    response = http.post(f"{API}/users", json={"username": "bob", "password": PASSWORD}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201
    (event,) = audit_events("user.created")
    assert event.actor == str(admin_user.id)
    assert '"via": "session"' in event.details


# Users -------------------------------------------------------------------------------------


def test_user_crud_round_trip(http, state, admin, admin_user):
    created = new_user(http, admin)
    assert created["username"] == "bob" and created["roles"] == [] and created["is_active"] is True
    url = f"{API}/users/{created['id']}"
    assert http.get(url, headers=admin).json()["email"] == "bob@example.test"

    response = http.patch(url, json={"name": "Robert", "email": None, "is_active": False}, headers=admin)
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["email"], response.json()["is_active"]) == ("Robert", None, False)

    assert http.delete(url, headers=admin).status_code == 204
    assert http.get(url, headers=admin).status_code == 404
    assert http.delete(url, headers=admin).status_code == 404


def test_user_list_is_paginated(http, state, admin, admin_user):
    for i in range(5):
        new_user(http, admin, username=f"user{i}", email=None)
    page = http.get(f"{API}/users", params={"limit": 2, "offset": 2}, headers=admin).json()
    assert page["total"] == 6 and page["limit"] == 2 and page["offset"] == 2
    assert [u["username"] for u in page["items"]] == ["user1", "user2"]
    assert http.get(f"{API}/users", params={"limit": 0}, headers=admin).status_code == 400
    assert http.get(f"{API}/users", params={"limit": 201}, headers=admin).status_code == 400


def test_user_responses_never_hold_password_hash(http, state, admin, admin_user):
    created = new_user(http, admin)
    texts = [
        http.get(f"{API}/users", headers=admin).text,
        http.get(f"{API}/users/{created['id']}", headers=admin).text,
        http.patch(f"{API}/users/{created['id']}", json={"password": "another password"}, headers=admin).text,
    ]
    stored = User.get(User.username == "bob").password_hash
    for text in texts:
        assert "password" not in text and "argon2" not in text and stored not in text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "bob"}, "password"),
        ({"username": "bob", "password": "short"}, "password"),
        ({"username": "bob", "password": PASSWORD, "email": "not-an-email"}, "email"),
        ({"username": "bob smith", "password": PASSWORD}, "username"),
        ({"username": "", "password": PASSWORD}, "username"),
        ({"username": "bob", "password": PASSWORD, "is_active": "yes"}, "is_active"),
        ({"username": "bob", "password": PASSWORD, "admin": True}, "admin"),
        ({"username": ["bob"], "password": PASSWORD}, "username"),
        ({"username": "b" * 151, "password": PASSWORD}, "username"),
    ],
)
def test_user_create_with_invalid_input_is_400_naming_the_field_and_writes_nothing(
    http, state, admin, admin_user, body, field
):
    response = http.post(f"{API}/users", json=body, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error"] == "invalid_request"
    assert field in error.get("field", "") + error["error_description"]
    assert User.select().count() == 1
    assert audit_events("user.created") == []


@pytest.mark.parametrize("body", [b"{", b"[]", b"null", b'"x"', b"\xff\xfe"])
def test_admin_api_malformed_json_is_400_not_500(http, state, admin, admin_user, body):
    headers = {**admin, "Content-Type": "application/json"}
    response = http.post(f"{API}/users", content=body, headers=headers)
    assert response.status_code == 400


@pytest.mark.parametrize("user_id", ["abc", "0", "-1", "99999999999999999999999"])
def test_admin_api_bad_path_ids_are_400_not_500(http, state, admin, admin_user, user_id):
    assert http.get(f"{API}/users/{user_id}", headers=admin).status_code == 400


def test_user_create_duplicate_username_is_409(http, state, admin, admin_user):
    new_user(http, admin)
    response = http.post(f"{API}/users", json={"username": "bob", "password": PASSWORD}, headers=admin)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert len(audit_events("user.created")) == 1


def test_user_create_username_differing_only_in_case_is_409(http, state, admin, admin_user):
    new_user(http, admin, username="Bob")
    response = http.post(f"{API}/users", json={"username": "BOB", "password": PASSWORD}, headers=admin)
    assert response.status_code == 409 and response.json()["field"] == "username"
    assert [u.username for u in User.select().where(User.username_key == "bob")] == ["Bob"]
    assert len(audit_events("user.created")) == 1


def test_user_create_keeps_accented_usernames_apart_and_as_given(http, state, admin, admin_user):
    new_user(http, admin, username="jose", email=None)
    created = new_user(http, admin, username="José", email=None)
    assert created["username"] == "José"
    listed = http.get(f"{API}/users", headers=admin).json()["items"]
    assert {u["username"] for u in listed} == {"root-admin", "jose", "José"}


def test_user_update_to_duplicate_email_is_409_and_changes_nothing(http, state, admin, admin_user):
    bob = new_user(http, admin)
    response = http.patch(f"{API}/users/{bob['id']}", json={"email": "admin@example.test", "name": "X"}, headers=admin)
    assert response.status_code == 409
    assert User.get_by_id(bob["id"]).email == "bob@example.test"
    assert User.get_by_id(bob["id"]).name == "Bob"


@pytest.mark.parametrize("body", [{"is_active": None}, {"password": None}, {"password": "short"}, {"username": "x"}])
def test_user_update_with_invalid_input_is_400(http, state, admin, admin_user, body):
    bob = new_user(http, admin)
    response = http.patch(f"{API}/users/{bob['id']}", json=body, headers=admin)
    assert response.status_code == 400
    assert audit_events("user.updated") == []


def test_user_password_change_takes_effect_at_login(http, state, admin, admin_user):
    bob = new_user(http, admin)
    response = http.patch(f"{API}/users/{bob['id']}", json={"password": "a brand new password"}, headers=admin)
    assert response.status_code == 200
    assert login(http, "bob", PASSWORD).status_code == 401
    assert login(http, "bob", "a brand new password").status_code == 303


def test_deactivating_a_user_ends_their_sessions_and_revokes_their_tokens(http, state, admin, admin_user, user):
    login(http)
    alice_token = token_for(state, user)
    http.cookies.clear()
    response = http.patch(f"{API}/users/{user.id}", json={"is_active": False}, headers=admin)
    assert response.status_code == 200
    assert not Session.select().where(Session.user_id == user.id).exists()
    assert state.tokens.is_revoked(state.tokens.signer.verify(alice_token))


def test_admin_cannot_delete_or_deactivate_themselves(http, state, admin, admin_user):
    url = f"{API}/users/{admin_user.id}"
    assert http.patch(url, json={"is_active": False}, headers=admin).status_code == 409
    assert http.delete(url, headers=admin).status_code == 409
    assert http.delete(f"{url}/roles/admin", headers=admin).status_code == 409
    assert User.get_by_id(admin_user.id).is_active


def test_deleting_a_user_revokes_their_tokens_and_sessions(http, state, admin, admin_user, user):
    login(http)
    alice_token = token_for(state, user)
    http.cookies.clear()
    assert http.delete(f"{API}/users/{user.id}", headers=admin).status_code == 204
    assert not Session.select().where(Session.user_id == user.id).exists()
    assert state.tokens.is_revoked(state.tokens.signer.verify(alice_token))
    (event,) = audit_events("user.deleted")
    assert (event.subject, event.actor) == (str(user.id), str(admin_user.id))


def test_roles_are_assigned_and_removed(http, state, admin, admin_user, user):
    role_with("support", "users:read")
    url = f"{API}/users/{user.id}/roles/support"
    response = http.put(url, headers=admin)
    assert response.status_code == 200
    assert response.json()["roles"] == ["support"] and response.json()["permissions"] == ["users:read"]
    assert http.get(f"{API}/users", headers=auth(token_for(state, user))).status_code == 200
    assert http.delete(url, headers=admin).json()["roles"] == []
    assert http.put(f"{API}/users/{user.id}/roles/nope", headers=admin).status_code == 404
    assert [e.details for e in audit_events("role.changed")][0].count('"assigned"') == 1


def test_assigning_a_role_needs_roles_write_as_well(http, state, user, admin_user):
    UserRole.create(user=user, role=role_with("helpdesk", "users:read", "users:write"))
    response = http.put(f"{API}/users/{user.id}/roles/admin", headers=auth(token_for(state, user)))
    assert response.status_code == 403
    assert "roles:write" in response.json()["error_description"]


def test_user_changes_write_audit_events(http, state, admin, admin_user):
    bob = new_user(http, admin)
    http.patch(f"{API}/users/{bob['id']}", json={"name": "Robert", "password": "another password"}, headers=admin)
    http.delete(f"{API}/users/{bob['id']}", headers=admin)
    created, updated, deleted = audit_events("user.created"), audit_events("user.updated"), audit_events("user.deleted")
    assert [e.subject for e in created + updated + deleted] == [str(bob["id"])] * 3
    assert all(e.actor == str(admin_user.id) for e in created + updated + deleted)
    assert '"fields": ["name", "password"]' in updated[0].details
    assert "another password" not in updated[0].details


# Clients -----------------------------------------------------------------------------------


def test_client_secret_is_shown_once_and_works_at_the_token_endpoint(http, state, admin, admin_user):
    response = http.post(f"{API}/clients", json=SERVICE, headers=admin)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["location"] == f"{API}/clients/reporting"
    secret = response.json()["client_secret"]
    assert len(secret) >= 43

    token = http.post(
        "/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("reporting", secret)
    )
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "reports:read"

    for text in (
        http.get(f"{API}/clients/reporting", headers=admin).text,
        http.get(f"{API}/clients", headers=admin).text,
    ):
        assert secret not in text and "client_secret" not in text
        assert Client.get(Client.client_id == "reporting").client_secret_digest not in text


def test_public_client_gets_no_secret(http, state, admin, admin_user):
    body = {
        "client_id": "spa2",
        "name": "SPA",
        "confidential": False,
        "redirect_uris": ["http://127.0.0.1/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid offline_access",
    }
    response = http.post(f"{API}/clients", json=body, headers=admin)
    assert response.status_code == 201
    assert response.json()["client_secret"] is None
    assert http.post(f"{API}/clients/spa2/rotate-secret", headers=admin).status_code == 409


def test_rotating_a_client_secret_retires_the_old_one(http, state, admin, admin_user):
    state.clients.ttl = 300  # a warm cache must not keep the old secret alive
    old = http.post(f"{API}/clients", json=SERVICE, headers=admin).json()["client_secret"]
    form = {"grant_type": "client_credentials"}
    assert http.post("/api/v2/oauth/token", data=form, headers=basic("reporting", old)).status_code == 200
    response = http.post(f"{API}/clients/reporting/rotate-secret", headers=admin)
    assert response.status_code == 200
    new = response.json()["client_secret"]
    assert new != old
    assert http.post("/api/v2/oauth/token", data=form, headers=basic("reporting", old)).status_code == 401
    assert http.post("/api/v2/oauth/token", data=form, headers=basic("reporting", new)).status_code == 200
    assert [e.subject for e in audit_events("client.secret_rotated")] == ["reporting"]


def test_client_update_round_trip_and_deactivation_takes_effect_at_once(http, state, admin, admin_user):
    state.clients.ttl = 300
    secret = http.post(f"{API}/clients", json=SERVICE, headers=admin).json()["client_secret"]
    form = {"grant_type": "client_credentials"}
    assert http.post("/api/v2/oauth/token", data=form, headers=basic("reporting", secret)).status_code == 200

    response = http.patch(
        f"{API}/clients/reporting",
        json={"name": "Nightly reports", "scope": "reports:read reports:write"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Nightly reports"
    token = http.post("/api/v2/oauth/token", data=form, headers=basic("reporting", secret)).json()
    assert token["scope"] == "reports:read reports:write"

    assert http.patch(f"{API}/clients/reporting", json={"is_active": False}, headers=admin).status_code == 200
    assert http.post("/api/v2/oauth/token", data=form, headers=basic("reporting", secret)).status_code == 401
    (event, _) = audit_events("client.updated")
    assert '"name": "Nightly reports"' in event.details


def test_client_update_of_redirect_uris(http, state, admin, admin_user, webapp):
    body = {"redirect_uris": ["https://app.example.test/cb2"], "post_logout_redirect_uris": []}
    response = http.patch(f"{API}/clients/webapp", json=body, headers=admin)
    assert response.status_code == 200
    assert response.json()["redirect_uris"] == ["https://app.example.test/cb2"]
    assert response.json()["post_logout_redirect_uris"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"redirect_uris": ["http://evil.example/cb"]}, "redirect_uris"),
        ({"redirect_uris": ["https://app.example.test/cb#frag"]}, "redirect_uris"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"post_logout_redirect_uris": ["javascript:alert(1)"]}, "post_logout_redirect_uris"),
        ({"grant_types": ["password"]}, "grant_types"),
        ({"grant_types": ["refresh_token"]}, "grant_types"),
        ({"grant_types": []}, "grant_types"),
        ({"scope": "openid BAD!"}, "scope"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"confidential": False}, "confidential"),
        ({"client_secret": "mine"}, "client_secret"),
    ],
)
def test_client_update_with_invalid_input_is_400_naming_the_field_and_changes_nothing(
    http, state, admin, admin_user, webapp, body, field
):
    before = Client.get(Client.client_id == "webapp")
    response = http.patch(f"{API}/clients/webapp", json=body, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()
    assert field in error.get("field", "") + error["error_description"]
    after = Client.get(Client.client_id == "webapp")
    assert (after.redirect_uris, after.grant_types, after.scope, after.name, after.updated_at) == (
        before.redirect_uris,
        before.grant_types,
        before.scope,
        before.name,
        before.updated_at,
    )
    assert audit_events("client.updated") == []


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"client_id": "has space"}, "client_id"),
        ({"client_id": "x" * 101}, "client_id"),
        ({"confidential": False}, "grant_types"),  # a public client cannot use client_credentials
        ({"grant_types": ["authorization_code"]}, "redirect_uris"),
        ({"grant_types": "client_credentials"}, "grant_types"),
        ({"scope": "Reports"}, "scope"),
        ({"name": None}, "name"),
    ],
)
def test_client_create_with_invalid_input_is_400_naming_the_field_and_writes_nothing(
    http, state, admin, admin_user, override, field
):
    response = http.post(f"{API}/clients", json={**SERVICE, **override}, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()
    assert field in error.get("field", "") + error["error_description"]
    assert Client.select().where(Client.client_id != ADMIN_CLIENT).count() == 0
    assert audit_events("client.created") == []


def test_client_create_duplicate_is_409(http, state, admin, admin_user):
    assert http.post(f"{API}/clients", json=SERVICE, headers=admin).status_code == 201
    response = http.post(f"{API}/clients", json={**SERVICE, "name": "Other"}, headers=admin)
    assert response.status_code == 409
    assert response.json()["field"] == "client_id"
    assert Client.get(Client.client_id == "reporting").name == "Reporting job"


def test_deleting_a_client_revokes_its_grants_and_writes_an_audit_event(http, state, admin, admin_user, user, webapp):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    http.cookies.clear()
    assert http.delete(f"{API}/clients/webapp", headers=admin).status_code == 204
    assert http.get(f"{API}/clients/webapp", headers=admin).status_code == 404
    assert state.tokens.is_revoked(state.tokens.signer.verify(tokens["access_token"]))
    assert [e.subject for e in audit_events("client.deleted")] == ["webapp"]


def test_client_list_is_paginated(http, state, admin, admin_user):
    for i in range(3):
        http.post(f"{API}/clients", json={**SERVICE, "client_id": f"svc{i}"}, headers=admin)
    page = http.get(f"{API}/clients", params={"limit": 2}, headers=admin).json()
    assert page["total"] == 4 and [c["client_id"] for c in page["items"]] == [ADMIN_CLIENT, "svc0"]


# Roles and permissions ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["users", "Users:Read", "users:", ":read", "a:b:c", "users read", "x" * 60 + ":y"])
def test_permission_names_must_be_resource_action(http, state, admin, admin_user, name):
    before = Permission.select().count()
    response = http.post(f"{API}/permissions", json={"name": name}, headers=admin)
    assert response.status_code == 400
    assert response.json()["field"] == "name"
    assert Permission.select().count() == before


def test_permission_create_list_delete_and_duplicate(http, state, admin, admin_user):
    response = http.post(
        f"{API}/permissions", json={"name": "reports:read", "description": "Read reports"}, headers=admin
    )
    assert response.status_code == 201
    assert response.json() == {"name": "reports:read", "description": "Read reports", "roles": []}
    assert http.post(f"{API}/permissions", json={"name": "reports:read"}, headers=admin).status_code == 409
    names = [p["name"] for p in http.get(f"{API}/permissions", headers=admin).json()["items"]]
    assert "reports:read" in names and "users:write" in names
    assert http.delete(f"{API}/permissions/reports:read", headers=admin).status_code == 204
    assert http.delete(f"{API}/permissions/reports:read", headers=admin).status_code == 404
    assert [e.details.count("created") for e in audit_events("permission.changed")] == [1, 0]


def test_builtin_permissions_cannot_be_deleted(http, state, admin, admin_user):
    assert http.delete(f"{API}/permissions/users:read", headers=admin).status_code == 409
    assert Permission.select().where(Permission.name == "users:read").exists()


def test_role_create_set_permissions_and_delete(http, state, admin, admin_user, user):
    http.post(f"{API}/permissions", json={"name": "reports:read"}, headers=admin)
    response = http.post(f"{API}/roles", json={"name": "analyst", "permissions": ["reports:read"]}, headers=admin)
    assert response.status_code == 201
    assert response.json() == {"name": "analyst", "description": "", "permissions": ["reports:read"], "users": 0}
    assert http.post(f"{API}/roles", json={"name": "analyst"}, headers=admin).status_code == 409

    response = http.put(
        f"{API}/roles/analyst/permissions", json={"permissions": ["reports:read", "users:read"]}, headers=admin
    )
    assert response.json()["permissions"] == ["reports:read", "users:read"]
    http.put(f"{API}/users/{user.id}/roles/analyst", headers=admin)
    assert http.get(f"{API}/roles/analyst", headers=admin).json()["users"] == 1

    assert http.delete(f"{API}/roles/analyst", headers=admin).status_code == 204
    assert http.get(f"{API}/roles/analyst", headers=admin).status_code == 404
    assert not UserRole.select().where(UserRole.user == user.id).exists()
    actions = [e.details for e in audit_events("role.changed")]
    assert ['"created"' in actions[0], '"permissions_set"' in actions[1], '"deleted"' in actions[-1]] == [True] * 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Analyst"}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "ok", "permissions": ["nope:read"]}, "permissions"),
        ({"name": "ok", "permissions": "users:read"}, "permissions"),
        ({"name": "ok", "description": "d" * 256}, "description"),
    ],
)
def test_role_create_with_invalid_input_is_400_and_writes_nothing(http, state, admin, admin_user, body, field):
    response = http.post(f"{API}/roles", json=body, headers=admin)
    assert response.status_code == 400
    error = response.json()
    assert field in error.get("field", "") + error["error_description"]
    assert Role.select().count() == 1


def test_admin_role_cannot_be_deleted_or_lose_admin_permissions(http, state, admin, admin_user):
    assert http.delete(f"{API}/roles/admin", headers=admin).status_code == 409
    response = http.put(f"{API}/roles/admin/permissions", json={"permissions": ["users:read"]}, headers=admin)
    assert response.status_code == 409
    assert len(http.get(f"{API}/roles/admin", headers=admin).json()["permissions"]) == 10


# Audit log ---------------------------------------------------------------------------------


def test_audit_log_is_newest_first_filtered_and_paginated(http, state, admin, admin_user):
    for name in ("one", "two", "three"):
        new_user(http, admin, username=name, email=None)
    AuditLog.update(created_at=1000).where(AuditLog.id == audit_events("user.created")[0].id).execute()
    body = http.get(
        f"{API}/audit-logs", params={"event": "user.created", "actor": str(admin_user.id)}, headers=admin
    ).json()
    assert [e["details"]["username"] for e in body["items"]] == ["three", "two", "one"]
    assert body["total"] == 3

    page = http.get(
        f"{API}/audit-logs",
        params={"event": "user.created", "actor": str(admin_user.id), "limit": 1, "offset": 1},
        headers=admin,
    )
    assert [e["details"]["username"] for e in page.json()["items"]] == ["two"]

    recent = http.get(
        f"{API}/audit-logs", params={"event": "user.created", "actor": str(admin_user.id), "since": 2000}, headers=admin
    ).json()
    assert recent["total"] == 2
    iso = http.get(
        f"{API}/audit-logs",
        params={"event": "user.created", "actor": str(admin_user.id), "since": "1970-01-01T00:16:40Z"},
        headers=admin,
    ).json()
    assert iso["total"] == 3

    by_actor = http.get(f"{API}/audit-logs", params={"actor": str(admin_user.id)}, headers=admin).json()
    assert {e["event"] for e in by_actor["items"]} == {"user.created"}
    assert http.get(f"{API}/audit-logs", params={"actor": "nobody"}, headers=admin).json()["total"] == 0


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"limit": "x"}, {"offset": -1}, {"event": "e" * 65}])
def test_audit_log_with_invalid_filter_is_400(http, state, admin, admin_user, params):
    response = http.get(f"{API}/audit-logs", params=params, headers=admin)
    assert response.status_code == 400
    assert next(iter(params)) in response.text


def test_audit_log_needs_audit_logs_read(http, state, user):
    UserRole.create(user=user, role=role_with("ops", "users:read", "clients:read"))
    assert http.get(f"{API}/audit-logs", headers=auth(token_for(state, user))).status_code == 403
