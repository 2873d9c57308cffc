"""The `gatehouse` command line (issue §6), run as operators and playbooks run it:
the installed console script in a subprocess, configured by its environment.

Exit codes: 0 done, 1 refused (bad input, nothing written), 2 usage error.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time

import httpx
import pytest
from argon2 import PasswordHasher
from conftest import GATEHOUSE, MYSQL_URL, basic, get_code, redeem, run_cli
from gatehouse.crypto.digests import digest
from gatehouse.store.database import open_database
from gatehouse.store.migrate import SchemaMigration
from gatehouse.store.models import ALL_MODELS, AuditLog, AuthorizationCode, Client, Session, User, UserRole
from helpers import free_port


@pytest.fixture
def cli(env):
    """Run `gatehouse ARGS` with the test's environment; returns the CompletedProcess."""

    def run(*args, stdin=None, extra=None, timeout=60):
        return run_cli(env, *args, stdin=stdin, extra=extra, timeout=timeout)

    return run


@pytest.fixture
def fresh_db(env):
    """A database without any table (on MariaDB the shared test database is emptied of tables)."""
    if MYSQL_URL:
        database = open_database(env["DATABASE_URL"])
        database.execute_sql("SET FOREIGN_KEY_CHECKS=0")
        for model in [*ALL_MODELS, SchemaMigration]:
            database.execute_sql(f"DROP TABLE IF EXISTS `{model._meta.table_name}`")
        database.execute_sql("SET FOREIGN_KEY_CHECKS=1")
        database.close()
    return env


# migrate --------------------------------------------------------------------


