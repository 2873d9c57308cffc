"""The admin portal (/admin/): sign-in through /login, permissions, CSRF, forms that change things."""

from __future__ import annotations

import html
import json
import re
import time

import pytest
from conftest import ISSUER, PASSWORD, basic, csrf_of, login
from fastapi.testclient import TestClient
from gatehouse.accounts.actor import REAUTHENTICATE_AFTER
from gatehouse.store.models import AuditLog, Client, Session, User
from gatehouse.web.admin.portal import admin_return_to

PAGES = ["/admin/", "/admin/users", "/admin/clients", "/admin/audit"]


@pytest.fixture
def signed_in(http, admin_user):
    """The test client, signed in as an admin; returns the session's CSRF token."""
    assert login(http, "root-admin", return_to="/admin/").headers["location"] == "/admin/"
    return csrf_of(http.get("/admin/users").text)


def secret_on(html: str) -> str:
    return re.search(r'<code class="secret" id="client-secret">([^<]+)</code>', html).group(1)


CLIENT_FORM = {
    "client_id": "reporting",
    "name": "Reporting job",
    "kind": "confidential",
    "grant_types": ["client_credentials"],
    "scope": "reports:read",
    "redirect_uris": "",
    "post_logout_redirect_uris": "",
}


@pytest.mark.parametrize("path", PAGES)
def test_portal_without_session_redirects_to_login_and_back(http, state, path):
    response = http.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?return_to={path}"


@pytest.mark.parametrize("path", PAGES)
def test_portal_pages_render_for_admin(http, state, signed_in, path):
    response = http.get(path)
    assert response.status_code == 200
    assert "root-admin" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert "script" not in response.text


def test_portal_dashboard_shows_counts_and_recent_events(http, state, signed_in, webapp):
    html = http.get("/admin/").text
    assert '<strong data-count="users">1</strong>' in html
    assert '<strong data-count="clients">1</strong>' in html
    assert "login.succeeded" in html


@pytest.mark.parametrize("path", PAGES)
def test_portal_refuses_a_user_without_admin_permissions(http, state, user, path):
    login(http)
    response = http.get(path)
    assert response.status_code == 403
    assert "permission" in response.text


def test_portal_post_by_a_user_without_permission_is_refused(http, state, user):
    login(http)
    csrf = csrf_of(http.get("/login").text)
    response = http.post("/admin/users", data={"csrf_token": csrf, "username": "eve", "password": PASSWORD})
    assert response.status_code == 403
    assert not User.select().where(User.username == "eve").exists()


@pytest.mark.parametrize("csrf", [None, "forged"])
def test_portal_post_without_the_session_csrf_token_is_refused_and_writes_nothing(http, state, signed_in, csrf):
    data = {"username": "bob", "password": PASSWORD}
    if csrf:
        data["csrf_token"] = csrf
    response = http.post("/admin/users", data=data)
    assert response.status_code == 403
    assert not User.select().where(User.username == "bob").exists()
    response = http.post("/admin/clients", data={**CLIENT_FORM, **({"csrf_token": csrf} if csrf else {})})
    assert response.status_code == 403
    assert Client.select().count() == 0


def test_portal_creates_a_user(http, state, signed_in, admin_user):
    data = {
        "csrf_token": signed_in,
        "username": "bob",
        "email": "bob@example.test",
        "name": "Bob",
        "password": PASSWORD,
    }
    response = http.post("/admin/users", data=data)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/users"
    assert 'data-user="bob"' in http.get("/admin/users").text
    event = AuditLog.get((AuditLog.event == "user.created") & (AuditLog.subject != str(admin_user.id)))
    assert event.actor == str(admin_user.id) and '"via": "portal"' in event.details


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": "bob smith", "password": PASSWORD}, "username"),
        ({"username": "bob", "password": "short"}, "password"),
        ({"username": "bob", "password": PASSWORD, "email": "nope"}, "email"),
    ],
)
def test_portal_invalid_user_form_shows_the_error_and_writes_nothing(http, state, signed_in, data, message):
    response = http.post("/admin/users", data={"csrf_token": signed_in, **data})
    assert response.status_code == 400
    assert message in re.search(r'<p class="error" role="alert">([^<]+)</p>', response.text).group(1)
    assert User.select().count() == 1


def test_portal_duplicate_user_is_409(http, state, signed_in):
    response = http.post("/admin/users", data={"csrf_token": signed_in, "username": "root-admin", "password": PASSWORD})
    assert response.status_code == 409
    assert User.select().count() == 1


def test_portal_deactivates_and_reactivates_a_user(http, app, state, signed_in, user):
    response = http.post(f"/admin/users/{user.id}/active", data={"csrf_token": signed_in, "active": "0"})
    assert response.status_code == 303
    assert not User.get_by_id(user.id).is_active
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as alice:
        assert login(alice, "alice").status_code == 401
    http.post(f"/admin/users/{user.id}/active", data={"csrf_token": signed_in, "active": "1"})
    assert User.get_by_id(user.id).is_active


