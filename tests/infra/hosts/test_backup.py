"""What the backup role promises, on the hosts of `backup_hosts`: the binlog
stream connected to the primary and seconds behind it, the timers, a first
full backup in an encrypted repository, private secrets, least-privilege
database accounts, the auth servers' configuration in the backups, metrics
for node_exporter.

Run by molecule/backup and the site scenarios (tests/infra/hosts/inventory.py).
The point-in-time restore and the drill's failure run in the cluster
scenario's backup_restore drill; the tool's own logic in
tests/infra/controller/test_backup_tool.py.
"""

import json
import time
import uuid

import pytest
from inventory import connect, hosts_checked, hosts_of, var

testinfra_hosts = hosts_checked("backup_hosts")
PRIMARY = hosts_checked("db_primary")[0]
AUTH_SERVERS = hosts_of("auth_servers")
TOOL = "/usr/local/sbin/gatehouse-backup"
ETC = "/etc/gatehouse-backup"
STATE = "/var/lib/gatehouse-backup"
TIMERS = ("full", "prune", "check", "metrics")


def tool(host, *args):
    out = host.check_output(f"{TOOL} " + " ".join(args))
    return json.loads(out.splitlines()[-1])


def primary_sql(query):
    return connect(PRIMARY).check_output("mysql -N -B -e %s", query)


def test_binlog_stream_runs_and_the_primary_sees_it(host):
    svc = host.service("gatehouse-binlog-stream")
    assert svc.is_running and svc.is_enabled
    user = var(PRIMARY, "mysql_binlog_user", "gatehouse_binlog")
    deadline = time.time() + 30
    while time.time() < deadline:
        dumps = primary_sql("SELECT user FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'")
        if user in dumps.split():
            break
        time.sleep(1)
    assert user in dumps.split(), f"the primary lists no binlog dump by {user}: {dumps!r}"


@pytest.mark.parametrize("job", TIMERS + ("restore-drill",))
def test_timers_scheduled(host, job):
    name = f"gatehouse-{job}" if job == "restore-drill" else f"gatehouse-backup-{job}"
    timer = host.service(f"{name}.timer")
    assert timer.is_enabled and timer.is_running
    assert host.run(f"systemctl show -p NextElapseUSecRealtime --value {name}.timer").stdout.strip() not in ("", "0")


def test_secrets_are_root_only(host):
    assert host.file(ETC).mode == 0o700
    assert host.file(STATE).mode == 0o700
    for name in ("restic-password", "restic.env", "dump.cnf", "stream.cnf", "config.json"):
        f = host.file(f"{ETC}/{name}")
        assert (f.user, f.group, f.mode) == ("root", "root", 0o600), name
    assert var(PRIMARY, "mysql_backup_password") not in host.check_output(f"cat {ETC}/config.json")


def test_the_first_full_backup_is_in_an_encrypted_repository(host):
    found = tool(host, "snapshots")["snapshots"]
    assert found, "site.yml took no first backup"
    newest = found[-1]
    assert newest["database"] == var(PRIMARY, "mysql_app_database", "gatehouse")
    assert newest["binlog_file"].startswith("mysql-bin.")
    assert newest["gtid"] == "" or newest["gtid"].count("-") >= 2
    # Without the password the repository is unreadable.
    out = host.run(f"set -a; . {ETC}/restic.env; env -u RESTIC_PASSWORD_FILE RESTIC_PASSWORD=wrong-password restic cat config")
    assert out.rc != 0
    assert "wrong password" in (out.stdout + out.stderr).lower() or "no key found" in (out.stdout + out.stderr).lower()


def test_a_backup_holds_a_manifest_of_its_files(host):
    listing = host.check_output(f"set -a; . {ETC}/restic.env; restic ls latest --tag gatehouse-full")
    assert f"{STATE}/staging/current/database.sql" in listing
    manifest = host.check_output(
        f"set -a; . {ETC}/restic.env; restic dump latest {STATE}/staging/current/MANIFEST.sha256 --tag gatehouse-full"
    )
    names = {line.split("  ", 1)[1] for line in manifest.splitlines()}
    assert {"database.sql", "position.json"} <= names
    for auth in AUTH_SERVERS:
        assert f"config/{auth}/etc/gatehouse/gatehouse.env" in names, f"{auth}'s configuration is not backed up"
        assert any(n.startswith(f"config/{auth}/etc/gatehouse/keys/") for n in names), f"{auth}'s signing keys"


def test_configuration_copies_are_current_and_private(host):
    for auth in AUTH_SERVERS:
        source = connect(auth).file("/etc/gatehouse/gatehouse.env")
        copy = host.file(f"{STATE}/config/{auth}/etc/gatehouse/gatehouse.env")
        assert copy.exists and copy.mode == 0o600 and copy.user == "root"
        assert copy.sha256sum == source.sha256sum


def test_a_new_commit_reaches_the_backup_host_within_seconds(host):
    """The RPO: a row committed on the primary is in the streamed copy of its
    binary log a moment later."""
    marker = f"rpo-{uuid.uuid4().hex[:12]}"
    primary_sql(
        "CREATE DATABASE IF NOT EXISTS gatehouse_probe; "
        "CREATE TABLE IF NOT EXISTS gatehouse_probe.t (v VARCHAR(64)) ENGINE=InnoDB; "
        f"INSERT INTO gatehouse_probe.t VALUES ('{marker}')"
    )
    try:
        committed = time.time()
        newest = f"ls -1 {STATE}/binlogs/{PRIMARY}/mysql-bin.[0-9]* | tail -1"
        while True:
            out = host.run(f"mariadb-binlog --base64-output=decode-rows -v $({newest}) | grep -c {marker}")
            if out.stdout.strip() not in ("", "0"):
                break
            assert time.time() - committed < 15, f"{marker} not streamed to the backup host after 15 s"
            time.sleep(0.2)
    finally:
        primary_sql("DROP DATABASE IF EXISTS gatehouse_probe")
    metrics = tool(host, "metrics")
    assert metrics["primary_reachable"]


def test_metrics_for_node_exporter(host):
    prom = host.file("/var/lib/prometheus/node-exporter/gatehouse_backup_full.prom")
    assert prom.exists and prom.mode & 0o004  # node_exporter reads it
    assert "gatehouse_backup_last_run_success 1" in prom.content_string
    stream = host.check_output("cat /var/lib/prometheus/node-exporter/gatehouse_backup_stream.prom")
    assert "gatehouse_binlog_stream_primary_reachable 1" in stream


def test_stream_account_reads_no_data_and_dump_account_writes_none(host):
    """Least privilege: a stolen stream password reads no table; a stolen
    dump password changes nothing."""
    database = var(PRIMARY, "mysql_app_database", "gatehouse")
    visible = host.check_output(f"mariadb --defaults-extra-file={ETC}/stream.cnf -N -e 'SHOW DATABASES'")
    assert database not in visible.split()
    denied = host.run(f"mariadb --defaults-extra-file={ETC}/stream.cnf -e 'SELECT COUNT(*) FROM mysql.user'")
    assert denied.rc != 0 and "denied" in denied.stderr.lower()
    write = host.run(f"mariadb --defaults-extra-file={ETC}/dump.cnf -e 'CREATE TABLE {database}.intruder (i INT)'")
    assert write.rc != 0 and "denied" in write.stderr.lower()
    grants = host.check_output(f"mariadb --defaults-extra-file={ETC}/dump.cnf -N -e 'SHOW GRANTS'")
    assert "ALL PRIVILEGES" not in grants and "SUPER" not in grants and "INSERT" not in grants
