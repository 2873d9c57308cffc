"""Refresh tokens (RFC 6749 §6, RFC 9700 §4.14, OAuth 2.1 §4.3), and the roles
and permissions a refreshed admin API token carries."""

from __future__ import annotations

from conftest import ISSUER, REDIRECT, basic, get_code, redeem, register
from gatehouse.oauth.admin_resource import admin_audience
from helpers import TOKEN


def _tokens(http, webapp, scope="openid profile email offline_access"):
    code, verifier, _ = get_code(http, scope=scope)
    response = redeem(http, code, verifier, webapp)
    assert response.status_code == 200, response.text
    return response.json()


def _refresh(http, client, refresh_token, **extra):
    return http.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}, headers=basic(*client)
    )


def test_refresh_token_requires_offline_access(http, user, webapp):
    assert "refresh_token" not in _tokens(http, webapp, scope="openid profile")


def test_refresh_issues_new_access_and_refresh_token(http, user, webapp):
    first = _tokens(http, webapp)
    response = _refresh(http, webapp, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert response.headers["cache-control"] == "no-store"


def test_refresh_token_is_rotated_on_every_use(http, user, webapp):
    first = _tokens(http, webapp)
    assert _refresh(http, webapp, first["refresh_token"]).status_code == 200
    assert _refresh(http, webapp, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_rotated_out_refresh_token_revokes_the_whole_grant(http, user, webapp):
    first = _tokens(http, webapp)
    second = _refresh(http, webapp, first["refresh_token"]).json()
    _refresh(http, webapp, first["refresh_token"])  # replay of the rotated-out token
    assert _refresh(http, webapp, second["refresh_token"]).json()["error"] == "invalid_grant"
    for access_token in (first["access_token"], second["access_token"]):
        result = http.post("/api/v2/oauth/introspect", data={"token": access_token}, headers=basic(*webapp)).json()
        assert result == {"active": False}


def test_refresh_token_of_another_client_is_refused_and_not_consumed(http, user, webapp, state):
    from conftest import register

    other = register(client_id="other", name="Other")
    first = _tokens(http, webapp)
    assert _refresh(http, other, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert _refresh(http, webapp, first["refresh_token"]).status_code == 200


def test_refresh_may_narrow_but_not_widen_scope(http, user, webapp):
    first = _tokens(http, webapp, scope="openid offline_access")
    widened = _refresh(http, webapp, first["refresh_token"], scope="openid email offline_access")
    assert widened.json()["error"] == "invalid_scope"
    narrowed = _refresh(http, webapp, first["refresh_token"], scope="openid")
    assert narrowed.status_code == 200
    assert narrowed.json()["scope"] == "openid"


def test_refresh_token_has_an_absolute_lifetime(http, user, webapp, state):
    from gatehouse.store.models import Grant, RefreshToken

    first = _tokens(http, webapp)
    grant = Grant.get()
    assert grant.expires_at - grant.created_at == state.settings.refresh_token_ttl
    second = _refresh(http, webapp, first["refresh_token"]).json()
    # Rotation does not extend the lifetime of the grant.
    rows = list(RefreshToken.select())
    assert {r.expires_at for r in rows} == {grant.expires_at}
    RefreshToken.update(expires_at=0).execute()
    assert _refresh(http, webapp, second["refresh_token"]).json()["error"] == "invalid_grant"


def test_client_without_refresh_grant_gets_no_refresh_token(http, user, state):
    from conftest import register

    client = register(client_id="norefresh", name="No Refresh", grant_types=["authorization_code"])
    code, verifier, _ = get_code(http, "norefresh", redirect_uri="https://app.example.test/callback")
    response = redeem(http, code, verifier, client)
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()


def _claims(access_token: str) -> dict:
    import base64
    import json

    payload = access_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_admin_api_tokens_carry_the_users_current_roles_and_permissions(http, user, state):
    """Tokens for the admin API (an admin client, scope admin) carry roles and permissions, read anew at refresh."""
    from gatehouse.store.models import Permission, Role, RolePermission, UserRole

    console = register(client_id="ops-console", name="Ops console", is_admin=True, scope="openid admin offline_access")
    editor = Role.create(name="editor")
    viewer = Role.create(name="viewer")  # a role without permissions still counts
    for name in ("docs:write", "docs:read"):
        RolePermission.create(role=editor, permission=Permission.create(name=name))
    UserRole.create(user=user, role=editor)
    UserRole.create(user=user, role=viewer)
    code, verifier, _ = get_code(http, client_id="ops-console", redirect_uri=REDIRECT, scope="admin offline_access")
    first = redeem(http, code, verifier, console).json()
    claims = _claims(first["access_token"])
    assert (claims["roles"], claims["permissions"]) == (["editor", "viewer"], ["docs:read", "docs:write"])
    assert claims["aud"] == admin_audience(ISSUER)
    refreshed = _refresh(http, console, first["refresh_token"]).json()
    claims = _claims(refreshed["access_token"])
    assert (claims["roles"], claims["permissions"]) == (["editor", "viewer"], ["docs:read", "docs:write"])
    # Refresh reads them anew: a role taken away is gone from the next token.
    UserRole.delete().where(UserRole.role == editor).execute()
    claims = _claims(_refresh(http, console, refreshed["refresh_token"]).json()["access_token"])
    assert (claims["roles"], "permissions" in claims) == (["viewer"], False)


def test_an_ordinary_relying_partys_tokens_do_not_advertise_admin_permissions(http, admin_user, webapp):
    code, verifier, _ = get_code(http, username="root-admin")
    first = redeem(http, code, verifier, webapp).json()
    refreshed = _refresh(http, webapp, first["refresh_token"]).json()
    for token in (first["access_token"], refreshed["access_token"]):
        claims = _claims(token)
        assert "roles" not in claims and "permissions" not in claims
        assert claims["aud"] == "webapp"
