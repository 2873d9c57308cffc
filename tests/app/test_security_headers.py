"""Response headers: pages cannot be framed, send no referrer and are not cached;
JSON answers are not sniffed."""

from __future__ import annotations

from conftest import authorize_params, login, pkce_pair


def assert_not_framable(response):
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


def test_pages_cannot_be_framed_and_send_no_referrer(http, user, webapp):
    assert_not_framable(http.get("/login"))
    assert_not_framable(http.get("/logout"))
    assert_not_framable(http.get("/api/v2/oauth/authorize", params={"client_id": "nobody"}))  # the error page
    login(http)
    consent = http.get("/api/v2/oauth/authorize", params=authorize_params("webapp", pkce_pair()[1]))
    assert consent.status_code == 200
    assert_not_framable(consent)
    assert_not_framable(http.get("/api/v2/oauth/logout", params={"client_id": "webapp"}))


def test_pages_are_not_cached(http):
    assert http.get("/login").headers["cache-control"] == "no-store"


def test_json_answers_are_not_sniffed(http):
    assert http.get("/health").headers["x-content-type-options"] == "nosniff"
