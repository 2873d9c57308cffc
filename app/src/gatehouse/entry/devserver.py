"""`make run`: the app on SQLite at http://127.0.0.1:3001 with a demo user and clients.

Development only: state lives in .lab/dev/ of the checkout, and the demo
credentials are printed because they exist to be typed in. SESSION_SECRET,
which the server requires, is made on the first run and kept there too.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

STATE = Path(os.environ.get("GATEHOUSE_DEV_DIR", ".lab/dev")).resolve()


def session_secret(state: Path) -> str:
    """The dev server's SESSION_SECRET: random, made once and kept (0600) in `state`,
    so sessions outlive a restart; never a value written in the source."""
    path = state / "session-secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def main() -> None:
    STATE.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.setdefault("SESSION_SECRET", session_secret(STATE))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{STATE}/gatehouse.db")
    os.environ.setdefault("JWT_KEYS_DIR", str(STATE / "keys"))
    os.environ.setdefault("ISSUER", "http://127.0.0.1:3001")
    os.environ.setdefault("LOG_FORMAT", "text")
    os.environ.setdefault("METRICS_PORT", "9091")

    from gatehouse.accounts.actor import SYSTEM
    from gatehouse.accounts.clients import create_client, rotate_client_secret
    from gatehouse.accounts.users import create_user_as_system, username_key
    from gatehouse.crypto.digests import new_token
    from gatehouse.crypto.key_set import read_manifest, rotate
    from gatehouse.settings import load_settings
    from gatehouse.store.database import open_database
    from gatehouse.store.migrate import migrate
    from gatehouse.store.models import Client, User
    from gatehouse.web import routes

    settings = load_settings()
    open_database(settings.database_url)
    migrate()
    if not read_manifest(Path(settings.jwt_keys_dir)):
        rotate(Path(settings.jwt_keys_dir), settings.jwt_algorithm, settings.max_token_lifetime)

    password_file = STATE / "demo-password"
    if User.get_or_none(User.username_key == username_key("demo")) is None:
        password = new_token(12)
        create_user_as_system("demo", password, email="demo@example.test", admin=True, name="Demo User")
        password_file.write_text(password)
        password_file.chmod(0o600)
    if Client.get_or_none(Client.client_id == "demo-app") is None:
        create_client(
            SYSTEM,
            client_id="demo-app",
            name="Demo App",
            confidential=False,
            redirect_uris=["http://127.0.0.1:8080/callback"],
            post_logout_redirect_uris=["http://127.0.0.1:8080/"],
            grant_types=["authorization_code", "refresh_token"],
            scope="openid profile email offline_access",
        )
    service = Client.get_or_none(Client.client_id == "demo-service")
    if service is None:
        _, secret = create_client(
            SYSTEM,
            client_id="demo-service",
            name="Demo Service",
            confidential=True,
            redirect_uris=[],
            post_logout_redirect_uris=[],
            grant_types=["client_credentials"],
            scope="api:read",
        )
    else:
        secret = rotate_client_secret(SYSTEM, service.client_id)

    issuer = settings.issuer
    print(
        f"""
Gatehouse (development) at {issuer}
  discovery:   {issuer}{routes.OPENID_CONFIGURATION}
  demo user:   demo / {password_file.read_text()}
  public client (authorization code + PKCE): demo-app, redirect http://127.0.0.1:8080/callback
  confidential client (client_credentials):  demo-service / {secret}
  try:  curl -s -u demo-service:{secret} -d grant_type=client_credentials {issuer}{routes.TOKEN}
  metrics: http://127.0.0.1:{settings.metrics_port}/metrics     state: {STATE}
""",
        flush=True,
    )

    from gatehouse.entry.cli import main as cli_main

    cli_main(["serve", "--host", "127.0.0.1", "--port", "3001"])


if __name__ == "__main__":
    main()
