"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the session ends,
and the user goes back only to a registered post_logout_redirect_uri.

The confirmation page may also end what the user gave the client that asked,
with a second button (the default one signs out only); choosing it revokes every
grant the signed-in user gave that client, so its refresh tokens fail and its
access tokens are inactive, and it is audited.
"""

from __future__ import annotations

import re

from conftest import PASSWORD, authorize_params, basic, csrf_of, get_code, login, pkce_pair, redeem
from gatehouse.accounts.users import create_user_as_system as create_user
from gatehouse.store.models import AuditLog, Consent
from helpers import INTROSPECT, LOGOUT, TOKEN, _tokens

BYE = "https://app.example.test/bye"


BUTTONS = re.compile(r"<button[^>]*>[^<]*</button>")


def _id_token(http, webapp):
    code, verifier, _ = get_code(http)
    return redeem(http, code, verifier, webapp).json()["id_token"]


def test_logout_redirects_to_registered_post_logout_uri_with_state(http, user, webapp):
    id_token = _id_token(http, webapp)
    response = http.get(
        LOGOUT,
        params={"id_token_hint": id_token, "post_logout_redirect_uri": "https://app.example.test/bye", "state": "s1"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "https://app.example.test/bye?state=s1"
    assert http.get("/").text.count("Sign in") >= 1  # the session is gone


def test_logout_never_redirects_to_an_unregistered_uri(http, user, webapp):
    id_token = _id_token(http, webapp)
    response = http.get(LOGOUT, params={"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"})
    assert response.status_code == 400
    assert "location" not in response.headers


def test_logout_without_hint_asks_the_user_to_confirm(http, user, webapp):
    login(http)
    response = http.get(
        LOGOUT, params={"client_id": "webapp", "post_logout_redirect_uri": "https://app.example.test/bye"}
    )
    assert response.status_code == 200
    assert "Sign out" in response.text
    confirmed = http.post(
        LOGOUT,
        data={
            "csrf_token": csrf_of(response.text),
            "confirm": "yes",
            "client_id": "webapp",
            "post_logout_redirect_uri": "https://app.example.test/bye",
        },
    )
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "https://app.example.test/bye"


def test_logout_ends_the_session_so_authorize_asks_to_log_in_again(http, user, webapp):
    id_token = _id_token(http, webapp)
    http.get(LOGOUT, params={"id_token_hint": id_token})
    _, challenge = pkce_pair()
    response = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


# Revoking what the user gave the client -----------------------------------


def _confirm_page(http, **params):
    page = http.get(LOGOUT, params={"client_id": "webapp", "post_logout_redirect_uri": BYE, **params})
    assert page.status_code == 200
    return page


def _confirm(http, page, **extra):
    data = {"csrf_token": csrf_of(page.text), "confirm": "yes", "client_id": "webapp", "post_logout_redirect_uri": BYE}
    response = http.post(LOGOUT, data={**data, **extra})
    assert response.status_code == 303
    assert response.headers["location"] == BYE
    return response


def _still_working(http, webapp, tokens) -> tuple[bool, bool]:
    active = http.post(INTROSPECT, data={"token": tokens["access_token"]}, headers=basic(*webapp)).json()["active"]
    refreshed = http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, headers=basic(*webapp)
    )
    return active, refreshed.status_code == 200


def test_logout_page_offers_to_revoke_the_clients_access_not_by_default(http, user, webapp):
    _tokens(http, webapp)
    page = _confirm_page(http)
    default, revoke = BUTTONS.findall(page.text)
    # The first submit button (the one Enter presses) signs out only.
    assert "revoke_grants" not in default and ">Sign out</button>" in default
    assert 'name="revoke_grants" value="yes"' in revoke and "Web App" in revoke


def test_logout_page_without_a_client_does_not_offer_to_revoke(http, user):
    login(http)
    page = http.get(LOGOUT)
    assert page.status_code == 200
    assert "revoke_grants" not in page.text


def test_logout_choosing_revoke_ends_the_clients_tokens(http, user, webapp):
    tokens = _tokens(http, webapp)
    _confirm(http, _confirm_page(http), revoke_grants="yes")
    assert _still_working(http, webapp, tokens) == (False, False)
    assert not Consent.select().where((Consent.user_id == user.id) & (Consent.client_id == "webapp")).exists()
    event = AuditLog.get((AuditLog.event == "token.revoked") & (AuditLog.subject == str(user.id)))
    assert event.actor == str(user.id)
    assert '"client_id": "webapp"' in event.details and '"via": "logout"' in event.details


def test_logout_without_choosing_revoke_leaves_the_clients_tokens_working(http, user, webapp):
    tokens = _tokens(http, webapp)
    _confirm(http, _confirm_page(http))
    assert _still_working(http, webapp, tokens) == (True, True)
    assert not AuditLog.select().where(AuditLog.event == "token.revoked").exists()


def test_logout_revoke_needs_the_confirmation_form(http, user, webapp):
    tokens = _tokens(http, webapp)
    forged = http.post(
        LOGOUT,
        data={"csrf_token": "forged", "confirm": "yes", "client_id": "webapp", "revoke_grants": "yes"},
    )
    assert forged.status_code == 200  # the confirmation page again, nothing done
    assert _still_working(http, webapp, tokens) == (True, True)


def test_logout_revoke_touches_only_that_client_and_that_user(http, user, webapp, spa):
    create_user("bob", PASSWORD)
    code, verifier, _ = get_code(http, username="bob")
    bob_tokens = redeem(http, code, verifier, webapp).json()
    code, verifier, _ = get_code(http, "spa")
    spa_tokens = redeem(http, code, verifier, ("spa", None), redirect_uri="http://127.0.0.1/callback").json()
    tokens = _tokens(http, webapp)
    _confirm(http, _confirm_page(http), revoke_grants="yes")
    assert _still_working(http, webapp, tokens) == (False, False)
    assert _still_working(http, webapp, bob_tokens) == (True, True)
    refreshed = http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": spa_tokens["refresh_token"], "client_id": "spa"}
    )
    assert refreshed.status_code == 200


def test_logout_revoke_names_the_client_by_id_token_hint_and_ends_all_its_grants(http, user, webapp):
    first = _tokens(http, webapp)
    second = _tokens(http, webapp)  # a second grant to the same client
    page = http.get(LOGOUT, params={"client_id": "webapp"})
    # The confirmation form, carrying the hint instead of client_id: the client is the hint's aud.
    data = {
        "csrf_token": csrf_of(page.text),
        "confirm": "yes",
        "id_token_hint": first["id_token"],
        "revoke_grants": "yes",
    }
    response = http.post(LOGOUT, data=data)
    assert response.status_code == 200  # no post_logout_redirect_uri: the signed-out page
    assert "You are signed out" in response.text
    assert _still_working(http, webapp, first) == (False, False)
    assert _still_working(http, webapp, second) == (False, False)
