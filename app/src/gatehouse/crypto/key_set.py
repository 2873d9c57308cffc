"""The signing key set: files in JWT_KEYS_DIR, published as the JWKS.

Life of a key: `next` (published, signs nothing yet, so every cache of the
JWKS learns it first) -> `active` (signs) -> `retired` (published until
every token it signed has expired) -> deleted. `gatehouse rotate-keys`
moves each key one step. The manifest `keys.json` records the states;
`<kid>.pem` holds each private key (0600).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwk

from gatehouse.errors import KeySetError

MANIFEST = "keys.json"


def generate(algorithm: str):
    if algorithm == "RS256":
        return jwk.RSAKey.generate_key(2048, private=True)
    if algorithm == "ES256":
        return jwk.ECKey.generate_key("P-256", private=True)
    if algorithm == "EdDSA":
        return jwk.OKPKey.generate_key("Ed25519", private=True)
    raise KeySetError(f"unsupported JWT_ALGORITHM {algorithm!r}")


def algorithm_of(key) -> str:
    if isinstance(key, jwk.RSAKey):
        return "RS256"
    if isinstance(key, jwk.ECKey):
        return "ES256"
    return "EdDSA"


@dataclass
class SigningKey:
    kid: str
    alg: str
    key: object
    state: str

    def public_jwk(self) -> dict:
        data = self.key.as_dict(private=False)
        data.update(kid=self.kid, alg=self.alg, use="sig")
        return data


def _pem(key) -> bytes:
    return key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 from the first byte."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_manifest(directory: Path) -> list[dict]:
    path = directory / MANIFEST
    if not path.exists():
        return []
    return json.loads(path.read_text())


def write_manifest(directory: Path, entries: list[dict]) -> None:
    _write_private(directory / MANIFEST, json.dumps(entries, indent=2).encode() + b"\n")


def rotate(directory: Path, algorithm: str, max_token_lifetime: int, now: int | None = None) -> dict:
    """Move every key one step along its life; return what changed."""
    now = int(time.time()) if now is None else now
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    entries = read_manifest(directory)
    changes = {"created": None, "promoted": None, "retired": None, "deleted": []}

    def add(state):
        key = generate(algorithm)
        kid = key.thumbprint()
        _write_private(directory / f"{kid}.pem", _pem(key))
        entries.append({"kid": kid, "alg": algorithm, "state": state, "created_at": now})
        return kid

    active = [e for e in entries if e["state"] == "active"]
    upcoming = [e for e in entries if e["state"] == "next"]
    if not active and not upcoming:
        changes["created"] = add("active")
    else:
        if upcoming:
            for entry in active:
                entry.update(state="retired", retired_at=now)
                changes["retired"] = entry["kid"]
            upcoming[0]["state"] = "active"
            changes["promoted"] = upcoming[0]["kid"]
        changes["created"] = add("next")
    kept = []
    for entry in entries:
        if entry["state"] == "retired" and entry["retired_at"] + max_token_lifetime < now:
            (directory / f"{entry['kid']}.pem").unlink(missing_ok=True)
            changes["deleted"].append(entry["kid"])
        else:
            kept.append(entry)
    write_manifest(directory, kept)
    return changes


def _import_pem(data: bytes):
    private = serialization.load_pem_private_key(data, password=None)
    # By interface, not class name: cryptography's EC class is named ECPrivateKey.
    if isinstance(private, rsa.RSAPrivateKey):
        return jwk.RSAKey.import_key(data)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return jwk.ECKey.import_key(data)
    return jwk.OKPKey.import_key(data)


class KeySet:
    """The keys a process signs and publishes with; reloads when the manifest changes."""

    RECHECK_SECONDS = 5.0

    def __init__(self, keys_dir: str, private_key_path: str = ""):
        self.keys_dir = Path(keys_dir)
        self.private_key_path = private_key_path
        self._keys: list[SigningKey] = []
        self._stamp = None
        self._checked = 0.0
        self._jwks: dict = {"keys": []}
        self.load()

    def _current_stamp(self):
        path = Path(self.private_key_path) if self.private_key_path else self.keys_dir / MANIFEST
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def load(self) -> None:
        keys = []
        if self.private_key_path:
            path = Path(self.private_key_path)
            if not path.exists():
                raise KeySetError(f"JWT_PRIVATE_KEY_PATH {path} does not exist")
            key = _import_pem(path.read_bytes())
            keys.append(SigningKey(key.thumbprint(), algorithm_of(key), key, "active"))
        else:
            for entry in read_manifest(self.keys_dir):
                pem = (self.keys_dir / f"{entry['kid']}.pem").read_bytes()
                keys.append(SigningKey(entry["kid"], entry["alg"], _import_pem(pem), entry["state"]))
        self._keys = keys
        self._stamp = self._current_stamp()
        self._jwks = {"keys": [k.public_jwk() for k in keys]}
        self._jwks_json = json.dumps(self._jwks, separators=(",", ":")).encode()

    def refresh(self) -> None:
        """Cheap on the hot path: a stat every few seconds, a reload only on change."""
        now = time.monotonic()
        if now - self._checked < self.RECHECK_SECONDS:
            return
        self._checked = now
        if self._current_stamp() != self._stamp:
            self.load()

    @property
    def active(self) -> SigningKey:
        self.refresh()
        for key in self._keys:
            if key.state == "active":
                return key
        raise KeySetError(f"no active signing key in {self.keys_dir}: run `gatehouse rotate-keys` to create one")

    def jwks(self) -> dict:
        self.refresh()
        return self._jwks

    def jwks_json(self) -> bytes:
        """The JWKS serialised once per key change: the endpoint is hit by every relying party."""
        self.refresh()
        return self._jwks_json

    def verification_key(self, kid: str):
        self.refresh()
        for key in self._keys:
            if key.kid == kid:
                return key
        return None
