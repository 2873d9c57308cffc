"""The `gatehouse` command line: what operators and playbooks need.

Exit codes: 0 done, 1 refused (bad input, nothing written), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gatehouse import __version__


def _settings():
    from gatehouse.errors import ConfigError
    from gatehouse.settings import load_settings

    try:
        return load_settings()
    except ConfigError as error:
        _fail(f"configuration error: {error}")


def _fail(message: str, code: int = 1):
    print(f"gatehouse: {message}", file=sys.stderr)
    sys.exit(code)


def _open(settings):
    from gatehouse.store.database import open_database

    return open_database(settings.database_url, settings.database_max_connections)


def cmd_migrate(args):
    from gatehouse.store.migrate import migrate

    settings = _settings()
    _open(settings)
    applied = migrate()
    if applied:
        print("applied: " + ", ".join(applied))
    else:
        print("nothing to apply")


def _require_schema():
    from gatehouse.store.migrate import pending

    waiting = pending()
    if waiting:
        _fail("the database schema is not current; run `gatehouse migrate` first")


def cmd_create_user(args):
    from gatehouse.accounts.users import create_user_as_system
    from gatehouse.crypto.passwords import configure_password_hasher
    from gatehouse.errors import GatehouseError

    if not args.password_stdin:
        _fail("--password-stdin is required: passwords are never taken from the command line", 2)
    password = sys.stdin.readline().rstrip("\r\n")
    settings = _settings()
    configure_password_hasher(settings.argon2_time_cost, settings.argon2_memory_cost, settings.argon2_parallelism)
    _open(settings)
    _require_schema()
    try:
        user = create_user_as_system(args.username, password, email=args.email, admin=args.admin)
    except GatehouseError as error:
        _fail(error.message)
    print(f"created user {user.username} (id {user.id})")


def _read_secret() -> str:
    """One line of stdin, without its line ending (LF or CRLF) and nothing else: the secret is checked
    as it is, never trimmed into another. Read as bytes so that input which is not UTF-8 is refused
    with a message, not a traceback."""
    line = sys.stdin.buffer.readline()
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        _fail("the client secret on stdin is not UTF-8; nothing created")


def cmd_create_client(args):
    from gatehouse.accounts.actor import SYSTEM
    from gatehouse.accounts.clients import check_client_secret, create_client
    from gatehouse.errors import GatehouseError

    supplied = None
    if args.secret_stdin:
        if args.public:
            _fail("--secret-stdin is for a confidential client: a public client has no secret", 2)
        supplied = _read_secret()
        if not supplied:
            _fail("--secret-stdin: no secret on stdin (empty input); nothing created")
        try:
            check_client_secret(supplied)
        except GatehouseError as error:
            _fail(f"--secret-stdin: {error.message}; nothing created")
    settings = _settings()
    _open(settings)
    _require_schema()
    try:
        client, secret = create_client(
            SYSTEM,
            client_id=args.client_id,
            name=args.name,
            confidential=args.confidential,
            redirect_uris=args.redirect_uri or [],
            post_logout_redirect_uris=args.post_logout_redirect_uri or [],
            grant_types=args.grant_type,
            scope=args.scope,
            is_admin=args.admin_client,
            secret=supplied,
        )
    except GatehouseError as error:
        _fail(error.message)
    if supplied is not None:
        # The caller has the secret already: it is never echoed, not even with --json.
        if args.json:
            print(json.dumps({"client_id": client["client_id"], "client_secret_from": "stdin"}))
        else:
            print(f"client_id: {client['client_id']}")
            print("client_secret: taken from stdin (not shown)")
    elif args.json:
        print(json.dumps({"client_id": client["client_id"], "client_secret": secret}))
    else:
        print(f"client_id: {client['client_id']}")
        if secret:
            print(f"client_secret: {secret}")
            print("(the secret is shown once; store it now)", file=sys.stderr)


def cmd_check_clients(args):
    """Registrations that the current rules refuse (read-only): redirect URIs that fail the strict
    parse now match nothing, all-digit ids could be confused with a user's `sub`, and the admin
    scope on a client that is not an admin client is never granted. Run it after an upgrade.
    Exit 1 when it finds one, so a playbook or a script notices."""
    from gatehouse.accounts.clients import ClientError, check_client_id
    from gatehouse.oauth.admin_resource import ADMIN_SCOPE
    from gatehouse.oauth.redirect_uris import RedirectURIError, check
    from gatehouse.store.models import Client

    settings = _settings()
    _open(settings)
    _require_schema()
    problems = []
    for row in Client.select().order_by(Client.client_id):
        try:
            check_client_id(row.client_id)
        except ClientError as error:
            problems.append(f"{row.client_id}: {error}")
        for field in ("redirect_uris", "post_logout_redirect_uris"):
            for uri in getattr(row, field):
                try:
                    check(uri)
                except RedirectURIError as error:
                    problems.append(f"{row.client_id}: {field} {uri!r} {error}; it matches nothing now")
        if ADMIN_SCOPE in row.scope.split() and not row.is_admin:
            problems.append(
                f"{row.client_id}: scope holds {ADMIN_SCOPE} but it is not an admin client"
                " (gatehouse admin-client marks one); it is never granted"
            )
    for problem in problems:
        print(problem)
    if problems:
        _fail(f"{len(problems)} problem(s) in the registered clients")
    print("clients ok")


def cmd_admin_client(args):
    """Make a client an admin client (or, with --off, stop it being one). Says "unchanged" when
    it already was, so a playbook can run it on every converge and report no change."""
    from gatehouse.accounts.actor import SYSTEM
    from gatehouse.accounts.clients import get_client, update_client
    from gatehouse.errors import GatehouseError
    from gatehouse.services import build

    state = build(_settings())
    try:
        _require_schema()
        wanted = not args.off
        if get_client(args.client_id)["is_admin"] == wanted:
            print(f"{args.client_id}: unchanged")
            return
        update_client(SYSTEM, args.client_id, {"is_admin": wanted}, state.clients, state.tokens)
    except GatehouseError as error:
        _fail(error.message)
    finally:
        state.close()
    print(f"{args.client_id}: {'now an admin client' if wanted else 'no longer an admin client'}")


def cmd_admin_token(args):
    """An access token for the admin API, for a user who proves their password here.

    The token is what the admin API accepts (oauth.admin_resource): issued to
    an admin client, scope `admin`, audience the admin API, with the user's
    roles and permissions. It lives ACCESS_TOKEN_TTL (or --ttl, if shorter),
    has no refresh token, and is revocable like any other (its grant).
    """
    import time

    from gatehouse.accounts.users import find_for_login
    from gatehouse.crypto.passwords import verify_password
    from gatehouse.oauth.admin_resource import ADMIN_SCOPE
    from gatehouse.runtime import audit
    from gatehouse.services import build
    from gatehouse.store.models import Client

    if not args.password_stdin:
        _fail("--password-stdin is required: passwords are never taken from the command line", 2)
    if args.ttl is not None and args.ttl < 1:
        _fail(f"--ttl must be a positive number of seconds, got {args.ttl}", 2)
    password = sys.stdin.readline().rstrip("\r\n")
    settings = _settings()
    state = build(settings)
    try:
        _require_schema()
        user = find_for_login(args.username)
        # One answer for a wrong name and a wrong password, as at /login.
        if user is None or not verify_password(user.password_hash, password) or not user.is_active:
            audit.record("admin_token.refused", actor="cli", subject=args.username)
            _fail("wrong username or password, or the user is deactivated")
        client = Client.get_or_none((Client.client_id == args.client_id) & (Client.is_active == True))  # noqa: E712
        if client is None or not client.is_admin:
            _fail(f"{args.client_id!r} is not an active admin client (create-client --admin-client makes one)")
        if ADMIN_SCOPE not in client.scope.split():
            _fail(f"the admin client {args.client_id!r} is not registered for the {ADMIN_SCOPE} scope")
        ttl = min(args.ttl or settings.access_token_ttl, settings.access_token_ttl)
        grant = state.tokens.new_grant(client.client_id, user.id, ADMIN_SCOPE, int(time.time()))
        token = state.tokens.for_user(
            grant_type="admin_token",
            client=client,
            user=user,
            grant=grant,
            scope=ADMIN_SCOPE,
            include_refresh=False,
            include_id_token=False,
            ttl=ttl,
        )
        audit.flush()
    finally:
        state.close()
    print(json.dumps(token) if args.json else token["access_token"])


def cmd_rotate_keys(args):
    from gatehouse.crypto.key_set import rotate

    settings = _settings()
    if settings.jwt_private_key_path:
        _fail(
            "JWT_PRIVATE_KEY_PATH is set: that single key is managed outside Gatehouse; "
            "unset it to use a rotating key set"
        )
    changes = rotate(Path(settings.jwt_keys_dir), settings.jwt_algorithm, settings.max_token_lifetime)
    parts = []
    if changes["promoted"]:
        parts.append(f"promoted {changes['promoted']} to active")
    if changes["retired"]:
        parts.append(f"retired {changes['retired']}")
    if changes["created"]:
        parts.append(f"created {changes['created']}")
    for kid in changes["deleted"]:
        parts.append(f"deleted expired {kid}")
    print("; ".join(parts))


def cmd_cleanup(args):
    from gatehouse.store.cleanup import cleanup

    settings = _settings()
    _open(settings)
    _require_schema()
    counts = cleanup(batch_size=args.batch_size, session_idle_timeout=settings.session_idle_timeout)
    print(", ".join(f"{name}: {n}" for name, n in counts.items()))


def cmd_backup(args):
    """A checked copy of a SQLite site's live database (store/sqlite_backup), safe while it serves.
    A MariaDB/MySQL site is refused: the Ansible backup role backs it up."""
    from gatehouse.store.sqlite_backup import BackupError, backup

    settings = _settings()
    try:
        result = backup(settings.database_url, args.output, force=args.force)
    except BackupError as error:
        _fail(error.message)
    print(f"backup written: {result.path} size={result.size} bytes schema={result.schema or 'none'}")


def cmd_check_config(args):
    settings = _settings()
    problems = []
    from gatehouse.crypto.key_set import KeySet
    from gatehouse.errors import KeySetError

    try:
        _ = KeySet(settings.jwt_keys_dir, settings.jwt_private_key_path).active
    except (KeySetError, OSError, ValueError) as error:
        if not args.allow_missing_keys:
            problems.append(f"JWT_KEYS_DIR/JWT_PRIVATE_KEY_PATH: {error}")
    if args.connect:
        import peewee

        try:
            _open(settings).execute_sql("SELECT 1")
        except peewee.PeeweeException as error:
            problems.append(f"DATABASE_URL: cannot connect: {error}")
    if problems:
        _fail("; ".join(problems))
    print("configuration ok")


def cmd_serve(args):
    import uvicorn

    from gatehouse.runtime.logs import setup_logging
    from gatehouse.web.app import create_app

    settings = _settings()
    setup_logging(settings.log_level, settings.log_format, settings.log_file)
    app = create_app(settings)
    if settings.metrics_enabled:
        from gatehouse.runtime.metrics import start_server

        start_server(settings.metrics_port, settings.metrics_host)
    # The app reads X-Forwarded-For itself, from FORWARDED_ALLOW_IPS only (web/common.client_ip):
    # uvicorn's own handling would trust loopback and replace the peer the app checks.
    uvicorn.run(
        app,
        host=args.host or settings.server_host,
        port=args.port or settings.server_port,
        log_level="warning",
        proxy_headers=False,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gatehouse", description="Gatehouse authorization server")
    parser.add_argument("--version", action="version", version=f"gatehouse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(func=cmd_migrate)

    p = sub.add_parser("create-user", help="create a user (password read from stdin)")
    p.add_argument("--username", required=True)
    p.add_argument("--email")
    p.add_argument("--admin", action="store_true", help="give the user the admin role")
    p.add_argument("--password-stdin", action="store_true")
    p.set_defaults(func=cmd_create_user)

    p = sub.add_parser(
        "create-client", help="register a client; prints its generated secret once (or --secret-stdin sets it)"
    )
    p.add_argument("--client-id", required=True)
    p.add_argument("--name", required=True)
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--confidential", action="store_true")
    kind.add_argument("--public", action="store_true")
    p.add_argument("--redirect-uri", action="append")
    p.add_argument("--post-logout-redirect-uri", action="append")
    p.add_argument("--grant-type", action="append", required=True)
    p.add_argument("--scope", required=True)
    p.add_argument("--admin-client", action="store_true", help="may ask for the admin scope: tokens for the admin API")
    p.add_argument(
        "--secret-stdin",
        action="store_true",
        help="a confidential client's secret from one line of stdin (at least 32 characters, no whitespace or"
        " control characters) instead of a generated one; it is never printed",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_create_client)

    sub.add_parser(
        "check-clients", help="list registrations the current rules refuse (redirect URIs, ids, admin scope)"
    ).set_defaults(func=cmd_check_clients)

    p = sub.add_parser("admin-client", help="make a client an admin client (--off: stop it being one)")
    p.add_argument("--client-id", required=True)
    p.add_argument("--off", action="store_true")
    p.set_defaults(func=cmd_admin_client)

    p = sub.add_parser(
        "admin-token", help="an admin API access token for a user (password read from stdin); prints the token"
    )
    p.add_argument("--username", required=True)
    p.add_argument("--client-id", default="gatehouse-admin", help="an admin client (default: gatehouse-admin)")
    p.add_argument("--ttl", type=int, help="seconds, at most OAUTH2_ACCESS_TOKEN_TTL")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--json", action="store_true", help="the whole token response as JSON")
    p.set_defaults(func=cmd_admin_token)

    sub.add_parser("rotate-keys", help="create, promote and retire signing keys").set_defaults(func=cmd_rotate_keys)

    p = sub.add_parser("cleanup", help="delete expired codes, tokens, sessions in small batches")
    p.add_argument("--batch-size", type=int, default=1000)
    p.set_defaults(func=cmd_cleanup)

    p = sub.add_parser("backup", help="a checked copy of a SQLite site's database, safe while it serves")
    p.add_argument("--output", required=True, metavar="FILE", help="where the copy goes (mode 0600)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("check-config", help="validate the environment")
    p.add_argument("--connect", action="store_true", help="also connect to the database")
    p.add_argument("--allow-missing-keys", action="store_true", help="before the first rotate-keys")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("serve", help="one process, for development")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