def test_migrate_applies_pending_migrations_then_says_nothing_to_apply(cli, fresh_db):
    first = cli("migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "applied: 0001_initial, 0002_username_key, 0003_security"
    second = cli("migrate")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "nothing to apply"


def test_two_concurrent_migrate_processes_both_succeed(cli, fresh_db, env):
    environment = {"PATH": os.environ.get("PATH", ""), **env}
    runs = [
        subprocess.Popen(
            [GATEHOUSE, "migrate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in runs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert sorted(out.strip() for _, out, _ in results) == [
        "applied: 0001_initial, 0002_username_key, 0003_security",
        "nothing to apply",
    ]


def test_commands_that_need_the_schema_refuse_before_migrate(cli, fresh_db):
    result = cli("create-user", "--username", "bob", "--password-stdin", stdin="long enough password\n")
    assert result.returncode == 1
    assert "gatehouse migrate" in result.stderr


# create-user ----------------------------------------------------------------


def test_create_user_reads_the_password_from_stdin(cli, state):
    result = cli(
        "create-user", "--username", "bob", "--email", "bob@example.test", "--password-stdin", stdin="s3cret-pass\n"
    )
    assert result.returncode == 0, result.stderr
    assert "created user bob" in result.stdout
    user = User.get(User.username == "bob")
    assert user.email == "bob@example.test"
    assert PasswordHasher().verify(user.password_hash, "s3cret-pass")
    assert "s3cret-pass" not in result.stdout + result.stderr
    assert AuditLog.select().where((AuditLog.event == "user.created") & (AuditLog.subject == str(user.id))).exists()


def test_create_user_refuses_a_password_without_password_stdin(cli, state):
    result = cli("create-user", "--username", "bob")
    assert result.returncode == 2
    assert "--password-stdin" in result.stderr
    assert not User.select().where(User.username == "bob").exists()


def test_create_user_admin_gets_the_admin_role(cli, state):
    result = cli("create-user", "--username", "boss", "--admin", "--password-stdin", stdin="long enough password\n")
    assert result.returncode == 0, result.stderr
    user = User.get(User.username == "boss")
    assert [ur.role.name for ur in UserRole.select().where(UserRole.user == user)] == ["admin"]


def test_duplicate_user_is_refused_naming_the_problem_and_writes_nothing(cli, state):
    assert cli("create-user", "--username", "bob", "--password-stdin", stdin="first password\n").returncode == 0
    before = User.get(User.username == "bob").password_hash
    result = cli("create-user", "--username", "bob", "--password-stdin", stdin="second password\n")
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert User.select().count() == 1
    assert User.get(User.username == "bob").password_hash == before


def test_short_password_is_refused_and_nothing_is_written(cli, state):
    result = cli("create-user", "--username", "bob", "--password-stdin", stdin="short\n")
    assert result.returncode == 1
    assert "at least 8" in result.stderr
    assert User.select().count() == 0


# create-client --------------------------------------------------------------

CONFIDENTIAL = [
    "create-client",
    "--client-id",
    "reports",
    "--name",
    "Reports",
    "--confidential",
    "--grant-type",
    "client_credentials",
    "--scope",
    "api:read",
]


def test_create_client_json_prints_exactly_one_object_with_id_and_secret(cli, state):
    result = cli(*CONFIDENTIAL, "--json")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    data = json.loads(result.stdout)
    assert set(data) == {"client_id", "client_secret"}
    assert data["client_id"] == "reports"
    assert len(data["client_secret"]) >= 22  # >= 128 bits, URL-safe base64


def test_created_client_secret_works_at_the_token_endpoint(cli, state, http):
    data = json.loads(cli(*CONFIDENTIAL, "--json").stdout)
    response = http.post(
        "/api/v2/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(data["client_id"], data["client_secret"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "api:read"


def test_created_client_secret_is_stored_only_as_its_digest(cli, state):
    data = json.loads(cli(*CONFIDENTIAL, "--json").stdout)
    row = Client.get(Client.client_id == "reports")
    assert data["client_secret"] not in (row.client_secret_digest, row.name, row.scope)


def test_create_client_without_json_shows_the_secret_once(cli, state):
    result = cli(*CONFIDENTIAL)
    assert result.returncode == 0, result.stderr
    assert "client_id: reports" in result.stdout
    assert "client_secret: " in result.stdout
    assert "shown once" in result.stderr


def test_create_public_client_with_redirect_and_logout_uris(cli, state):
    result = cli(
        "create-client",
        "--client-id",
        "spa2",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "https://spa.example.test/cb",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--post-logout-redirect-uri",
        "https://spa.example.test/",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "refresh_token",
        "--scope",
        "openid profile email offline_access",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"client_id": "spa2", "client_secret": None}
    row = Client.get(Client.client_id == "spa2")
    assert not row.is_confidential and row.client_secret_digest is None
    assert row.redirect_uris == ["https://spa.example.test/cb", "http://127.0.0.1/cb"]
    assert row.post_logout_redirect_uris == ["https://spa.example.test/"]
    assert row.grant_types == ["authorization_code", "refresh_token"]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--confidential", "--grant-type", "password", "--scope", "api:read"],
            "grant type must be among",
        ),
        (
            ["--public", "--grant-type", "client_credentials", "--scope", "api:read"],
            "public client cannot use client_credentials",
        ),
        (
            ["--public", "--redirect-uri", "http://app.example.test/cb", "--grant-type", "authorization_code",
             "--scope", "openid"],
            "http://app.example.test/cb",
        ),
        (
            ["--public", "--redirect-uri", "https://app.example.test/cb#x", "--grant-type", "authorization_code",
             "--scope", "openid"],
            "fragment",
        ),
        (
            ["--public", "--grant-type", "authorization_code", "--scope", "openid"],
            "authorization_code needs at least one redirect URI",
        ),
    ],
    ids=["unknown-grant", "public-client-credentials", "http-redirect", "fragment", "no-redirect"],
)  # fmt: skip
def test_invalid_client_is_refused_with_a_clear_message_and_nothing_written(cli, state, args, message):
    result = cli("create-client", "--client-id", "bad", "--name", "Bad", *args)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    assert result.stdout == ""
    assert Client.select().count() == 0
    assert not AuditLog.select().where(AuditLog.event == "client.created").exists()


def test_duplicate_client_id_is_refused(cli, state):
    assert cli(*CONFIDENTIAL).returncode == 0
    result = cli(*CONFIDENTIAL)
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert Client.select().count() == 1


def test_create_client_usage_errors_exit_2(cli, state):
    result = cli(
        "create-client", "--client-id", "x", "--name", "X", "--grant-type", "client_credentials", "--scope", "a"
    )
    assert result.returncode == 2  # neither --confidential nor --public
    assert Client.select().count() == 0


# create-client --secret-stdin ----------------------------------------------

# What an operator's vault holds: 48 letters and digits, as `make secrets` generates.
VAULT_SECRET = "Gr4fanaVaultSecretFromTheSiteInventory0123456789"
GRAFANA_REDIRECT = "https://grafana.example.test/login/generic_oauth"


def grafana_client_argv(*redirect_uris):
    """The argv of roles/gatehouse/tasks/grafana_client.yml, as Ansible renders it."""
    return [
        "create-client", "--client-id", "grafana", "--name", "Grafana",
        "--confidential", "--grant-type", "authorization_code", "--scope", "openid profile email",
        "--secret-stdin",
        *[f"--redirect-uri={uri}" for uri in redirect_uris],
    ]  # fmt: skip


def test_secret_stdin_client_authenticates_with_that_secret_and_never_shows_it(cli, state, http):
    result = cli(*CONFIDENTIAL, "--secret-stdin", stdin=VAULT_SECRET + "\n")
    assert result.returncode == 0, result.stderr
    assert VAULT_SECRET not in result.stdout + result.stderr
    assert result.stdout.splitlines() == ["client_id: reports", "client_secret: taken from stdin (not shown)"]
    assert "shown once" not in result.stderr
    # Stored as a generated secret is: its digest, nothing else.
    row = Client.get(Client.client_id == "reports")
    assert row.is_confidential
    assert row.client_secret_digest == digest(VAULT_SECRET)
    response = http.post(
        "/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("reports", VAULT_SECRET)
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "api:read"
    wrong = http.post(
        "/api/v2/oauth/token", data={"grant_type": "client_credentials"}, headers=basic("reports", VAULT_SECRET[:-1])
    )
    assert wrong.status_code == 401
    assert AuditLog.select().where((AuditLog.event == "client.created") & (AuditLog.subject == "reports")).exists()


@pytest.mark.parametrize("ending", ["", "\r\n", "\n\n"], ids=["no-newline", "crlf", "blank-line-after"])
def test_secret_stdin_takes_the_first_line_without_its_line_ending(cli, state, http, ending):
    result = cli(*CONFIDENTIAL, "--secret-stdin", stdin=VAULT_SECRET + ending)
    assert result.returncode == 0, result.stderr
    assert Client.get(Client.client_id == "reports").client_secret_digest == digest(VAULT_SECRET)


def test_secret_stdin_json_names_the_client_and_not_the_secret(cli, state):
    result = cli(*CONFIDENTIAL, "--secret-stdin", "--json", stdin=VAULT_SECRET + "\n")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"client_id": "reports", "client_secret_from": "stdin"}
    assert VAULT_SECRET not in result.stdout + result.stderr


def test_the_roles_grafana_invocation_registers_a_client_whose_code_flow_works_and_reruns_say_exists(
    cli, state, http, user
):
    # Ansible's command module adds a newline to stdin (stdin_add_newline).
    argv = grafana_client_argv(GRAFANA_REDIRECT, "http://localhost:3000/login/generic_oauth")
    first = cli(*argv, stdin=VAULT_SECRET + "\n")
    assert first.returncode == 0, first.stderr
    assert VAULT_SECRET not in first.stdout + first.stderr
    row = Client.get(Client.client_id == "grafana")
    assert row.redirect_uris == [GRAFANA_REDIRECT, "http://localhost:3000/login/generic_oauth"]
    assert row.grant_types == ["authorization_code"] and row.scope == "openid profile email"

    code, verifier, _ = get_code(http, "grafana", redirect_uri=GRAFANA_REDIRECT, scope="openid profile email")
    token = redeem(http, code, verifier, ("grafana", VAULT_SECRET), redirect_uri=GRAFANA_REDIRECT)
    assert token.status_code == 200, token.text
    assert "id_token" in token.json()

    # The role's next converge: refused with "exists" (its "not changed"), the client left as it is.
    again = cli(*argv, stdin="AnotherSecretOfAtLeastThirtyTwoCharacters0\n")
    assert again.returncode == 1
    assert "exists" in again.stderr.lower()
    assert VAULT_SECRET not in again.stdout + again.stderr
    assert Client.select().count() == 1
    assert Client.get(Client.client_id == "grafana").client_secret_digest == digest(VAULT_SECRET)


@pytest.mark.parametrize(
    "secret, message",
    [
        ("", "no secret on stdin"),
        ("\n", "no secret on stdin"),
        ("A" * 31 + "\n", "at least 32 characters"),
        ("Gr4fanaVaultSecret FromTheSiteInventory0123456789\n", "whitespace or control characters"),
        ("Gr4fanaVaultSecretFromTheSiteInventory0123456789 \n", "whitespace or control characters"),
        (" Gr4fanaVaultSecretFromTheSiteInventory0123456789\n", "whitespace or control characters"),
        ("Gr4fanaVaultSecret\tFromTheSiteInventory0123456789\n", "whitespace or control characters"),
        ("Gr4fanaVaultSecret\x01FromTheSiteInventory0123456789\n", "whitespace or control characters"),
        ("Gr4fanaVaultSecret\x7fFromTheSiteInventory0123456789\n", "whitespace or control characters"),
        ("Gr4fanaVaultSecret\u200bFromTheSiteInventory0123456789\n", "whitespace or control characters"),
        ("Gr4fanaVaultSecret\u00a0FromTheSiteInventory0123456789\n", "whitespace or control characters"),
        ("Gr4fanaVaultSecretFromTheSiteInventory0123456789\r\r\n", "whitespace or control characters"),
    ],
    ids=[
        "empty", "empty-line", "31-chars", "inner-space", "trailing-space", "leading-space", "tab",
        "control", "delete", "zero-width-space", "no-break-space", "stray-cr",
    ],
)  # fmt: skip
def test_secret_stdin_refuses_a_bad_secret_and_creates_nothing(cli, state, secret, message):
    result = cli(*CONFIDENTIAL, "--secret-stdin", stdin=secret)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    assert result.stdout == ""
    if secret.strip():
        assert secret.strip() not in result.stderr
        assert "Gr4fanaVaultSecret" not in result.stderr
    assert Client.select().count() == 0
    assert not AuditLog.select().where(AuditLog.event == "client.created").exists()


def test_secret_stdin_refuses_input_that_is_not_utf8(cli, state, env):
    environment = {"PATH": os.environ.get("PATH", ""), **env}
    result = subprocess.run(
        [GATEHOUSE, *CONFIDENTIAL, "--secret-stdin"],
        input=b"Gr4fanaVaultSecret\xffFromTheSiteInventory0123456789\n",
        capture_output=True,
        env=environment,
        timeout=60,
    )
    assert result.returncode == 1
    assert b"not UTF-8" in result.stderr and b"Traceback" not in result.stderr
    assert Client.select().count() == 0


def test_secret_stdin_is_refused_for_a_public_client(cli, state):
    result = cli(
        "create-client", "--client-id", "spa2", "--name", "SPA", "--public",
        "--redirect-uri", "http://127.0.0.1/cb", "--grant-type", "authorization_code", "--scope", "openid",
        "--secret-stdin",
        stdin=VAULT_SECRET + "\n",
    )  # fmt: skip
    assert result.returncode == 2
    assert "public client has no secret" in result.stderr
    assert VAULT_SECRET not in result.stdout + result.stderr
    assert Client.select().count() == 0
    assert not AuditLog.select().where(AuditLog.event == "client.created").exists()


def test_a_supplied_secret_is_refused_for_a_public_client_below_the_cli_too(state):
    from gatehouse.accounts.clients import ClientError, create_client_as_system

    with pytest.raises(ClientError, match="public client has no secret"):
        create_client_as_system(
            client_id="spa2", name="SPA", confidential=False, redirect_uris=["http://127.0.0.1/cb"],
            post_logout_redirect_uris=[], grant_types=["authorization_code"], scope="openid", secret=VAULT_SECRET,
        )  # fmt: skip
    assert Client.select().count() == 0


# rotate-keys ----------------------------------------------------------------


def test_rotate_keys_creates_then_adds_then_promotes(cli, tmp_path):
    keys = tmp_path / "cli-keys"
    extra = {"JWT_KEYS_DIR": str(keys)}
    first = cli("rotate-keys", extra=extra)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created ")
    first_kid = first.stdout.split()[1]
    assert stat.S_IMODE((keys / f"{first_kid}.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((keys / "keys.json").stat().st_mode) == 0o600

    second = cli("rotate-keys", extra=extra)
    assert second.stdout.startswith("created ")
    second_kid = second.stdout.split()[1]

    third = cli("rotate-keys", extra=extra)
    assert f"promoted {second_kid} to active" in third.stdout
    assert f"retired {first_kid}" in third.stdout
    assert "created " in third.stdout
    states = {e["kid"]: e["state"] for e in json.loads((keys / "keys.json").read_text())}
    assert states[first_kid] == "retired" and states[second_kid] == "active"


def test_rotate_keys_refuses_when_jwt_private_key_path_is_set(cli, tmp_path):
    result = cli("rotate-keys", extra={"JWT_PRIVATE_KEY_PATH": str(tmp_path / "k.pem")})
    assert result.returncode == 1
    assert "JWT_PRIVATE_KEY_PATH" in result.stderr


# cleanup --------------------------------------------------------------------


def test_cleanup_deletes_expired_rows_and_reports_counts(cli, state, user):
    now = int(time.time())
    for index, expires in enumerate([now - 10, now - 10, now - 10, now + 600]):
        AuthorizationCode.create(
            code_digest=f"{index:064d}",
            grant_id="g",
            client_id="webapp",
            user_id=user.id,
            redirect_uri="",
            scope="openid",
            code_challenge="c",
            code_challenge_method="S256",
            auth_time=now,
            expires_at=expires,
        )
    Session.create(id="s" * 64, csrf_token="c", created_at=now - 100, expires_at=now - 1)
    result = cli("cleanup", "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    assert "authorization_codes: 3" in result.stdout
    assert "sessions: 1" in result.stdout
    assert AuthorizationCode.select().count() == 1
    assert Session.select().count() == 0


# check-config ---------------------------------------------------------------


def test_check_config_accepts_a_good_environment(cli, state):
    result = cli("check-config")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "configuration ok"


@pytest.mark.parametrize(
    "name, value",
    [
        ("JWT_ALGORITHM", "HS256"),
        ("OAUTH2_AUTHORIZATION_CODE_TTL", "601"),
        ("ISSUER", "ftp://x"),
        ("DATABASE_URL", "postgres://db/x"),
        ("SESSION_SECRET", "too-short"),
    ],
)
def test_check_config_names_the_bad_variable(cli, state, name, value):
    # Every variable's rules are checked in-process in test_config.py; this is the exit path.
    result = cli("check-config", extra={name: value})
    assert result.returncode == 1
    assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_requires_a_signing_key_unless_allowed(cli, tmp_path):
    extra = {"JWT_KEYS_DIR": str(tmp_path / "empty")}
    missing = cli("check-config", extra=extra)
    assert missing.returncode == 1
    assert "JWT_KEYS_DIR" in missing.stderr and "rotate-keys" in missing.stderr
    assert cli("check-config", "--allow-missing-keys", extra=extra).returncode == 0


def test_check_config_connect_names_an_unreachable_database(cli, state):
    url = f"mysql://gatehouse:x@127.0.0.1:{free_port()}/gatehouse"
    result = cli("check-config", "--connect", extra={"DATABASE_URL": url})
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error(cli):
    result = cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


# serve ----------------------------------------------------------------------


def test_serve_answers_on_host_and_port_and_logs_json_lines_with_request_id(cli, state, env, tmp_path):
    port, metrics_port = free_port(), free_port()
    log_file = tmp_path / "gatehouse.log"
    environment = {
        "PATH": os.environ.get("PATH", ""),
        **env,
        "METRICS_PORT": str(metrics_port),
        "LOG_FILE": str(log_file),
        "ISSUER": f"http://127.0.0.1:{port}",
    }
    process = subprocess.Popen(
        [GATEHOUSE, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                live = httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1].decode()
                assert time.monotonic() < deadline, "gatehouse serve did not start"
                time.sleep(0.1)
        assert live.status_code == 200
        response = httpx.get(f"http://127.0.0.1:{port}/health", headers={"X-Request-ID": "cli-serve-1"}, timeout=5)
        assert response.json()["status"] in ("healthy", "degraded")
        assert response.headers["x-request-id"] == "cli-serve-1"
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert "http_requests_total" in metrics
    finally:
        process.terminate()
        process.wait(timeout=20)
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    access = [entry for entry in lines if entry.get("logger") == "gatehouse.access" and entry.get("path") == "/health"]
    assert access and access[0]["request_id"] == "cli-serve-1"
    assert access[0]["status"] == 200
