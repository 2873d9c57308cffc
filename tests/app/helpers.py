"""Helpers that several test files share (the fixtures are in conftest.py)."""

from __future__ import annotations

import base64
import json
import socket
import time
from types import SimpleNamespace

from conftest import ISSUER, REDIRECT, authorize_params, basic, get_code, pkce_pair, redeem, register
from gatehouse.accounts.actor import ADMIN_PERMISSIONS
from gatehouse.oauth import access_token as access_tokens
from gatehouse.oauth.admin_resource import admin_audience
from gatehouse.store.models import Client, Permission, Role, RolePermission, Session

# The endpoints.
AUTHORIZE = "/api/v2/oauth/authorize"
TOKEN = "/api/v2/oauth/token"
INTROSPECT = "/api/v2/oauth/introspect"
REVOKE = "/api/v2/oauth/revoke"
USERINFO = "/api/v2/oauth/userinfo"
LOGOUT = "/api/v2/oauth/logout"
SPA_REDIRECT = "http://127.0.0.1/callback"

# The default request body limits: MAX_REQUEST_BODY_BYTES and ADMIN_MAX_REQUEST_BODY_BYTES.
LIMIT = 64 * 1024
ADMIN_LIMIT = 256 * 1024

# A fixed clock for rows written straight to the tables.
NOW = 2_000_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def away_from_a_window_edge(window: int = 60, margin: float = 3.0) -> None:
    """Fixed-window counters reset at each window's start; do not straddle one."""
    into = time.time() % window
    if into > window - margin:
        time.sleep(window - into + 0.05)


def signed_in(user) -> bool:
    return Session.select().where(Session.user_id == user.id).exists()


# Tokens -------------------------------------------------------------------


def client_credentials(http, service):
    return http.post("/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*service))


def _cc_token(http, client):
    return http.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic(*client)).json()["access_token"]


def _tokens(http, webapp, **extra):
    """Sign in as alice (who stays signed in), consent, and redeem the code: the token response."""
    code, verifier, _ = get_code(http, **extra)
    return redeem(http, code, verifier, webapp).json()


def _user_tokens(http, webapp):
    code, verifier, _ = get_code(http)
    return redeem(http, code, verifier, webapp).json()


def _spa_tokens(http):
    code, verifier, _ = get_code(http, "spa")
    response = redeem(http, code, verifier, ("spa", None), redirect_uri=SPA_REDIRECT)
    assert response.status_code == 200, response.text
    return response.json()


def _payload(jwt: str) -> dict:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _introspect(http, token, caller, **extra):
    return http.post(INTROSPECT, data={"token": token, **extra}, headers=basic(*caller)).json()


def _refresh(http, refresh_token, client):
    client_id, secret = client
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if secret:
        return http.post(TOKEN, data=data, headers=basic(client_id, secret))
    return http.post(TOKEN, data={**data, "client_id": client_id})


def _userinfo(http, access_token):
    return http.get(USERINFO, headers={"Authorization": f"Bearer {access_token}"})


def _resource_server(state):
    """A confidential client that only checks tokens (an API)."""
    return register(
        client_id="orders-api",
        name="Orders API",
        redirect_uris=[],
        post_logout_redirect_uris=[],
        grant_types=["client_credentials"],
        scope="api:read",
    )


def _signed_for(state, client_id, audience):
    token, _ = access_tokens.issue(
        state.tokens.signer, client_id=client_id, subject=client_id, scope="api:read", ttl=300, audience=audience
    )
    return token


# The authorization request -------------------------------------------------


def _ask(http, client_id="webapp", **extra):
    _, challenge = pkce_pair()
    return http.get(AUTHORIZE, params=authorize_params(client_id, challenge, **extra))


# The admin API -------------------------------------------------------------


API = "/api/v2/admin"
ADMIN_CLIENT = "admin-cli"


def admin_client():
    """The site's admin client (the role bootstraps one: gatehouse-admin), registered once per test."""
    if Client.get_or_none(Client.client_id == ADMIN_CLIENT) is None:
        register(
            client_id=ADMIN_CLIENT,
            name="Admin CLI",
            is_admin=True,
            redirect_uris=[REDIRECT],
            scope="openid admin offline_access",
        )
    return ADMIN_CLIENT


def token_for(state, user, client_id=None, scope="admin"):
    """A user access token minted the way the token endpoint mints one; by default for the admin API
    (an admin client, scope admin: audience the admin API, roles and permissions claims)."""
    client_id = client_id or admin_client()
    grant = state.tokens.new_grant(client_id, user.id, scope, int(time.time()))
    issued = state.tokens.for_user(
        grant_type="authorization_code",
        client=SimpleNamespace(client_id=client_id),
        user=user,
        grant=grant,
        scope=scope,
        include_refresh=False,
        include_id_token=False,
    )
    return issued["access_token"]


def signed_admin_token(state, user, **claims) -> str:
    """A token signed by the server, shaped as for the admin API unless `claims` say otherwise
    (to forge one that breaks a single rule)."""
    values = {
        "client_id": admin_client(),
        "subject": str(user.id),
        "scope": "admin",
        "ttl": 60,
        "audience": admin_audience(ISSUER),
        "roles": ["admin"],
        "permissions": ADMIN_PERMISSIONS,
    }
    values.update(claims)
    return access_tokens.issue(state.tokens.signer, **values)[0]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def role_with(name, *permissions):
    role = Role.create(name=name)
    for permission in permissions:
        RolePermission.create(role=role, permission=Permission.get_or_create(name=permission)[0])
    return role
