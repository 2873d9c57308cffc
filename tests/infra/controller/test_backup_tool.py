"""gatehouse-backup (roles/backup/files/gatehouse_backup.py) against the real thing.

A private MariaDB primary with its binary log on, real restic repositories,
the tool run as a subprocess the way the backup host's units run it; no
mocks (backup_lab.py builds the lab). Each test is what an operator relies
on: a point-in-time restore gives back exactly the rows written before the
chosen time, bad requests are refused before anything changes, failures
say so and show in the metrics, the stream keeps up and resumes, the drill
catches a restore that differs from the primary, and pruning keeps every
binlog a kept backup needs.

Needs root (mariadbd runs as mysql; the drill chowns its scratch datadir),
MariaDB (`make services` installs it) and restic (installed when missing).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from backup_lab import (
    PASSWORD,
    TOOL,
    Lab,
    LabError,
    RepositoryTemplate,
    Server,
    client_defaults,
    gtid_seq,
    require_programs,
    sha256,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: mariadbd runs as mysql")

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def fmt(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(TIME_FORMAT)


def next_second() -> str:
    """Sleep into a new second and name it: every event logged before has an
    earlier timestamp, every one logged after has this one or later
    (mariadb-binlog --stop-datetime works in whole seconds)."""
    now = time.time()
    time.sleep(1 - (now % 1) + 0.02)
    return fmt(dt.datetime.fromtimestamp(int(time.time()), dt.UTC))


def seconds_ago(seconds: int) -> str:
    return fmt(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds))


@pytest.fixture(scope="module")
def lab_root():
    # Not under pytest's 0700 tmp_path: mariadbd runs as mysql and must reach its datadir.
    root = Path(tempfile.mkdtemp(prefix="gatehouse-backup-lab-", dir="/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def programs():
    try:
        require_programs()
    except LabError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def repository_template(programs, lab_root):
    return RepositoryTemplate(lab_root / "restic-template")  # initialised while the primary starts


@pytest.fixture(scope="module")
def primary(programs, lab_root, repository_template):
    try:
        server = Server(lab_root).start()
    except LabError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def new_lab(primary, lab_root, repository_template):
    """Returns make(**settings) -> Lab; every lab is closed after the test."""
    labs = []

    def make(**overrides):
        labs.append(Lab(primary, lab_root, f"lab{len(os.listdir(lab_root))}", repository_template, **overrides))
        return labs[-1]

    yield make
    for lab in labs:
        lab.close()


@pytest.fixture
def lab(new_lab):
    return new_lab()


# --- point-in-time restore ---------------------------------------------------------


def test_restore_until_a_time_gives_back_exactly_the_rows_written_before_it(lab, primary):
    lab.start_stream()
    lab.insert("before-backup-1", "before-backup-2")
    backup = lab.ok("full")
    lab.insert("after-backup-1")
    until = next_second()
    lab.insert("after-until-1", "after-until-2")
    lab.sql(f"DROP DATABASE `{lab.database}`")  # the accident
    lab.wait_caught_up()
    assert lab.labels() == set()
    before = primary.gtid_binlog_pos()

    restored = lab.ok("restore", "--until", until, "--target-defaults", str(lab.target_defaults))

    assert lab.labels() == {"before-backup-1", "before-backup-2", "after-backup-1"}
    assert restored["snapshot"] == backup["snapshot"]
    assert restored["until"] == until
    assert restored["transactions_replayed"] == 1  # after-backup-1: one transaction
    # The restore went through the primary's binary log (replicas follow it)
    # with new GTIDs, and the primary goes on taking writes.
    assert gtid_seq(restored["target_gtid_binlog_pos"]) > gtid_seq(before)
    assert gtid_seq(primary.gtid_binlog_pos()) > gtid_seq(before)
    lab.insert("after-restore")
    assert "after-restore" in lab.labels()
    assert {r[0] for r in lab.sql("SELECT label FROM audit_log")} == lab.labels()


def test_restore_until_the_second_a_backup_started_uses_the_backup_before(lab):
    """A backup started in second S may hold rows logged in S, which a
    restore "until S" must not bring back (it replays only what was logged
    before S): it starts from the backup before."""
    lab.start_stream()
    lab.insert("before-first-backup")
    first = lab.ok("full")
    lab.insert("before-s")
    until = next_second()
    lab.insert("in-second-s")
    second = lab.ok("full")  # starts in second S too (next_second left ~0.98 s)
    lab.insert("after-s")
    lab.wait_caught_up()
    lab.ok("metrics")  # the stream is caught up: coverage reaches now

    restored = lab.ok("restore", "--until", until, "--target-defaults", str(lab.target_defaults))

    assert lab.labels() == {"before-first-backup", "before-s"}
    assert restored["snapshot"] == first["snapshot"] != second["snapshot"]


def test_a_restore_the_target_refuses_fails_with_the_servers_message(lab, primary):
    # More than a pipe holds: the client stops reading mid-stream, and the
    # tool must report its error, not the broken pipe.
    big = os.urandom(200_000).hex()
    lab.start_stream()
    lab.sql(f"INSERT INTO audit_log (label, detail) VALUES ('big-in-backup', UNHEX('{big}'))")
    lab.insert("row-1")
    lab.ok("full")
    lab.sql(f"INSERT INTO audit_log (label, detail) VALUES ('big-replayed', UNHEX('{big}'))")
    until = next_second()
    lab.wait_caught_up()
    lab.ok("metrics")
    rows = lab.labels()

    # The dump user may not drop the database: the load stops at once.
    message = lab.failed("restore", "--until", until, "--target-defaults", str(lab.dump_defaults))
    assert "loading backup" in message and "Access denied for user 'dump'" in message
    assert lab.labels() == rows

    # Every right on the database but not BINLOG REPLAY: the backup loads, the replay stops.
    user = f"limited_{lab.name}"
    primary.sql(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';"
                f" GRANT ALL ON `{lab.database}`.* TO '{user}'@'127.0.0.1';")
    limited = client_defaults(lab.dir / "limited.cnf", primary.port, user)
    message = lab.failed("restore", "--until", until, "--target-defaults", str(limited))
    assert f"replaying the binlogs of {primary.name}" in message and "BINLOG REPLAY" in message
    assert "Broken pipe" not in message


# --- refusals --------------------------------------------------------------------------


def test_bad_restore_requests_are_refused_before_anything_changes(lab, new_lab, primary):
    lab.start_stream()
    lab.insert("row-1")
    first = primary.flush_binary_logs()
    backup = lab.ok("full")
    assert backup["binlog_file"] == first
    lab.insert("row-2")
    middle = primary.flush_binary_logs()
    lab.insert("row-3")
    primary.flush_binary_logs()
    lab.insert("row-4")
    until = next_second()
    lab.insert("row-5")
    lab.wait_caught_up()
    empty = new_lab()  # a new site, before its first backup
    rows, gtid = lab.labels(), primary.gtid_binlog_pos()
    target = ("--target-defaults", str(lab.target_defaults))

    def refused(*args):
        message = lab.refused("restore", *args, *target)
        assert (lab.labels(), primary.gtid_binlog_pos()) == (rows, gtid), "a refused restore changed the primary"
        return message

    message = refused("--until", "2000-01-01 00:00:00")
    assert f"outside the retention window: the oldest backup is from {backup['consistent_at']}" in message
    assert "is in the future" in refused("--until", fmt(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))
    assert "'yesterday' is not a time as YYYY-MM-DD HH:MM:SS (UTC)" in refused("--until", "yesterday")
    assert "is not a time" in refused("--until", "2024-02-30 12:00:00")
    assert f"no full backup 'deadbeef' in the repository (have: {backup['snapshot']})" in refused(
        "--snapshot", "deadbeef", "--until", until
    )
    assert f"backup {backup['snapshot']} was taken at" in refused(
        "--snapshot", backup["snapshot"], "--until", "2020-01-01 00:00:00"
    )

    # A streamed file lost in the middle of the chain: no restore past it.
    aside = lab.source_dir / f"{middle}.aside"
    (lab.source_dir / middle).rename(aside)
    try:
        message = refused("--until", until)
        assert f"no binlog coverage: {middle} of {primary.name} is missing from the streamed files" in message
    finally:
        aside.rename(lab.source_dir / middle)
    plan = lab.ok("plan", "--until", until)
    assert plan["snapshot"] == backup["snapshot"]
    assert [Path(f).name for f in plan["binlogs"][0]["files"]][:2] == [first, middle]

    # The stream stopped: times after its last byte are not covered.
    lab.stop_stream()
    assert "no binlog coverage: the streamed binlogs reach" in refused("--until", next_second())

    message = empty.refused("restore", "--until", until, "--target-defaults", str(empty.target_defaults))
    assert "the repository holds no full backup" in message
    assert "holds no full backup" in empty.refused("plan")
    assert (lab.labels(), primary.gtid_binlog_pos()) == (rows, gtid)


# --- failures ----------------------------------------------------------------------------


def test_a_full_backup_that_cannot_reach_the_repository_fails_and_says_so(lab):
    lab.insert("row-1")
    wrong = lab.dir / "wrong.password"
    wrong.write_text("not-the-password\n")
    wrong_env = lab.dir / "wrong.env"
    wrong_env.write_text(f"RESTIC_REPOSITORY={lab.repository}\nRESTIC_PASSWORD_FILE={wrong}\n")
    missing_env = lab.dir / "missing.env"
    missing_env.write_text(f"RESTIC_REPOSITORY={lab.repository}\nRESTIC_PASSWORD_FILE={lab.dir}/no-such-file\n")

    for env_file, expected in ((wrong_env, "wrong password"), (missing_env, "no-such-file")):
        config = lab.write_config("bad-restic.json", {**lab.settings, "restic_env_file": str(env_file)})
        message = lab.failed("full", config=config)
        assert "restic exited 1" in message
        assert expected in message
        metrics = lab.metrics("full")
        assert metrics["gatehouse_backup_last_run_success"] == 0
        assert metrics["gatehouse_backup_last_failure_timestamp_seconds"] > time.time() - 60
        assert metrics["gatehouse_backup_last_success_timestamp_seconds"] == 0
        assert not (lab.state / "staging" / "current" / "database.sql").exists(), "a plain-text dump was left behind"
    assert lab.snapshot_ids() == []

    # Back to the right password: the next run succeeds and the metric says so.
    lab.ok("full")
    assert lab.metrics("full")["gatehouse_backup_last_run_success"] == 1
    assert len(lab.snapshot_ids()) == 1


def test_a_full_backup_with_the_primary_down_fails_and_adds_no_snapshot(lab):
    down = lab.dir / "down.cnf"
    down.write_text(lab.dump_defaults.read_text().replace(f"port={lab.primary.port}", "port=1"))
    config = lab.write_config("down.json", {**lab.settings, "dump_defaults_file": str(down)})
    message = lab.failed("full", config=config)
    assert "mariadb-dump exited" in message
    assert "Can't connect" in message
    assert lab.metrics("full")["gatehouse_backup_last_run_success"] == 0
    assert lab.snapshot_ids() == []


# --- the full backup ------------------------------------------------------------------------


def test_a_full_backup_holds_the_dump_its_position_a_manifest_and_the_config_copies(lab, primary):
    lab.insert("row-1", "row-2")
    gtid = primary.gtid_binlog_pos()
    backup = lab.ok("full")

    assert backup["gtid"] == gtid
    assert backup["binlog_file"] == max(primary.binary_logs())
    files = lab.snapshot_files(backup["snapshot"])
    assert set(files) == {"database.sql", "position.json", "MANIFEST.sha256", "config/auth1/gatehouse.env"}
    manifest = dict(reversed(line.split("  ", 1)) for line in files["MANIFEST.sha256"].decode().splitlines())
    assert set(manifest) == set(files) - {"MANIFEST.sha256"}
    for name, digest in manifest.items():
        assert sha256(files[name]) == digest, f"{name} does not match the manifest"
    position = json.loads(files["position.json"])
    assert position["gtid"] == gtid
    assert position["binlog_file"] == backup["binlog_file"]
    assert position["source"] == primary.name and position["database"] == lab.database
    dump = files["database.sql"].decode()
    assert "INSERT INTO `accounts`" in dump and "'row-2'" in dump
    assert files["config/auth1/gatehouse.env"] == (lab.copies / "auth1" / "gatehouse.env").read_bytes()
    snapshots = lab.ok("snapshots")["snapshots"]
    assert [(s["id"], s["gtid"]) for s in snapshots] == [(backup["snapshot"], gtid)]

    # The plain-text dump is not left behind on the backup host.
    assert not (lab.state / "staging" / "current" / "database.sql").exists()
    metrics = lab.metrics("full")
    assert metrics["gatehouse_backup_last_run_success"] == 1
    assert metrics["gatehouse_backup_last_size_bytes"] == backup["size_bytes"] > len(files["database.sql"])
    assert metrics["gatehouse_backup_last_success_timestamp_seconds"] > time.time() - 60
    assert lab.ok("check") == {"check": "ok"}
    assert lab.metrics("check")["gatehouse_backup_check_last_run_success"] == 1


def test_two_full_backups_started_together_both_succeed(lab):
    # The hourly timer and the maintenance play (or an operator) may start one
    # in the same second: the second waits for the first instead of clearing
    # its staging copy.
    runs = [
        subprocess.Popen([sys.executable, str(TOOL), "full"], env=lab.env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(run.wait(timeout=180), *run.communicate()) for run in runs]
    assert [rc for rc, _, _ in results] == [0, 0], results
    assert any("another job is running; waiting for it to end" in err for _, _, err in results), results
    snapshots = {json.loads(out.splitlines()[-1])["snapshot"] for _, out, _ in results}
    assert len(snapshots) == 2 and snapshots <= {s["id"] for s in lab.ok("snapshots")["snapshots"]}


def test_check_fails_on_a_damaged_repository(lab):
    # Enough incompressible data that the dump's pack is the biggest (the
    # trees' packs are read by every check: restic retries those for minutes).
    lab.sql(f"INSERT INTO audit_log (label, detail) VALUES ('big', UNHEX('{os.urandom(200_000).hex()}'))")
    lab.ok("full")
    packs = [p for p in (lab.repository / "data").rglob("*") if p.is_file()]
    max(packs, key=lambda p: p.stat().st_size).unlink()  # the dump's pack, lost
    message = lab.failed("check")
    assert "restic check failed" in message and "does not exist" in message
    assert lab.metrics("check")["gatehouse_backup_check_last_run_success"] == 0


# --- the binlog stream --------------------------------------------------------------------------


def wait_for_label(lab: Lab, label: str, timeout: float = 5) -> float:
    """Seconds until a transaction's row shows in the local binlog copy."""
    started = time.monotonic()
    while label not in lab.decoded_binlogs(names=sorted(lab.local_binlogs())[-2:]):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{label} was not streamed within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - started


