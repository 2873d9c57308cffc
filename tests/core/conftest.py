"""Fixtures for the protocol's tests without HTTP (test_*.py here): key sets and signers on disk; no app, no
database. Stand-ins for the token service and the client cache, for oauth.bearer and oauth.rp_logout."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from gatehouse.crypto.jws import TokenSigner
from gatehouse.crypto.key_set import KeySet, rotate

ISSUER = "https://issuer.test"
ALGORITHMS = ("RS256", "ES256", "EdDSA")


def key_set(directory, algorithm: str) -> KeySet:
    """A key set of one active key of `algorithm` in `directory`."""
    rotate(directory, algorithm, 3600)
    return KeySet(str(directory))


@pytest.fixture(scope="session", params=ALGORITHMS)
def keys(request, tmp_path_factory) -> KeySet:
    """One active key of each algorithm in turn (generated once per session: RSA takes a while)."""
    return key_set(tmp_path_factory.mktemp(f"keys-{request.param}"), request.param)


@pytest.fixture(scope="session")
def rs256_keys(tmp_path_factory) -> KeySet:
    return key_set(tmp_path_factory.mktemp("keys-rs256"), "RS256")


@pytest.fixture
def signer(keys) -> TokenSigner:
    return TokenSigner(keys, ISSUER)


@pytest.fixture
def rs256_signer(rs256_keys) -> TokenSigner:
    return TokenSigner(rs256_keys, ISSUER)


class Clients:
    """A stand-in for oauth.clients.ClientCache: the clients given are registered and active."""

    def __init__(self, *records):
        self.records = {record.client_id: record for record in records}

    def get(self, client_id):
        return self.records.get(client_id) if isinstance(client_id, str) else None

    def is_active(self, client_id) -> bool:
        return self.get(client_id) is not None


class Tokens:
    """A stand-in for oauth.issuance.TokenService: its signer, and the token and grant ids revoked."""

    def __init__(self, signer: TokenSigner, revoked=()):
        self.signer = signer
        self.revoked = set(revoked)

    def is_revoked(self, claims: dict) -> bool:
        return bool({claims.get("jti"), claims.get("gid")} & self.revoked)


def server(signer: TokenSigner, clients=(), revoked=()):
    """What oauth.bearer reads of the OAuthServer: .tokens and .clients."""
    return SimpleNamespace(tokens=Tokens(signer, revoked), clients=Clients(*clients))
