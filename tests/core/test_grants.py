"""The grants of the token endpoint (oauth.grants) and the client rules they rely on, without HTTP or storage.

Which client may authenticate how (RFC 6749 §2.3, RFC 7009 §2.1, RFC 7662
§2.1) is capabilities' one list, read by the grants, the clients and the
endpoints alike.
"""

from __future__ import annotations

import pytest
from gatehouse.oauth import capabilities
from gatehouse.oauth.clients import ClientRecord
from gatehouse.oauth.grants import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant
from gatehouse.oauth.server import OAuthServer

SECRET = ("client_secret_basic", "client_secret_post")


def client(confidential: bool, grant_types=("authorization_code", "refresh_token"), scope="openid profile", **more):
    return ClientRecord(
        id=1,
        client_id="c",
        name="C",
        is_confidential=confidential,
        secret_digest=None,
        redirect_uris=("https://app.example/cb",),
        post_logout_redirect_uris=(),
        grant_types=frozenset(grant_types),
        scopes=tuple(scope.split()),
        **more,
    )


def test_the_server_offers_exactly_the_grant_types_it_advertises():
    grants = {grant.GRANT_TYPE for grant in (AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant)}
    assert grants == set(capabilities.GRANT_TYPES)


def test_the_server_registers_every_grant_with_pkce_required_on_the_code_grant(monkeypatch):
    registered = []
    monkeypatch.setattr(
        OAuthServer, "register_grant", lambda self, grant, extensions=None: registered.append((grant, extensions))
    )
    OAuthServer(settings=None, clients=None, tokens=None, limiter=None)
    assert [grant for grant, _ in registered] == [AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant]
    code_extensions = registered[0][1]
    assert [type(e).__name__ for e in code_extensions] == ["S256CodeChallenge"] and code_extensions[0].required


def test_public_clients_may_redeem_codes_and_refresh_but_not_use_client_credentials():
    assert "none" in AuthorizationCodeGrant.TOKEN_ENDPOINT_AUTH_METHODS
    assert "none" in RefreshTokenGrant.TOKEN_ENDPOINT_AUTH_METHODS
    assert tuple(ClientCredentialsGrant.TOKEN_ENDPOINT_AUTH_METHODS) == SECRET


@pytest.mark.parametrize("endpoint", ["token", "introspection", "revocation"])
def test_a_confidential_client_must_send_its_secret_at_every_endpoint(endpoint):
    confidential = client(True)
    assert confidential.check_endpoint_auth_method("client_secret_basic", endpoint)
    assert confidential.check_endpoint_auth_method("client_secret_post", endpoint)
    assert not confidential.check_endpoint_auth_method("none", endpoint)


@pytest.mark.parametrize("endpoint", ["token", "introspection", "revocation"])
def test_a_public_client_has_no_secret_to_send(endpoint):
    public = client(False)
    assert public.check_endpoint_auth_method("none", endpoint)
    assert not public.check_endpoint_auth_method("client_secret_basic", endpoint)


def test_introspection_is_for_confidential_clients_and_revocation_for_any():
    assert "none" not in capabilities.ENDPOINT_AUTH_METHODS["introspection"]
    assert "none" in capabilities.ENDPOINT_AUTH_METHODS["revocation"]


def test_only_the_code_response_type_and_only_for_a_client_of_the_code_grant():
    assert client(False).check_response_type("code")
    assert not client(False).check_response_type("token")
    assert not client(True, grant_types=("client_credentials",)).check_response_type("code")


def test_the_registered_scope_is_given_when_none_is_asked_and_more_is_refused():
    record = client(False, scope="openid profile api:read")
    assert record.get_allowed_scope("") == "openid profile api:read"
    assert record.get_allowed_scope("profile openid profile") == "profile openid"
    assert record.get_allowed_scope("openid email") is None


def test_the_admin_scope_only_ever_for_an_admin_client():
    assert client(True, scope="openid admin").get_allowed_scope("admin") is None
    assert client(True, scope="openid admin").get_allowed_scope("") == "openid"
    assert client(True, scope="openid admin", is_admin=True).get_allowed_scope("admin") == "admin"
