"""The end-user pages in a real browser: sign in and consent in headless Chromium.

The app is served for real (uvicorn on a loopback port); the client's
redirect URI is a tiny HTTP server on another loopback port, so the browser
follows every redirect exactly as it would for a real application.
Debian's chromium is driven by Playwright; no browser is ever downloaded.
"""

from __future__ import annotations

import http.server
import os
import threading
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from conftest import PASSWORD, pkce_pair, register, serving
from gatehouse.accounts.actor import REAUTHENTICATE_AFTER
from gatehouse.store.models import Session, User
from helpers import free_port
from joserfc import jwk, jwt

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent (apt-get install chromium; CI installs it)"
)


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def env(env, port):
    env["ISSUER"] = f"http://127.0.0.1:{port}"
    return env


@pytest.fixture
def live_server(app, port):
    """The app behind uvicorn on 127.0.0.1:<port>, as in `gatehouse serve`."""
    with serving(app, port):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def callback():
    """The client application's redirect endpoint: records every query it receives."""
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            received.append(self.path)
            body = b"<html><body><p id='done'>callback received</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callback", received
    server.shutdown()
    server.server_close()


def test_user_signs_in_and_consents_through_the_real_pages(live_server, callback, user, settings):
    from playwright.sync_api import sync_playwright

    redirect_uri, received = callback
    client_id, _ = register(
        client_id="browser-app",
        name="Browser App",
        confidential=False,
        redirect_uris=[redirect_uri],
        post_logout_redirect_uris=[],
    )
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile email offline_access",
        "state": "browser-state-1",
        "nonce": "browser-nonce-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{live_server}/api/v2/oauth/authorize?{urlencode(params)}")
            page.wait_for_url(f"{live_server}/login?**")
            page.fill("#username", "alice")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")

            page.wait_for_url(f"{live_server}/api/v2/oauth/authorize?**")
            assert "Browser App" in page.inner_text("h2")
            shown = page.eval_on_selector_all("li[data-scope]", "items => items.map(i => i.dataset.scope)")
            assert shown == ["openid", "profile", "email", "offline_access"]
            page.click("button[value=allow]")

            page.wait_for_url(f"{redirect_uri}?**")
            assert page.inner_text("#done") == "callback received"
            cookies = {c["name"]: c for c in page.context.cookies()}
            # The server's name for it: the plain one here (an http loopback issuer), __Host- under https.
            assert settings.session_cookie == "gatehouse_session"
            assert cookies[settings.session_cookie]["httpOnly"] is True
            assert cookies[settings.session_cookie]["sameSite"] == "Lax"
        finally:
            browser.close()

    redirects = [path for path in received if path.startswith("/callback?")]
    assert len(redirects) == 1
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirects[0]).query).items()}
    assert query["state"] == "browser-state-1"
    assert query["iss"] == live_server

    response = httpx.post(
        f"{live_server}/api/v2/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": client_id,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert {"access_token", "refresh_token", "id_token"} <= set(tokens)
    keys = jwk.KeySet.import_key_set(httpx.get(f"{live_server}/jwks.json", timeout=10).json())
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims
    assert id_token["nonce"] == "browser-nonce-1"
    assert id_token["iss"] == live_server
    assert id_token["aud"] == client_id


def test_admin_confirms_their_password_for_a_sensitive_change_then_repeats_it(live_server, admin_user, user, tmp_path):
    """ASVS 7.5 in the portal: an old sign-in gets "Confirm it's you"; the password renews it; the
    operator repeats the change themselves. Screenshots of each step go to tmp_path."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{live_server}/admin/users")
            page.wait_for_url(f"{live_server}/login?**")
            page.fill("#username", "root-admin")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server}/admin/users")

            old = int(time.time()) - REAUTHENTICATE_AFTER - 5
            assert Session.update(auth_time=old).where(Session.user_id == admin_user.id).execute() == 1
            deactivate = "tr[data-user=alice] button"
            assert page.inner_text(deactivate) == "Deactivate"
            page.click(deactivate)
            page.wait_for_url(f"{live_server}/admin/users/{user.id}/active")
            assert page.inner_text("h2") == "Confirm it's you"
            assert page.get_attribute("#password", "autocomplete") == "current-password"
            page.screenshot(path=str(tmp_path / "reauthenticate-confirm.png"), full_page=True)
            assert User.get_by_id(user.id).is_active

            page.fill("#password", "not the password")
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server}/admin/reauthenticate")
            assert page.inner_text("p.error") == "That password is not right."
            page.screenshot(path=str(tmp_path / "reauthenticate-wrong.png"), full_page=True)

            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server}/admin/users?reauthenticated=1")
            assert page.inner_text("p.notice") == "Confirmed. Repeat the change."
            page.screenshot(path=str(tmp_path / "reauthenticate-confirmed.png"), full_page=True)
            assert User.get_by_id(user.id).is_active  # the change is not replayed for the operator

            page.click(deactivate)
            page.wait_for_url(f"{live_server}/admin/users")
            assert page.inner_text(deactivate) == "Activate"
            assert "deactivated" in page.inner_text("tr[data-user=alice]")
            page.screenshot(path=str(tmp_path / "reauthenticate-result.png"), full_page=True)
        finally:
            browser.close()
    assert not User.get_by_id(user.id).is_active
