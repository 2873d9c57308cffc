"""Signing keys (issue §5): the key set in JWT_KEYS_DIR, its rotation, and the JWKS.

Life of a key: `next` (published, signs nothing) -> `active` (signs) ->
`retired` (published until every token it signed has expired) -> deleted.
"""

from __future__ import annotations

import json
import stat

import pytest
from conftest import basic, get_code, redeem
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gatehouse.crypto.key_set import MANIFEST, KeySet, read_manifest, rotate
from gatehouse.oauth.id_token import left_hash
from joserfc import jwk, jws, jwt


@pytest.fixture
def env(env, request):
    """Per-test settings: indirect parameters, and JWT_PRIVATE_KEY_PATH for tests that take pem_key."""
    if "pem_key" in request.fixturenames:
        env["JWT_PRIVATE_KEY_PATH"] = str(request.getfixturevalue("pem_key"))
    env.update(getattr(request, "param", {}))
    return env


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def client_credentials_token(http, service) -> str:
    response = http.post("/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*service))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def kid_of(token: str) -> str:
    return jws.extract_compact(token.encode()).protected["kid"]


def verify_with_jwks(http, token: str, algorithm: str) -> dict:
    keys = jwk.KeySet.import_key_set(http.get("/jwks.json").json())
    return jwt.decode(token, keys, algorithms=[algorithm]).claims


# Rotation on disk -----------------------------------------------------------


def test_first_rotation_creates_one_active_key_in_a_0600_file(tmp_path):
    directory = tmp_path / "keys"
    changes = rotate(directory, "RS256", 3600)
    entries = read_manifest(directory)
    assert [e["state"] for e in entries] == ["active"]
    assert changes["created"] == entries[0]["kid"]
    assert mode(directory / f"{entries[0]['kid']}.pem") == 0o600
    assert mode(directory / MANIFEST) == 0o600
    assert mode(directory) == 0o700


def test_second_rotation_adds_a_next_key_that_does_not_sign(tmp_path):
    directory = tmp_path / "keys"
    first = rotate(directory, "RS256", 3600)["created"]
    second = rotate(directory, "RS256", 3600)["created"]
    states = {e["kid"]: e["state"] for e in read_manifest(directory)}
    assert states == {first: "active", second: "next"}
    keys = KeySet(str(directory))
    assert keys.active.kid == first
    assert {k["kid"] for k in keys.jwks()["keys"]} == {first, second}


def test_next_key_is_promoted_on_the_following_rotation(tmp_path):
    directory = tmp_path / "keys"
    first = rotate(directory, "RS256", 3600)["created"]
    second = rotate(directory, "RS256", 3600)["created"]
    changes = rotate(directory, "RS256", 3600)
    assert changes["promoted"] == second
    assert changes["retired"] == first
    states = {e["kid"]: e["state"] for e in read_manifest(directory)}
    assert states == {first: "retired", second: "active", changes["created"]: "next"}
    assert KeySet(str(directory)).active.kid == second


def test_retired_key_stays_published_until_the_max_token_lifetime_has_passed(tmp_path):
    directory = tmp_path / "keys"
    now = 1_000_000
    first = rotate(directory, "RS256", 3600, now=now)["created"]
    rotate(directory, "RS256", 3600, now=now)
    rotate(directory, "RS256", 3600, now=now + 10)  # first retires at now + 10
    rotate(directory, "RS256", 3600, now=now + 10 + 3600)  # exactly at its lifetime: still kept
    assert first in {e["kid"] for e in read_manifest(directory)}
    assert (directory / f"{first}.pem").exists()
    assert first in {k["kid"] for k in KeySet(str(directory)).jwks()["keys"]}


def test_retired_key_is_deleted_after_the_max_token_lifetime(tmp_path):
    directory = tmp_path / "keys"
    now = 1_000_000
    first = rotate(directory, "RS256", 3600, now=now)["created"]
    rotate(directory, "RS256", 3600, now=now)
    rotate(directory, "RS256", 3600, now=now + 10)
    changes = rotate(directory, "RS256", 3600, now=now + 10 + 3601)
    assert first in changes["deleted"]
    assert first not in {e["kid"] for e in read_manifest(directory)}
    assert not (directory / f"{first}.pem").exists()
    assert first not in {k["kid"] for k in KeySet(str(directory)).jwks()["keys"]}


def test_max_token_lifetime_covers_access_and_id_tokens(settings):
    assert settings.max_token_lifetime == max(settings.access_token_ttl, settings.id_token_ttl)


# The JWKS and signed tokens --------------------------------------------------


def test_every_jwks_key_has_a_kid_alg_and_use(http, state):
    rotate(state.keys.keys_dir, "RS256", 3600)
    state.keys.load()
    keys = http.get("/jwks.json").json()["keys"]
    assert len(keys) == 2
    for key in keys:
        assert key["kid"] and key["alg"] == "RS256" and key["use"] == "sig"
        assert "d" not in key and "p" not in key  # public parts only


def test_tokens_are_signed_by_the_active_key_not_the_next(http, state, service):
    active = state.keys.active.kid
    upcoming = rotate(state.keys.keys_dir, "RS256", 3600)["created"]
    state.keys.load()
    token = client_credentials_token(http, service)
    assert kid_of(token) == active != upcoming
    assert upcoming in {k["kid"] for k in http.get("/jwks.json").json()["keys"]}


def test_token_signed_by_a_retired_key_still_verifies(http, state, service):
    token = client_credentials_token(http, service)
    rotate(state.keys.keys_dir, "RS256", 3600)
    rotate(state.keys.keys_dir, "RS256", 3600)
    state.keys.load()
    assert kid_of(client_credentials_token(http, service)) != kid_of(token)
    assert verify_with_jwks(http, token, "RS256")["client_id"] == "service"
    introspected = http.post("/api/v2/oauth/introspect", data={"token": token}, headers=basic(*service)).json()
    assert introspected["active"] is True


@pytest.mark.parametrize(
    "env", [{"JWT_ALGORITHM": a} for a in ("RS256", "ES256", "EdDSA")], indirect=True, ids=lambda p: p["JWT_ALGORITHM"]
)
def test_jwt_algorithm_signs_tokens_verifiable_with_the_jwks(http, service, settings):
    algorithm = settings.jwt_algorithm
    token = client_credentials_token(http, service)
    header = jws.extract_compact(token.encode()).protected
    assert header["alg"] == algorithm
    assert header["typ"] == "at+jwt"
    assert verify_with_jwks(http, token, algorithm)["client_id"] == "service"
    assert http.get("/.well-known/openid-configuration").json()["id_token_signing_alg_values_supported"] == [algorithm]


@pytest.mark.parametrize(
    "env", [{"JWT_ALGORITHM": a} for a in ("ES256", "EdDSA")], indirect=True, ids=lambda p: p["JWT_ALGORITHM"]
)
def test_id_token_of_each_algorithm_verifies_with_the_jwks(http, user, webapp, settings):
    code, verifier, _ = get_code(http)
    tokens = redeem(http, code, verifier, webapp).json()
    claims = verify_with_jwks(http, tokens["id_token"], settings.jwt_algorithm)
    assert claims["nonce"] == "n-456"
    assert claims["at_hash"] == left_hash(tokens["access_token"], settings.jwt_algorithm)


@pytest.fixture
def pem_key(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "private.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    return path


def test_jwt_private_key_path_signs_with_that_single_key(http, pem_key, service):
    expected_kid = jwk.RSAKey.import_key(pem_key.read_bytes()).thumbprint()
    keys = http.get("/jwks.json").json()["keys"]
    assert [k["kid"] for k in keys] == [expected_kid]
    token = client_credentials_token(http, service)
    assert kid_of(token) == expected_kid
    assert verify_with_jwks(http, token, "RS256")["client_id"] == "service"


# A running server ------------------------------------------------------------


def test_running_server_picks_up_a_rotation_without_restart(http, state, service, monkeypatch):
    monkeypatch.setattr(KeySet, "RECHECK_SECONDS", 0.0)
    before = {k["kid"] for k in http.get("/jwks.json").json()["keys"]}
    upcoming = rotate(state.keys.keys_dir, "RS256", 3600)["created"]  # on disk only, as the CLI does
    after = {k["kid"] for k in http.get("/jwks.json").json()["keys"]}
    assert after == before | {upcoming}

    rotate(state.keys.keys_dir, "RS256", 3600)
    token = client_credentials_token(http, service)
    assert kid_of(token) == upcoming


def test_manifest_is_json_listing_kid_alg_state(state):
    entries = json.loads((state.keys.keys_dir / MANIFEST).read_text())
    assert entries and {"kid", "alg", "state", "created_at"} <= set(entries[0])