def test_portal_registers_a_client_and_shows_its_secret_once(http, state, signed_in):
    response = http.post("/admin/clients", data={"csrf_token": signed_in, **CLIENT_FORM})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    secret = secret_on(response.text)
    token = http.post(
        "/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("reporting", secret)
    )
    assert token.status_code == 200
    listing = http.get("/admin/clients").text
    assert 'data-client="reporting"' in listing and secret not in listing


def test_portal_registers_a_public_client_without_a_secret(http, state, signed_in):
    form = {
        **CLIENT_FORM,
        "client_id": "spa",
        "kind": "public",
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": "http://127.0.0.1/cb\r\nhttp://localhost/cb\r\n",
        "scope": "openid offline_access",
    }
    response = http.post("/admin/clients", data={"csrf_token": signed_in, **form})
    assert response.status_code == 303
    row = Client.get(Client.client_id == "spa")
    assert (row.is_confidential, row.redirect_uris) == (False, ["http://127.0.0.1/cb", "http://localhost/cb"])


def test_portal_invalid_client_form_shows_the_error_and_writes_nothing(http, state, signed_in):
    form = {**CLIENT_FORM, "grant_types": ["authorization_code"], "redirect_uris": "http://evil.example/cb"}
    response = http.post("/admin/clients", data={"csrf_token": signed_in, **form})
    assert response.status_code == 400
    assert "evil.example" in response.text and 'value="reporting"' in response.text
    assert Client.select().count() == 0


def test_portal_rotates_a_client_secret(http, state, signed_in):
    old = secret_on(http.post("/admin/clients", data={"csrf_token": signed_in, **CLIENT_FORM}).text)
    response = http.post("/admin/clients/reporting/rotate-secret", data={"csrf_token": signed_in})
    assert response.status_code == 200
    new = secret_on(response.text)
    form = {"grant_type": "client_credentials"}
    assert http.post("/api/v2/oauth/token", data=form, headers=basic("reporting", old)).status_code == 401
    assert http.post("/api/v2/oauth/token", data=form, headers=basic("reporting", new)).status_code == 200


def test_portal_rotate_without_csrf_is_refused(http, state, signed_in, service):
    digest = Client.get(Client.client_id == "service").client_secret_digest
    assert http.post("/admin/clients/service/rotate-secret", data={}).status_code == 403
    assert Client.get(Client.client_id == "service").client_secret_digest == digest