def test_the_stream_copies_each_transaction_within_seconds_and_resumes_where_it_stopped(lab, primary):
    lab.start_stream()
    lab.insert("streamed-1")
    assert wait_for_label(lab, "streamed-1") < 5
    primary.flush_binary_logs()
    lab.insert("streamed-2")
    wait_for_label(lab, "streamed-2")

    # Restart: older files are not fetched again, the newest is (it may be cut short).
    lab.stop_stream()
    lab.insert("while-stopped")
    local = lab.local_binlogs()
    older = {name: (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size) for name, p in local.items()}
    newest = max(older)
    del older[newest]
    assert older, "the test needs files before the newest"
    time.sleep(0.05)
    lab.start_stream()
    wait_for_label(lab, "while-stopped")
    lab.insert("after-restart")
    wait_for_label(lab, "after-restart")
    for name, before in older.items():
        path = lab.local_binlogs()[name]
        assert (path.stat().st_ino, path.stat().st_mtime_ns, path.stat().st_size) == before, f"{name} was fetched again"

    # A rotation on the primary: the new file is streamed too.
    new_file = primary.flush_binary_logs()
    lab.insert("in-new-file")
    wait_for_label(lab, "in-new-file")
    assert "in-new-file" in lab.decoded_binlogs(names=[new_file])
    lab.wait_caught_up()
    metrics = lab.ok("metrics")
    assert metrics == {"behind_bytes": 0, "lag_seconds": 0, "primary_reachable": True}
    assert lab.metrics("stream")["gatehouse_binlog_stream_behind_bytes"] == 0

    # Stopped and behind: the metric shows the bytes not yet copied.
    lab.stop_stream()
    lab.insert("not-streamed")
    behind = lab.ok("metrics")["behind_bytes"]
    assert behind > 0
    assert lab.metrics("stream")["gatehouse_binlog_stream_behind_bytes"] == behind


