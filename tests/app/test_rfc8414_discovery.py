"""Discovery metadata (RFC 8414, OpenID Connect Discovery 1.0) and the JWKS it
points to."""

from __future__ import annotations


def test_discovery_documents_point_to_the_reference_paths(http, state):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        meta = http.get(path).json()
        assert meta["issuer"] == "https://testserver"
        assert meta["authorization_endpoint"] == "https://testserver/api/v2/oauth/authorize"
        assert meta["token_endpoint"] == "https://testserver/api/v2/oauth/token"
        assert meta["userinfo_endpoint"] == "https://testserver/api/v2/oauth/userinfo"
        assert meta["introspection_endpoint"] == "https://testserver/api/v2/oauth/introspect"
        assert meta["revocation_endpoint"] == "https://testserver/api/v2/oauth/revoke"
        assert meta["end_session_endpoint"] == "https://testserver/api/v2/oauth/logout"
        assert meta["jwks_uri"] == "https://testserver/jwks.json"
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["response_types_supported"] == ["code"]
        assert meta["authorization_response_iss_parameter_supported"] is True
        assert "password" not in meta["grant_types_supported"]
        assert "implicit" not in meta["grant_types_supported"]
        assert set(meta["scopes_supported"]) >= {"openid", "profile", "email", "offline_access"}


def test_discovery_advertises_none_for_revocation_but_not_introspection(http, state):
    meta = http.get("/.well-known/oauth-authorization-server").json()
    assert "none" in meta["revocation_endpoint_auth_methods_supported"]
    assert "none" not in meta["introspection_endpoint_auth_methods_supported"]


def test_jwks_keys_all_have_a_kid(http, state):
    keys = http.get("/jwks.json").json()["keys"]
    assert keys
    assert all(key.get("kid") for key in keys)
    assert all("d" not in key for key in keys)  # never a private part
