"""Sessions: the cookie (`__Host-` prefixed under HTTPS, HttpOnly, SameSite=Lax),
a new session id at sign-in, no row for a visitor, a required SESSION_SECRET,
the idle timeout and the absolute lifetime, and signing out."""

from __future__ import annotations

import time

import pytest
from conftest import PASSWORD, authorize_params, csrf_of, login, pkce_pair
from gatehouse.accounts.sessions import Sessions
from gatehouse.errors import ConfigError
from gatehouse.settings import load_settings
from gatehouse.store.models import Session
from helpers import signed_in

# The cookie ---------------------------------------------------------------


def session_cookie_header(response) -> str:
    headers = [v for k, v in response.headers.multi_items() if k == "set-cookie" and "gatehouse_session=" in v]
    assert headers, response.headers
    return headers[-1].lower()


def set_cookies(response) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie"]


def test_session_cookie_is_httponly_samesite_lax_and_secure_on_https(http, user):
    cookie = session_cookie_header(http.get("/login"))
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie and "path=/" in cookie
    signed = session_cookie_header(login(http))
    assert "httponly" in signed and "samesite=lax" in signed and "secure" in signed


@pytest.mark.parametrize("env", [{"ISSUER": "http://127.0.0.1:3001"}], indirect=True)
def test_session_cookie_is_not_secure_when_the_issuer_is_http(http):
    cookie = session_cookie_header(http.get("/login"))
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie


def test_under_https_the_session_cookie_is_host_prefixed_secure_path_root_without_domain(http, user):
    for response in (http.get("/login"), login(http)):
        (cookie,) = set_cookies(response)
        assert cookie.startswith("__Host-gatehouse_session=")
        attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert "secure" in attributes and "path=/" in attributes and "httponly" in attributes
        assert not any(a.startswith("domain") for a in attributes)


@pytest.mark.parametrize("env", [{"ISSUER": "http://127.0.0.1:3001"}], indirect=True)
def test_under_http_the_session_cookie_has_its_plain_name(http, user):
    (cookie,) = set_cookies(http.get("/login"))
    assert cookie.startswith("gatehouse_session=")
    assert "secure" not in cookie.lower()
    assert login(http).status_code == 303
    assert http.get("/").text.count("Signed in as") == 1


def test_every_reader_of_the_session_uses_the_prefixed_cookie(http, state, admin_session):
    assert http.get("/admin/users").status_code == 200  # the portal
    assert http.get("/api/v2/admin/users").status_code == 200  # the admin API, by the session cookie
    name = state.settings.session_cookie
    value = http.cookies[name]
    http.cookies.clear()
    assert http.get("/api/v2/admin/users", headers={"Cookie": f"{name}={value}"}).status_code == 200
    # The same value under the plain name (which a sibling domain could set) is not a session.
    assert http.get("/api/v2/admin/users", headers={"Cookie": f"gatehouse_session={value}"}).status_code == 401
    logout = http.post("/logout", data={"csrf_token": admin_session}, headers={"Cookie": f"{name}={value}"})
    assert logout.status_code == 200
    (cleared,) = set_cookies(logout)
    assert cleared.startswith("__Host-gatehouse_session=") and "max-age=0" in cleared.lower()
    assert "secure" in cleared.lower()
    assert Session.select().count() == 0


# Signing in and out -------------------------------------------------------


def test_login_issues_a_new_session_id(http, state, user):
    csrf_before = csrf_of(http.get("/login").text)
    before = http.cookies.get(state.settings.session_cookie)  # a visitor's: no row behind it
    login(http)
    after = http.cookies.get(state.settings.session_cookie)
    assert before and after and before != after
    assert Session.select().count() == 1  # the signed-in session only
    assert state.sessions.load(before) is None
    assert state.sessions.load(after).csrf_token != csrf_before