# --- the drill ------------------------------------------------------------------------------------


class Writer(threading.Thread):
    """The app, writing while the drill runs."""

    def __init__(self, lab: Lab):
        super().__init__(daemon=True)
        self.lab, self.done, self.count, self.error = lab, threading.Event(), 0, None

    def run(self):
        try:
            while not self.done.is_set():
                self.count += 1
                self.lab.insert(f"during-drill-{self.count}")
                time.sleep(0.02)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def test_the_drill_matches_a_busy_primary_and_fails_when_the_restore_differs(lab):
    lab.start_stream()
    lab.insert(*(f"row-{i}" for i in range(20)))
    lab.ok("full")
    lab.insert("after-backup-1", "after-backup-2")
    writer = Writer(lab)
    writer.start()
    try:
        result = lab.ok("drill")
    finally:
        writer.done.set()
        writer.join()
    assert writer.error is None and writer.count > 5, "the writer did not run during the drill"
    assert result["differences"] == []
    assert result["tables"] == 2
    assert result["rows"] >= 2 * 22
    assert result["transactions_replayed"] >= 2
    assert lab.metrics("drill")["gatehouse_restore_drill_last_success"] == 1
    assert list(lab.drill_dir.iterdir()) == []

    proc = lab.run("drill", "--before-compare", "UPDATE accounts SET label = 'tampered' WHERE id = 2")
    assert proc.returncode == 1, proc.stderr
    assert "restore drill FAILED" in proc.stderr
    details = json.loads(proc.stderr.split("FAILED: ", 1)[1])
    assert [d["table"] for d in details["differences"]] == ["accounts"]
    metrics = lab.metrics("drill")
    assert metrics["gatehouse_restore_drill_last_success"] == 0
    assert metrics["gatehouse_restore_drill_last_success_timestamp_seconds"] > 0  # the earlier pass
    assert list(lab.drill_dir.iterdir()) == []


