"""CSRF: every form carries a token bound to the session (before sign-in, to the
visitor's cookie); a change without it, or with another session's, is refused
and changes nothing."""

from __future__ import annotations

import re

import pytest
from conftest import ISSUER, PASSWORD, authorize_params, csrf_of, login, pkce_pair
from fastapi.testclient import TestClient
from gatehouse.accounts.sessions import Sessions
from gatehouse.store.models import AuthorizationCode, Consent, Session
from helpers import signed_in


def test_every_form_carries_a_csrf_token(http, user, webapp):
    assert csrf_of(http.get("/login").text)
    login(http)
    assert csrf_of(http.get("/logout").text)
    consent = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", pkce_pair()[1]))
    assert consent.status_code == 200 and csrf_of(consent.text)


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_login_without_the_sessions_csrf_token_is_refused(http, user, token):
    http.get("/login")
    data = {"username": "alice", "password": PASSWORD, "return_to": "/"}
    if token is not None:
        data["csrf_token"] = token
    response = http.post("/login", data=data)
    assert response.status_code == 400
    assert not signed_in(user)


def test_csrf_token_of_another_session_is_refused(http, app, user):
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as other:
        foreign = csrf_of(other.get("/login").text)
    http.get("/login")
    response = http.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": foreign})
    assert response.status_code == 400
    assert not signed_in(user)


def test_the_login_forms_csrf_token_is_bound_to_the_visitors_cookie(app, http, state, user):
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as other:
        foreign = csrf_of(other.get("/login").text)
    http.get("/login")
    for token in (foreign, "", "x" * 43):
        response = http.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 400
    assert Session.select().count() == 0
    # The visitor's token is a digest of the cookie under SESSION_SECRET, not the cookie itself.
    token = csrf_of(http.get("/login").text)
    assert token != http.cookies[state.settings.session_cookie]
    assert Sessions("t" * 40, 60).visitor(http.cookies[state.settings.session_cookie]).csrf_token != token


def test_consent_without_csrf_token_is_refused_and_grants_nothing(http, user, webapp):
    login(http)
    page = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", pkce_pair()[1]))
    original = page.text.split('name="request" value="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    response = http.post("/consent", data={"request": original, "decision": "allow"})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert Consent.select().count() == 0
    assert AuthorizationCode.select().count() == 0


def test_consent_without_csrf_token_is_refused(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    page = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge))
    original = re.search(r'name="request" value="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    response = http.post("/consent", data={"csrf_token": "forged", "request": original, "decision": "allow"})
    assert response.status_code == 400
    assert "location" not in response.headers


def test_logout_without_csrf_token_keeps_the_session(http, user):
    login(http)
    response = http.post("/logout", data={})
    assert response.status_code == 400
    assert signed_in(user)


def test_rp_logout_confirmation_without_csrf_token_keeps_the_session(http, user, webapp):
    login(http)
    response = http.post("/api/v2/oauth/logout", data={"confirm": "yes", "client_id": "webapp"})
    assert response.status_code == 200
    assert 'name="csrf_token"' in response.text  # asked again
    assert signed_in(user)
