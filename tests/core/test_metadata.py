"""The metadata document (RFC 8414 §2, OpenID Connect Discovery 1.0 §3), oauth.metadata, built without HTTP."""

from __future__ import annotations

import json

import pytest
from gatehouse.oauth import capabilities
from gatehouse.oauth.grants import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant
from gatehouse.oauth.metadata import metadata
from gatehouse.web import routes

ISSUER = "https://id.example.test"


@pytest.fixture
def document() -> dict:
    return metadata(ISSUER, "ES256")


def test_the_issuer_is_the_one_given(document):
    """RFC 8414 §3.3: the issuer in the document is the one the client asked about."""
    assert document["issuer"] == ISSUER


@pytest.mark.parametrize(
    ("member", "path"),
    [
        ("authorization_endpoint", routes.AUTHORIZE),
        ("token_endpoint", routes.TOKEN),
        ("userinfo_endpoint", routes.USERINFO),
        ("introspection_endpoint", routes.INTROSPECT),
        ("revocation_endpoint", routes.REVOKE),
        ("end_session_endpoint", routes.END_SESSION),
        ("jwks_uri", routes.JWKS),
    ],
)
def test_every_endpoint_is_the_issuer_and_the_path_the_router_serves(document, member, path):
    assert document[member] == ISSUER + path


def test_the_endpoints_are_where_the_issuer_is_served():
    assert (
        metadata("https://other.test/tenant", "RS256")["token_endpoint"] == "https://other.test/tenant" + routes.TOKEN
    )


def test_the_grant_types_are_those_of_the_registered_grants(document):
    registered = [grant.GRANT_TYPE for grant in (AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant)]
    assert sorted(document["grant_types_supported"]) == sorted(registered)


def test_the_token_endpoint_methods_are_those_the_grants_accept(document):
    accepted = set(AuthorizationCodeGrant.TOKEN_ENDPOINT_AUTH_METHODS) | set(
        ClientCredentialsGrant.TOKEN_ENDPOINT_AUTH_METHODS
    )
    assert set(document["token_endpoint_auth_methods_supported"]) == accepted


def test_introspection_takes_secrets_only_and_revocation_public_clients_too(document):
    assert document["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert document["revocation_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]


def test_pkce_is_s256_only_and_the_flow_is_code_in_the_query(document):
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert document["response_modes_supported"] == ["query"]


def test_the_id_token_algorithm_is_the_signing_keys(document):
    assert document["id_token_signing_alg_values_supported"] == ["ES256"]


def test_the_lists_are_the_capabilities(document):
    assert document["scopes_supported"] == list(capabilities.SCOPES_SUPPORTED)
    assert document["claims_supported"] == list(capabilities.CLAIMS_SUPPORTED)
    assert document["prompt_values_supported"] == ["none", "login", "consent"]
    assert document["subject_types_supported"] == ["public"]


def test_every_authorization_response_names_its_issuer(document):
    """RFC 9207 §3: advertised, because oauth.server adds `iss` to every redirect."""
    assert document["authorization_response_iss_parameter_supported"] is True


def test_the_document_is_plain_json(document):
    assert json.loads(json.dumps(document)) == document