# --- prune --------------------------------------------------------------------------------------------


def test_prune_applies_the_tiers_and_drops_only_binlogs_no_kept_backup_needs(lab, primary):
    primary.flush_binary_logs()
    lab.insert("row-1")
    primary.flush_binary_logs()
    lab.start_stream()
    lab.wait_caught_up()
    backups = []
    for i in range(3):
        lab.insert(f"backup-{i}")
        backups.append(lab.ok("full"))
        primary.flush_binary_logs()
    lab.insert("last")
    lab.wait_caught_up()
    snapshots = lab.ok("snapshots")["snapshots"]
    # The tiers keep the newest backup of each hour (--keep-hourly 24).
    expected = {}
    for snap in snapshots:
        expected[snap["time"][:13]] = snap["id"]
    before = set(lab.local_binlogs())

    pruned = lab.ok("prune")

    kept = lab.ok("snapshots")["snapshots"]
    assert {s["id"] for s in kept} == set(expected.values())
    assert pruned["kept"] == len(kept)
    cut = kept[0]["binlog_file"]
    assert cut in before and min(before) < cut
    assert set(lab.local_binlogs()) == {name for name in before if name >= cut}
    assert sorted(f.split("/", 1)[1] for f in pruned["binlog_files_removed"]) == sorted(n for n in before if n < cut)
    # What is left still restores to now.
    now = seconds_ago(0)
    lab.ok("metrics")  # the stream is caught up: coverage reaches now
    plan = lab.ok("plan", "--until", now)
    assert plan["snapshot"] == backups[-1]["snapshot"]


