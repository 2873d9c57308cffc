"""Consent: asked once for a user, client, scope set and redirect URI; the page
names the client and the scopes; a denial is access_denied."""

from __future__ import annotations

import re

from conftest import REDIRECT, authorize_params, csrf_of, get_code, login, pkce_pair, query_of, register
from gatehouse.crypto.digests import digest
from gatehouse.store.models import Consent
from helpers import _ask


def _allow(http, page):
    original = re.search(r'name="request" value="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    return http.post("/consent", data={"csrf_token": csrf_of(page.text), "request": original, "decision": "allow"})


def test_consent_is_remembered_per_user_client_and_scope(http, user, webapp):
    get_code(http)  # consents once
    _, challenge = pkce_pair()
    again = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge))
    assert again.status_code == 302  # no consent page the second time
    _, challenge = pkce_pair()
    wider = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge, scope="openid profile"))
    assert wider.status_code == 200  # a different scope set asks again
    assert "Web App" in wider.text


def test_consent_page_names_client_and_scopes(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    page = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge))
    assert "Web App" in page.text
    for scope in ("openid", "profile", "email", "offline_access"):
        assert f'data-scope="{scope}"' in page.text


def test_denied_consent_returns_access_denied(http, user, webapp):
    login(http)
    _, challenge = pkce_pair()
    page = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", challenge))
    original = re.search(r'name="request" value="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    response = http.post("/consent", data={"csrf_token": csrf_of(page.text), "request": original, "decision": "deny"})
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "access_denied"
    assert query["state"] == "st-123"
    assert query["iss"] == "https://testserver"


# A remembered consent holds only for the redirect URI the user approved -----


def test_consent_for_a_loopback_port_does_not_cover_another_port(http, user, spa):
    get_code(http, "spa", redirect_uri="http://127.0.0.1:1111/callback")
    again = _ask(http, "spa", redirect_uri="http://127.0.0.1:1111/callback")
    assert again.status_code == 302  # the same URI: remembered
    assert again.headers["location"].startswith("http://127.0.0.1:1111/callback?")
    other = _ask(http, "spa", redirect_uri="http://127.0.0.1:2222/callback")
    assert other.status_code == 200  # another port: the consent page again
    assert "Single Page App" in other.text and 'name="decision" value="allow"' in other.text


def test_prompt_none_for_an_unapproved_redirect_uri_is_consent_required(http, user, spa):
    get_code(http, "spa", redirect_uri="http://127.0.0.1:1111/callback")
    response = _ask(http, "spa", redirect_uri="http://127.0.0.1:2222/callback", prompt="none")
    assert response.status_code == 302
    assert response.headers["location"].startswith("http://127.0.0.1:2222/callback?")
    assert query_of(response.headers["location"])["error"] == "consent_required"


def test_consent_for_one_registered_redirect_uri_does_not_cover_another(http, state, user):
    other = "https://app.example.test/other-callback"
    register(redirect_uris=[REDIRECT, other])
    get_code(http, redirect_uri=REDIRECT)
    assert _ask(http, redirect_uri=REDIRECT).status_code == 302
    page = _ask(http, redirect_uri=other)
    assert page.status_code == 200
    allowed = _allow(http, page)
    assert allowed.status_code == 302 and allowed.headers["location"].startswith(other + "?")
    assert _ask(http, redirect_uri=other).status_code == 302  # now remembered for that URI too
    digests = {row.redirect_uri_digest for row in Consent.select().where(Consent.client_id == "webapp")}
    assert digests == {digest(REDIRECT), digest(other)}


def test_consent_without_redirect_uri_is_bound_to_the_single_registered_uri(http, user, webapp):
    get_code(http, redirect_uri=None)  # the one registered URI is the default
    assert _ask(http, redirect_uri=REDIRECT).status_code == 302  # the same URI: remembered
    (row,) = Consent.select().where(Consent.client_id == "webapp")
    assert row.redirect_uri_digest == digest(REDIRECT)
