"""`gatehouse backup --output FILE`: a checked copy of a SQLite site's live database.

Run as operators run it (the console script in a subprocess) on real SQLite files. Each test
sets its own sqlite DATABASE_URL, so the whole file runs on the MariaDB run too; the MySQL
refusal needs no server, since nothing connects.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import threading
import time

import pytest
from conftest import run_cli
from gatehouse.store.migrate import available

OUTPUT_LINE = re.compile(r"^backup written: (?P<path>.+) size=(?P<size>\d+) bytes schema=(?P<schema>\S+)$")
LAST_MIGRATION = available()[-1].stem


def sqlite_env(env, path):
    return {**env, "DATABASE_URL": f"sqlite:///{path}"}


def ok(result):
    assert result.returncode == 0, result.stderr
    return result


def refused(result):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


@pytest.fixture
def site(env, tmp_path):
    """A migrated SQLite site of its own (whatever the run's backend); returns its environment."""
    site_env = sqlite_env(env, tmp_path / "site" / "gatehouse.db")
    ok(run_cli(site_env, "migrate"))
    return site_env


@pytest.fixture
def out(tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    return directory


def live_path(site_env):
    return site_env["DATABASE_URL"].removeprefix("sqlite:///")


def query(path, sql):
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_a_backup_restores_the_users_and_clients(site, out, tmp_path):
    for name, extra in (("alice", []), ("bob", ["--admin"]), ("carol", [])):
        ok(run_cli(site, "create-user", "--username", name, *extra, "--password-stdin", stdin="long enough password\n"))
    reports = ["--client-id", "reports", "--name", "Reports", "--confidential", "--grant-type", "client_credentials"]
    ok(run_cli(site, "create-client", *reports, "--scope", "api:read"))
    spa = ["--client-id", "spa", "--name", "SPA", "--public", "--redirect-uri", "http://127.0.0.1/callback"]
    ok(run_cli(site, "create-client", *spa, "--grant-type", "authorization_code", "--scope", "openid"))

    target = out / "site.db"
    result = ok(run_cli(site, "backup", "--output", str(target)))

    line = OUTPUT_LINE.match(result.stdout.strip())
    assert line, result.stdout
    assert line["path"] == str(target)
    assert int(line["size"]) == target.stat().st_size > 0
    assert line["schema"] == LAST_MIGRATION == "0003_security"
    assert sorted(os.listdir(out)) == ["site.db"]  # one file: no temporary, no -wal beside it

    assert query(target, "PRAGMA integrity_check") == [("ok",)]
    assert query(target, "PRAGMA journal_mode") == [("delete",)]
    assert query(target, "SELECT username FROM users ORDER BY username") == [("alice",), ("bob",), ("carol",)]
    assert query(target, "SELECT client_id, is_confidential FROM clients ORDER BY client_id") == [
        ("reports", 1),
        ("spa", 0),
    ]
    assert query(
        target,
        "SELECT u.username, r.name FROM user_roles ur JOIN users u ON u.id = ur.user_id JOIN roles r ON r.id = ur.role_id",
    ) == [("bob", "admin")]
    assert query(target, "SELECT COUNT(*) FROM schema_migrations") == [(len(available()),)]

    # Restored as a site's database, the server reads it as it was.
    restored = tmp_path / "restored" / "gatehouse.db"
    restored.parent.mkdir()
    shutil.copy(target, restored)
    restored_env = sqlite_env(site, restored)
    assert ok(run_cli(restored_env, "migrate")).stdout.strip() == "nothing to apply"
    assert ok(run_cli(restored_env, "check-clients")).stdout.strip() == "clients ok"
    again = run_cli(restored_env, "create-user", "--username", "alice", "--password-stdin", stdin="another password\n")
    assert "already exists" in refused(again)


def test_the_backup_is_mode_0600_whatever_the_umask(site, out):
    target = out / "site.db"
    previous = os.umask(0o000)  # the subprocess inherits it: a file created without a mode would be 0666
    try:
        ok(run_cli(site, "backup", "--output", str(target)))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(out) == ["site.db"]


def test_an_existing_output_is_refused_without_force_and_left_unchanged(site, out):
    target = out / "site.db"
    target.write_bytes(b"yesterday's backup")
    target.chmod(0o640)

    message = refused(run_cli(site, "backup", "--output", str(target)))
    assert str(target) in message and "--force" in message
    assert target.read_bytes() == b"yesterday's backup"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(out) == ["site.db"]

    ok(run_cli(site, "backup", "--output", str(target), "--force"))
    assert target.read_bytes().startswith(b"SQLite format 3\x00")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert query(target, "SELECT COUNT(*) FROM schema_migrations") == [(len(available()),)]
    assert os.listdir(out) == ["site.db"]


def test_an_output_whose_directory_does_not_exist_is_refused_naming_it(site, tmp_path):
    missing = tmp_path / "no-such-dir" / "nested"
    message = refused(run_cli(site, "backup", "--output", str(missing / "site.db")))
    assert f"{missing} does not exist" in message
    assert not (tmp_path / "no-such-dir").exists()


def test_the_live_database_is_never_the_output(site):
    live = live_path(site)
    before = query(live, "SELECT COUNT(*) FROM schema_migrations")
    message = refused(run_cli(site, "backup", "--output", live, "--force"))
    assert "live database" in message
    assert query(live, "SELECT COUNT(*) FROM schema_migrations") == before == [(len(available()),)]
    assert query(live, "PRAGMA journal_mode") == [("wal",)]


def test_a_database_url_naming_no_file_is_refused_and_creates_nothing(env, out, tmp_path):
    missing = tmp_path / "nowhere" / "gatehouse.db"
    message = refused(run_cli(sqlite_env(env, missing), "backup", "--output", str(out / "site.db")))
    assert f"no database at {missing}" in message
    assert not missing.parent.exists()
    assert os.listdir(out) == []


@pytest.mark.parametrize("scheme", ["mysql", "mariadb"])
def test_a_mysql_site_is_refused_with_the_backup_role_named_and_nothing_written(env, out, scheme):
    # Port 9 (discard): were the command to try to connect, it would fail differently.
    mysql_env = {**env, "DATABASE_URL": f"{scheme}://gatehouse:secret@127.0.0.1:9/gatehouse"}
    message = refused(run_cli(mysql_env, "backup", "--output", str(out / "site.db")))
    assert "SQLite sites" in message
    assert "backup role" in message and "ansible-playbook playbooks/backup.yml" in message
    assert os.listdir(out) == []


def test_a_copy_that_fails_integrity_check_is_refused_and_the_output_left_alone(env, out, tmp_path):
    # A damaged database: its index no longer matches its table. The backup API copies pages
    # as they are, so the copy fails the check as the original does.
    damaged = tmp_path / "damaged.db"
    connection = sqlite3.connect(damaged, isolation_level=None)
    connection.execute("PRAGMA journal_mode=wal")
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)")
    connection.execute("CREATE INDEX t_a ON t (a)")
    connection.executemany("INSERT INTO t (a, b) VALUES (?, ?)", [(f"a{n}", f"b{n}") for n in range(50)])
    connection.execute("PRAGMA writable_schema=ON")
    connection.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX t_a ON t (b)' WHERE name = 't_a'")
    connection.close()
    assert query(damaged, "PRAGMA integrity_check")[0] != ("ok",)

    target = out / "site.db"
    target.write_bytes(b"the last good backup")
    message = refused(run_cli(sqlite_env(env, damaged), "backup", "--output", str(target), "--force"))
    assert "integrity_check" in message and "missing from index t_a" in message
    assert target.read_bytes() == b"the last good backup"
    assert os.listdir(out) == ["site.db"]


def test_a_backup_taken_while_rows_are_inserted_is_whole_and_consistent(site, out):
    live = live_path(site)
    # Enough pages (about 5 MB) that the copy takes many steps, each of which a write restarts.
    connection = sqlite3.connect(live, isolation_level=None)
    connection.execute("CREATE TABLE race (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    connection.execute("BEGIN")
    connection.executemany("INSERT INTO race (body) VALUES (?)", [(os.urandom(1000),) for _ in range(5000)])
    connection.execute("COMMIT")
    connection.close()

    inserted = [0]
    stop = threading.Event()
    failures = []

    def writer():
        # As a busy server does: one row per transaction, as fast as it can.
        conn = sqlite3.connect(live, isolation_level=None, timeout=10)
        try:
            while not stop.is_set():
                conn.execute("INSERT INTO race (body) VALUES (?)", (os.urandom(1000),))
                inserted[0] += 1
        except sqlite3.Error as error:
            failures.append(error)
        finally:
            conn.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while inserted[0] < 50:
        assert time.monotonic() < deadline and thread.is_alive(), failures
        time.sleep(0.01)
    at_start = inserted[0]
    try:
        result = run_cli(site, "backup", "--output", str(out / "site.db"), timeout=120)
        at_end = inserted[0]
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not failures, failures  # the backup never held the writer up past its busy timeout
    ok(result)
    assert at_end > at_start, "no row was written while the backup ran: the test raced nothing"

    target = out / "site.db"
    assert query(target, "PRAGMA integrity_check") == [("ok",)]
    # A snapshot of a moment: every row committed then, with no gap, and none after the backup ended.
    [(count, highest)] = query(target, "SELECT COUNT(*), MAX(id) FROM race")
    assert count == highest
    assert 5000 + at_start <= count <= 5000 + at_end
    assert query(target, "SELECT COUNT(*) FROM schema_migrations") == [(len(available()),)]
    assert query(live, "SELECT COUNT(*) FROM race") == [(5000 + inserted[0],)]
    assert os.listdir(out) == ["site.db"]