# --- failover -------------------------------------------------------------------------------------------


@pytest.fixture
def replica(primary, lab_root):
    server = Server(lab_root, "replica", server_id=12).start()
    server.replicate_from(primary)
    yield server
    server.stop()


def test_restore_after_a_failover_replays_the_old_and_the_new_primarys_binlogs(new_lab, primary, replica):
    lab = new_lab()  # its database is created on the primary and replicated
    lab.start_stream()
    lab.insert("old-primary-1")
    backup = lab.ok("full")
    lab.insert("old-primary-2")
    before_failover = next_second()
    lab.insert("old-primary-3")
    replica.catch_up_with(primary)
    lab.wait_caught_up()
    lab.stop_stream()

    # The failover: the replica takes the writes, the backup host follows it
    # into a binlog directory of its own (its mysql-bin.000001 is not the old one's).
    replica.promote()
    first_own = replica.flush_binary_logs()  # what it logs as the primary starts here
    lab.fail_over_to(replica)
    lab.start_stream()
    lab.insert("new-primary-1")
    until = next_second()
    lab.insert("new-primary-2")
    lab.sql(f"DROP DATABASE `{lab.database}`")
    lab.wait_caught_up()
    lab.ok("metrics")

    plan = lab.ok("plan", "--until", until)
    assert plan["snapshot"] == backup["snapshot"]
    assert [part["source"] for part in plan["binlogs"]] == [primary.name, replica.name]
    restored = lab.ok("restore", "--until", until, "--target-defaults", str(lab.target_defaults))
    assert lab.labels() == {"old-primary-1", "old-primary-2", "old-primary-3", "new-primary-1"}
    assert restored["transactions_replayed"] >= 3

    # Before the failover, with the new primary's older binlogs expired
    # before the stream reached it: only the old primary's binlogs are needed.
    for name, path in lab.local_binlogs().items():
        if name < first_own:
            path.unlink()
    assert [part["source"] for part in lab.ok("plan", "--until", before_failover)["binlogs"]] == [primary.name]
    lab.ok("restore", "--until", before_failover, "--target-defaults", str(lab.target_defaults))
    assert lab.labels() == {"old-primary-1", "old-primary-2"}
