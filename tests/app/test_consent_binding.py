"""The authorization request: a remembered consent holds only for the redirect URI
the user approved, and a malformed max_age is the client's error, never a 500."""

from __future__ import annotations

import re

import pytest
from conftest import REDIRECT, authorize_params, csrf_of, get_code, login, pkce_pair, query_of, register
from gatehouse.crypto.digests import digest
from gatehouse.store.models import Consent

AUTHORIZE = "/api/v2/oauth/authorize"


def _ask(http, client_id="webapp", **extra):
    _, challenge = pkce_pair()
    return http.get(AUTHORIZE, params=authorize_params(client_id, challenge, **extra))


def _allow(http, page):
    original = re.search(r'name="request" value="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    return http.post("/consent", data={"csrf_token": csrf_of(page.text), "request": original, "decision": "allow"})


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


@pytest.mark.parametrize("max_age", ["²", "١", "١٢٣", "3²", "9" * 5000, " 5", "-1", "+5", "0x10", ""])
def test_max_age_that_is_not_ascii_digits_is_invalid_request(http, user, webapp, max_age):
    login(http)
    response = _ask(http, max_age=max_age)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = query_of(location)
    assert query["error"] == "invalid_request"
    assert query["state"] == "st-123"


def test_max_age_in_ascii_digits_still_works(http, user, webapp):
    get_code(http)
    assert _ask(http, max_age="3600").status_code == 302  # signed in just now: a code
    too_old = _ask(http, max_age="0")
    assert too_old.status_code == 303 and too_old.headers["location"].startswith("/login")