def test_portal_deactivates_a_client(http, state, signed_in, service):
    response = http.post("/admin/clients/service/active", data={"csrf_token": signed_in, "active": "0"})
    assert response.status_code == 303
    token = http.post("/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*service))
    assert token.status_code == 401
    assert http.post("/admin/clients/nope/active", data={"csrf_token": signed_in, "active": "0"}).status_code == 404


def test_portal_audit_log_filters_by_event(http, state, signed_in):
    http.post("/admin/users", data={"csrf_token": signed_in, "username": "bob", "password": PASSWORD})
    html = http.get("/admin/audit", params={"event": "user.created"}).text
    assert "user.created" in html and "login.succeeded" not in html


def test_portal_stylesheet_is_served_from_this_origin(http, state):
    response = http.get("/admin/admin.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")


# Re-authentication for sensitive changes (ASVS 7.5) -----------------------------------------------

CONFIRM = "Confirm it's you"


def auth_time_of(user) -> int:
    return Session.get(Session.user_id == user.id).auth_time


@pytest.fixture
def stale(signed_in, admin_user):
    """Signed in as the admin longer ago than REAUTHENTICATE_AFTER; returns the session's CSRF token."""
    old = int(time.time()) - REAUTHENTICATE_AFTER - 5
    Session.update(auth_time=old).where(Session.user_id == admin_user.id).execute()
    return signed_in


def reauthenticate(http, csrf, password=PASSWORD, return_to="/admin/users"):
    return http.post("/admin/reauthenticate", data={"csrf_token": csrf, "password": password, "return_to": return_to})


def hidden(page: str, name: str) -> str:
    return html.unescape(re.search(rf'name="{name}" value="([^"]*)"', page).group(1))


def test_portal_sensitive_change_with_an_old_sign_in_shows_the_confirm_page_and_changes_nothing(
    http, state, stale, user
):
    response = http.post(f"/admin/users/{user.id}/active", data={"csrf_token": stale, "active": "0"})
    assert response.status_code == 403
    page = html.unescape(response.text)
    assert f"<h2>{CONFIRM}</h2>" in page and "deactivate a user" in page
    assert '<form class="narrow" method="post" action="/admin/reauthenticate">' in page
    assert re.search(r'<input id="password" name="password" type="password" autocomplete="current-password"', page)
    assert hidden(page, "csrf_token") == stale
    assert hidden(page, "return_to") == "/admin/users"
    assert '<link rel="stylesheet" href="/admin/admin.css">' in page and "script" not in page
    assert User.get_by_id(user.id).is_active


def test_portal_right_password_renews_the_sign_in_and_the_repeated_change_works(http, state, stale, admin_user, user):
    before = auth_time_of(admin_user)
    http.post(f"/admin/users/{user.id}/active", data={"csrf_token": stale, "active": "0"})
    response = reauthenticate(http, stale)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/users?reauthenticated=1"
    assert auth_time_of(admin_user) >= int(time.time()) - 2 > before
    assert "Confirmed. Repeat the change." in http.get(response.headers["location"]).text
    assert User.get_by_id(user.id).is_active  # nothing was replayed
    response = http.post(f"/admin/users/{user.id}/active", data={"csrf_token": stale, "active": "0"})
    assert response.status_code == 303 and response.headers["location"] == "/admin/users"
    assert not User.get_by_id(user.id).is_active
    event = AuditLog.select().where(AuditLog.event == "login.succeeded").order_by(AuditLog.id.desc()).get()
    assert json.loads(event.details) == {"via": "reauthenticate"} and event.actor == str(admin_user.id)


def test_portal_wrong_password_does_not_renew_the_sign_in(http, state, stale, admin_user, user):
    before = auth_time_of(admin_user)
    response = reauthenticate(http, stale, password="not the password")
    assert response.status_code == 400
    page = html.unescape(response.text)
    assert "That password is not right" in page and f"<h2>{CONFIRM}</h2>" in page
    assert hidden(page, "return_to") == "/admin/users"
    assert auth_time_of(admin_user) == before
    assert http.post(f"/admin/users/{user.id}/active", data={"csrf_token": stale, "active": "0"}).status_code == 403
    assert User.get_by_id(user.id).is_active
    event = AuditLog.select().where(AuditLog.event == "login.failed").get()
    assert json.loads(event.details) == {"reason": "bad_credentials", "via": "reauthenticate"}
    assert (event.actor, event.subject) == (str(admin_user.id), "root-admin")


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil",
        "/admin//evil.example",
        "/admin/\\evil.example",
        "/admin/x?next=https://evil.example",
        "javascript:alert(1)",
        "/admin/\tusers",
        "/login",
        "",
    ],
)
def test_portal_reauthentication_return_to_outside_the_portal_is_replaced_by_admin(
    http, state, stale, admin_user, return_to
):
    assert admin_return_to(return_to) == "/admin/"
    wrong = reauthenticate(http, stale, password="not the password", return_to=return_to)
    assert hidden(wrong.text, "return_to") == "/admin/"
    response = reauthenticate(http, stale, return_to=return_to)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/?reauthenticated=1"


def test_portal_reauthentication_keeps_a_page_of_the_portal(http, state, stale):
    assert admin_return_to("/admin/clients?offset=50") == "/admin/clients?offset=50"
    response = reauthenticate(http, stale, return_to="/admin/clients?offset=50")
    assert response.headers["location"] == "/admin/clients?offset=50&reauthenticated=1"


@pytest.mark.parametrize("csrf", [None, "forged"])
def test_portal_reauthentication_without_the_session_csrf_token_is_refused(http, state, stale, admin_user, csrf):
    before = auth_time_of(admin_user)
    data = {"password": PASSWORD, "return_to": "/admin/users"}
    if csrf:
        data["csrf_token"] = csrf
    response = http.post("/admin/reauthenticate", data=data)
    assert response.status_code == 403
    assert auth_time_of(admin_user) == before


def test_portal_reauthentication_without_a_session_goes_to_sign_in(http, state, admin_user):
    response = http.post("/admin/reauthenticate", data={"password": PASSWORD, "return_to": "/admin/users"})
    assert response.status_code == 303 and response.headers["location"] == "/login?return_to=/admin/"


def test_portal_reauthentication_failures_count_against_the_login_lockout(http, state, stale, admin_user):
    before = auth_time_of(admin_user)
    policy = state.settings.login_max_failures
    answers = [reauthenticate(http, stale, password=f"wrong {n}").status_code for n in range(policy)]
    assert answers == [400] * (policy - 1) + [429]
    # Locked: the right password is not even checked, here nor at /login from the same address.
    response = reauthenticate(http, stale)
    assert response.status_code == 429 and "Too many failed sign-in attempts" in response.text
    assert auth_time_of(admin_user) == before
    assert login(http, "root-admin").status_code == 429


def test_portal_client_secret_rotation_with_an_old_sign_in_asks_for_the_password(http, state, stale, service):
    digest = Client.get(Client.client_id == "service").client_secret_digest
    response = http.post("/admin/clients/service/rotate-secret", data={"csrf_token": stale})
    assert response.status_code == 403 and CONFIRM in html.unescape(response.text)
    assert hidden(response.text, "return_to") == "/admin/clients"
    assert Client.get(Client.client_id == "service").client_secret_digest == digest
