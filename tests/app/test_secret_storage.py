"""How secrets are stored: client secrets (at least 128 random bits) as SHA-256
digests, passwords as argon2id with the configured cost, codes and refresh tokens
as digests, session ids as a keyed digest of the cookie."""

from __future__ import annotations

import base64
import hashlib

from argon2 import PasswordHasher
from conftest import PASSWORD, get_code, login, redeem, register
from gatehouse.store.models import AuthorizationCode, Client, RefreshToken, Session, User


def test_client_secret_is_stored_as_its_sha256_digest(state, webapp):
    client_id, secret = webapp
    row = Client.get(Client.client_id == client_id)
    assert row.client_secret_digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in row.client_secret_digest


def test_client_secret_is_stored_as_a_digest(state, service):
    from gatehouse.store.models import Client

    row = Client.get(Client.client_id == "service")
    assert service[1] not in (row.client_secret_digest or "")
    assert len(row.client_secret_digest) == 64


def test_client_secrets_carry_at_least_128_bits(state):
    secrets = [register(client_id=f"c{i}")[1] for i in range(3)]
    assert len(set(secrets)) == 3
    for secret in secrets:
        assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) >= 16


def test_generated_secret_has_at_least_128_bits(state):
    _, secret = register(
        client_id="entropy",
        redirect_uris=[],
        post_logout_redirect_uris=[],
        grant_types=["client_credentials"],
        scope="x",
    )
    assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) >= 16


def test_user_password_is_stored_as_argon2id_with_the_configured_parameters(state, user, settings):
    stored = User.get_by_id(user.id).password_hash
    assert stored.startswith("$argon2id$")
    assert f"m={settings.argon2_memory_cost},t={settings.argon2_time_cost},p={settings.argon2_parallelism}" in stored
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)


def test_codes_and_refresh_tokens_are_stored_as_digests(http, user, webapp):
    code, verifier, _ = get_code(http)
    assert AuthorizationCode.get().code_digest == hashlib.sha256(code.encode()).hexdigest()
    refresh = redeem(http, code, verifier, webapp).json()["refresh_token"]
    assert RefreshToken.get().token_digest == hashlib.sha256(refresh.encode()).hexdigest()


def test_sessions_are_stored_as_a_keyed_digest_of_the_cookie(http, state, user):
    login(http)
    cookie = http.cookies.get(state.settings.session_cookie)
    ids = [s.id for s in Session.select()]
    assert cookie not in ids
    assert hashlib.sha256(cookie.encode()).hexdigest() not in ids  # keyed (HMAC), not a bare hash