def test_login_whose_session_vanished_meanwhile_still_signs_in(state, user):
    value, row = state.sessions.create()
    Session.delete().execute()  # e.g. logged out in another tab while the password was checked
    new_value, new_row = state.sessions.rotate(row, user_id=user.id, auth_time=1)
    assert state.sessions.load(new_value).user_id == user.id and state.sessions.load(value) is None


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_login_never_redirects_off_site(http, user, target):
    response = login(http, return_to=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_logout_ends_the_session_and_clears_the_cookie(http, user):
    login(http)
    csrf = csrf_of(http.get("/logout").text)
    response = http.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 200
    assert not signed_in(user)
    assert "max-age=0" in session_cookie_header(response)


# No session row for a visitor ---------------------------------------------


def test_cookieless_gets_create_no_session_rows(http, user, webapp):
    params = authorize_params("webapp", pkce_pair()[1])
    for _ in range(50):
        for path, query in (("/", None), ("/login", None), ("/api/v2/oauth/authorize", params), ("/logout", None)):
            http.cookies.clear()  # every request without a cookie
            response = http.get(path, params=query)
            if path == "/api/v2/oauth/authorize":  # a valid request, sent to sign in
                assert response.status_code == 303 and response.headers["location"].startswith("/login?")
            else:
                assert response.status_code == 200
    assert Session.select().count() == 0


def test_the_home_page_sets_no_cookie_for_a_visitor(http):
    response = http.get("/")
    assert "set-cookie" not in response.headers
    assert "Sign in" in response.text


def test_a_visitor_signs_in_with_the_login_forms_csrf_token_and_gets_a_new_cookie(http, state, user):
    page = http.get("/login")
    visitor = http.cookies[state.settings.session_cookie]
    assert Session.select().count() == 0
    response = http.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(page.text), "return_to": "/"}
    )
    assert response.status_code == 303
    signed_in = http.cookies[state.settings.session_cookie]
    assert signed_in != visitor  # a planted visitor cookie never becomes a signed-in session
    assert state.sessions.load(visitor) is None
    assert state.sessions.load(signed_in).user_id == user.id
    assert Session.select().count() == 1


# SESSION_SECRET is required -----------------------------------------------


@pytest.mark.parametrize("value", [None, "", "too-short-0123456789"])
def test_session_secret_is_required_and_long(env, value):
    env = dict(env)
    if value is None:
        del env["SESSION_SECRET"]
    else:
        env["SESSION_SECRET"] = value
    with pytest.raises(ConfigError, match="SESSION_SECRET"):
        load_settings(env)


def test_sessions_have_no_fallback_key():
    for secret in ("", None):
        with pytest.raises(ConfigError, match="SESSION_SECRET"):
            Sessions(secret, 3600)


def test_the_dev_server_makes_a_session_secret_once_and_keeps_it(tmp_path):
    from gatehouse.entry.devserver import session_secret

    first = session_secret(tmp_path)
    assert len(first) >= 32
    assert session_secret(tmp_path) == first
    assert (tmp_path / "session-secret").stat().st_mode & 0o777 == 0o600
    assert load_settings({"SESSION_SECRET": first}).session_secret == first


# The absolute lifetime and the idle timeout -------------------------------


def idle(seconds: int) -> None:
    """The session was last seen `seconds` ago (as the clock would have it after that long)."""
    Session.update(last_seen_at=int(time.time()) - seconds).execute()


def signed_in_as(http, user) -> bool:
    return f"Signed in as <strong>{user.username}</strong>" in http.get("/").text


def test_expired_session_sends_the_user_back_to_login(http, user, webapp):
    login(http)
    Session.update(expires_at=int(time.time()) - 1).execute()
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", pkce_pair()[1]))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?")


def test_a_session_idle_for_longer_than_the_idle_timeout_ends(http, user, webapp):
    login(http)
    assert signed_in_as(http, user)
    idle(1800)
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", pkce_pair()[1]))
    assert response.status_code == 303 and response.headers["location"].startswith("/login?")
    assert not signed_in_as(http, user)
    assert Session.select().count() == 0  # ended, not just ignored


def test_a_session_in_use_outlives_the_idle_timeout(http, user):
    login(http)
    for _ in range(3):
        idle(1700)  # used every 28 minutes
        assert signed_in_as(http, user)
    assert Session.get().last_seen_at >= int(time.time()) - 5


def test_last_seen_at_is_written_at_most_once_a_minute(http, user):
    login(http)
    seen = int(time.time()) - 30
    Session.update(last_seen_at=seen).execute()
    for _ in range(5):
        assert signed_in_as(http, user)
    assert Session.get().last_seen_at == seen  # used 30 s ago: not written again
    idle(61)
    assert signed_in_as(http, user)
    assert Session.get().last_seen_at >= int(time.time()) - 5


@pytest.mark.parametrize("env", [{"SESSION_IDLE_TIMEOUT": "0"}], indirect=True)
def test_an_idle_timeout_of_zero_turns_it_off(http, user):
    login(http)
    idle(7 * 3600)
    assert signed_in_as(http, user)


@pytest.mark.parametrize("env", [{"SESSION_IDLE_TIMEOUT": "0"}], indirect=True)
def test_the_absolute_lifetime_still_applies_without_an_idle_timeout(http, user):
    login(http)
    Session.update(expires_at=int(time.time()) - 1).execute()
    assert not signed_in_as(http, user)
