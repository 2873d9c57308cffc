"""The key set (crypto.key_set): which key signs, which verify, what the JWKS publishes, and reloading."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from gatehouse.crypto.key_set import MANIFEST, KeySet, read_manifest, rotate
from gatehouse.errors import KeySetError

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def test_an_empty_key_directory_has_no_active_key_and_says_what_to_run(tmp_path):
    with pytest.raises(KeySetError, match="rotate-keys"):
        _ = KeySet(str(tmp_path)).active


def test_the_active_key_signs_and_the_next_one_does_not(tmp_path):
    rotate(tmp_path, "ES256", 3600)
    rotate(tmp_path, "ES256", 3600)
    states = {entry["state"]: entry["kid"] for entry in read_manifest(tmp_path)}
    keys = KeySet(str(tmp_path))
    assert keys.active.kid == states["active"]
    assert keys.verification_key(states["next"]) is not None


def test_a_retired_key_still_verifies(tmp_path):
    first = rotate(tmp_path, "ES256", 3600)["created"]
    rotate(tmp_path, "ES256", 3600)
    rotate(tmp_path, "ES256", 3600)
    keys = KeySet(str(tmp_path))
    assert keys.active.kid != first
    assert keys.verification_key(first).state == "retired"


def test_an_unknown_kid_has_no_verification_key(keys):
    assert keys.verification_key("no-such-kid") is None
    assert keys.verification_key(None) is None


def test_the_jwks_publishes_every_key_public_only_with_kid_alg_and_use(tmp_path):
    rotate(tmp_path, "RS256", 3600)
    rotate(tmp_path, "RS256", 3600)
    keys = KeySet(str(tmp_path))
    published = keys.jwks()["keys"]
    assert {k["kid"] for k in published} == {e["kid"] for e in read_manifest(tmp_path)}
    for key in published:
        assert key["alg"] == "RS256" and key["use"] == "sig"
        assert not PRIVATE_MEMBERS & set(key), key
    assert json.loads(keys.jwks_json()) == keys.jwks()


def test_the_kid_is_the_keys_thumbprint_for_every_algorithm(keys):
    assert keys.active.kid == keys.active.key.thumbprint()
    assert keys.active.public_jwk()["alg"] == keys.active.alg


def test_a_rotation_on_disk_is_picked_up_without_a_restart(tmp_path, monkeypatch):
    rotate(tmp_path, "ES256", 3600)
    keys = KeySet(str(tmp_path))
    before = keys.active.kid
    rotate(tmp_path, "ES256", 3600)
    rotate(tmp_path, "ES256", 3600)
    monkeypatch.setattr(KeySet, "RECHECK_SECONDS", 0.0)
    assert keys.active.kid != before
    assert keys.active.kid == next(e["kid"] for e in read_manifest(tmp_path) if e["state"] == "active")


def test_between_rechecks_the_key_set_does_not_look_at_the_disk(tmp_path):
    rotate(tmp_path, "ES256", 3600)
    keys = KeySet(str(tmp_path))
    _ = keys.active
    (tmp_path / MANIFEST).write_text("not json")  # would fail to load
    assert keys.active.state == "active"


def test_a_single_private_key_file_is_the_active_key(tmp_path):
    pem = tmp_path / "signing.pem"
    private = ec.generate_private_key(ec.SECP256R1())
    pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    keys = KeySet(str(tmp_path / "unused"), str(pem))
    assert keys.active.alg == "ES256"
    assert [k["kid"] for k in keys.jwks()["keys"]] == [keys.active.kid]


def test_a_missing_private_key_file_is_a_key_set_error(tmp_path):
    with pytest.raises(KeySetError, match="JWT_PRIVATE_KEY_PATH"):
        KeySet(str(tmp_path), str(tmp_path / "missing.pem"))
