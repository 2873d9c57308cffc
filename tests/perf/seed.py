"""The benchmark's data: a fresh database, a signing key, two clients, a user,
and pools of single-use credentials (refresh tokens, login forms).

Everything is made with the app's own domain code (migrate, keys.rotate,
clients.create_client_as_system, users.create_user_as_system, TokenService.for_user,
Sessions.create), on the database the server will then serve, so the rows
are exactly the rows production would hold.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

CC_CLIENT = "bench-service"
WEB_CLIENT = "bench-webapp"
USERNAME = "bench-user"
# Printable and form-safe; the password itself is not a secret (bench data only).
PASSWORD = "load-test-password-correct-horse-battery"
REDIRECT_URI = "http://127.0.0.1:9/callback"
USER_SCOPE = "openid profile email offline_access"
CC_SCOPE = "api:read api:write"


def _open(env: dict):
    """Settings and an open database for `env` (the server's environment)."""
    from gatehouse.crypto.passwords import configure_password_hasher
    from gatehouse.settings import load_settings
    from gatehouse.store.database import open_database

    settings = load_settings(env)
    configure_password_hasher(settings.argon2_time_cost, settings.argon2_memory_cost, settings.argon2_parallelism)
    database = open_database(settings.database_url, settings.database_max_connections)
    return settings, database


def _drop_everything(database) -> None:
    """The bench database belongs to the benchmark: start from no tables at all."""
    tables = database.get_tables()
    if not tables:
        return
    database.execute_sql("SET FOREIGN_KEY_CHECKS=0")
    for table in tables:
        database.execute_sql(f"DROP TABLE IF EXISTS `{table}`")
    database.execute_sql("SET FOREIGN_KEY_CHECKS=1")


def prepare(env: dict) -> dict:
    """Reset the database and key set; create the clients and the user. Returns their credentials."""
    from gatehouse.accounts.clients import create_client_as_system as create_client
    from gatehouse.accounts.users import create_user_as_system as create_user
    from gatehouse.crypto.key_set import rotate
    from gatehouse.store.migrate import migrate

    settings, database = _open(env)
    _drop_everything(database)
    migrate()
    rotate(Path(settings.jwt_keys_dir), settings.jwt_algorithm, settings.max_token_lifetime)
    _, cc_secret = create_client(
        client_id=CC_CLIENT,
        name="Bench Service",
        confidential=True,
        redirect_uris=[],
        post_logout_redirect_uris=[],
        grant_types=["client_credentials"],
        scope=CC_SCOPE,
    )
    _, web_secret = create_client(
        client_id=WEB_CLIENT,
        name="Bench Web App",
        confidential=True,
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[],
        grant_types=["authorization_code", "refresh_token"],
        scope=USER_SCOPE,
    )
    user = create_user(USERNAME, PASSWORD, email="bench@example.test", name="Bench User")
    database.close()
    return {"cc_secret": cc_secret, "web_secret": web_secret, "user_id": user.id}


def refresh_pool(env: dict, user_id: int, count: int, path: Path) -> float:
    """Write `count` fresh refresh tokens (one per line) to `path`; return seconds taken.

    The first token is issued by TokenService.for_user, the code the token
    endpoint runs. Issuing tens of thousands that way costs minutes (two
    RSA signatures, an audit row and three queries each), so the rest are
    copies of the rows it wrote (its grant and its refresh token), each
    with a new grant id and a new token: the same shape whatever for_user
    stores, one grant per token as if each came from its own sign-in, so
    rotating one never touches another's family.
    """
    from gatehouse.crypto.digests import digest, new_token
    from gatehouse.services import build
    from gatehouse.settings import load_settings
    from gatehouse.store.models import Grant, RefreshToken, User

    started = time.monotonic()
    # The server's own wiring (context.build), so the first token is issued exactly as the server would.
    state = build(load_settings(env))
    database, issuer = state.database, state.tokens
    client = state.clients.get(WEB_CLIENT)
    user = User.get_by_id(user_id)
    with database.atomic():
        grant = issuer.new_grant(WEB_CLIENT, user.id, USER_SCOPE, int(time.time()))
        first = issuer.for_user(
            grant_type="authorization_code",
            client=client,
            user=user,
            grant=grant,
            scope=USER_SCOPE,
            include_refresh=True,
            include_id_token=False,
        )["refresh_token"]
    grant_row = dict(Grant.get_by_id(grant.id).__data__)
    token_row = dict(RefreshToken.get(RefreshToken.token_digest == digest(first)).__data__)
    token_row.pop("id", None)
    tokens = [first]
    batch_grants, batch_tokens = [], []

    def flush():
        with database.atomic():
            Grant.insert_many(batch_grants).execute()
            RefreshToken.insert_many(batch_tokens).execute()
        batch_grants.clear()
        batch_tokens.clear()

    for _ in range(count - 1):
        token = new_token(32)
        gid = new_token(16)
        batch_grants.append({**grant_row, "id": gid})
        batch_tokens.append({**token_row, "grant_id": gid, "token_digest": digest(token)})
        tokens.append(token)
        if len(batch_tokens) >= 1000:
            flush()
    if batch_tokens:
        flush()
    state.close()
    with open(path, "w") as handle:
        handle.writelines(token + "\n" for token in tokens)
    return time.monotonic() - started


def login_pool(env: dict, count: int, path: Path) -> None:
    """Write `count` login forms, each on its own anonymous session: `cookie<TAB>body`.

    A successful login ends the session that carried the form (a fresh
    session id at login), so each form is good for one request only.
    """
    from gatehouse.accounts.sessions import Sessions

    settings, database = _open(env)
    sessions = Sessions(settings.session_secret, settings.session_ttl)
    with open(path, "w") as handle, database.atomic():
        for _ in range(count):
            cookie, row = sessions.create()
            body = urlencode(
                {"username": USERNAME, "password": PASSWORD, "csrf_token": row.csrf_token, "return_to": "/"}
            )
            handle.write(f"{settings.session_cookie_name}={cookie}\t{body}\n")
    database.close()
