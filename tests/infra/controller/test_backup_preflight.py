"""Bad backup inputs stop site.yml, and the day-2 backup playbooks, before any host changes.

Every rule of roles/backup/tasks/preflight.yml (site.yml's play "Preflight |
backup hosts", on the hosts of `backup_hosts`) fails with a message naming
the variable, on the backup host that breaks it; the database preflight
refuses the backup accounts' bad settings; playbooks/restore.yml refuses a
bad request in its first play, before the auth servers are stopped;
backup.yml and restore-drill.yml refuse an inventory without backup hosts.
See preflight.py for how the sites below are run (every host is this
machine, in check mode).

A site holds one backup host per broken rule of the same task; rules of
different tasks need sites of their own (the preflight stops every host at
the first failure, any_errors_fatal).
"""

import hashlib
import json

from preflight import GOOD_VARS, REPO, Site, assert_refused

BACKUP_YML = REPO / "playbooks" / "backup.yml"
RESTORE_YML = REPO / "playbooks" / "restore.yml"
DRILL_YML = REPO / "playbooks" / "restore-drill.yml"
# The plays of backup.yml: a check of the inventory, then the backup (which
# starts with the role's preflight).
BACKUP_CHECK = "Check there is a backup host"
BACKUP_NOW = "Back up the database and configuration now"
RESTORE_CHECK = "Check the request before anything changes"
PLACEHOLDER = "CHANGE-ME-0123456789abcdef"


def backup_site(backups, primary=None, **site):
    """A database primary, `db`, and the backup hosts `backups` (name: its variables)."""
    return Site(
        groups={"db_primary": ["db"], "backup_hosts": list(backups)},
        hostvars={"db": primary or {}, **backups},
        **site,
    )


def day2(playbook, site, *extra_vars):
    """`site` run through another playbook (in check mode, every tag), with `-e` extra vars."""
    site.playbook = playbook
    site.options = tuple(option for var in extra_vars for option in ("-e", var))
    return site


def mysql_default_server_id(host):
    """The mysql role's default mysql_server_id of `host` (roles/mysql/defaults/main.yml)."""
    return int(hashlib.sha1(host.encode()).hexdigest()[:7], 16) + 1


GOOD = backup_site({"backup": {}})

# --- site.yml: the backup preflight -------------------------------------------------------
TYPES = backup_site({"typo": {"backup_keep_daily": "seven"}})
NO_PRIMARY = Site(groups={"backup_hosts": ["backup"]})
RESTIC_PASSWORD = backup_site(
    {
        "restic-missing": {"backup_restic_password": ""},
        "restic-short": {"backup_restic_password": "short"},
        "restic-placeholder": {"backup_restic_password": PLACEHOLDER},
        "restic-spaced": {"backup_restic_password": "a restic password with spaces"},
    }
)
REPOSITORY = backup_site(
    {
        "relative-repository": {"backup_restic_repository": "backups/restic"},
        "no-tier": {
            "backup_keep_hourly": 0,
            "backup_keep_daily": 0,
            "backup_keep_weekly": 0,
            "backup_keep_monthly": 0,
            "backup_keep_yearly": 0,
        },
        "negative-tier": {"backup_keep_weekly": -1},
        "spaced-restic-host": {"backup_restic_host": "the backup host"},
        "bad-read-subset": {"backup_check_read_data_subset": "some"},
        "lowercase-environment": {"backup_restic_environment": {"aws_access_key_id": "AKIAEXAMPLE"}},
        "password-in-environment": {"backup_restic_environment": {"RESTIC_PASSWORD": "a-password-beside-the-vault"}},
    }
)
SCHEDULES = backup_site(
    {
        "empty-schedule": {"backup_check_on_calendar": ""},
        "two-commands": {"backup_full_on_calendar": "hourly; reboot"},
    }
)
SYSTEMD_SCHEDULE = backup_site({"every-tuesday": {"backup_prune_on_calendar": "every tuesday"}})
LIMITS = backup_site(
    {
        "memory-words": {"backup_drill_memory_max": "plenty"},
        "buffer-pool-in-tb": {"backup_drill_buffer_pool_size": "1T"},
        "stream-id-zero": {"backup_stream_server_id": 0},
        "negative-delay": {"backup_full_randomized_delay": -5},
        "relative-textfile-dir": {"backup_textfile_dir": "node-exporter"},
    }
)
# A primary with its id set in the inventory and a replica with the mysql
# role's default id: the stream must take neither.
STREAM_SERVER_ID = Site(
    groups={"db_primary": ["db"], "db_replicas": ["db2"], "backup_hosts": ["stream-77", "stream-of-db2"]},
    hostvars={
        "db": {"mysql_server_id": 77},
        "stream-77": {"backup_stream_server_id": 77},
        "stream-of-db2": {"backup_stream_server_id": mysql_default_server_id("db2")},
    },
)

# --- backup.yml: the preflight guards day-2 runs, which skip the database preflight ----------
BACKUP_ACCOUNT_PASSWORD = {
    name: day2(BACKUP_YML, backup_site({"backup": {}}, primary={"mysql_backup_password": password}))
    for name, password in {"missing": "", "short": "short", "placeholder": PLACEHOLDER}.items()
}
TWO_PRIMARIES = day2(BACKUP_YML, Site(groups={"db_primary": ["db", "db2"], "backup_hosts": ["backup"]}))
NO_BACKUP_HOSTS = {
    playbook: day2(playbook, Site(groups={"db_primary": ["db"]})) for playbook in (BACKUP_YML, DRILL_YML)
}

# --- site.yml: the database preflight's backup accounts ------------------------------------
NO_BINLOG_PASSWORD = backup_site({"backup": {}}, primary={"mysql_binlog_password": ""})
NO_BACKUP_HOSTS_NO_BACKUP_PASSWORDS = Site(
    groups={"db_primary": ["db"]}, vars={"mysql_backup_password": "", "mysql_binlog_password": ""}
)
ACCOUNT_NAMES = Site(
    groups={"db_primary": ["db"], "db_replicas": ["db2", "db3"], "backup_hosts": ["backup"]},
    hostvars={
        "db": {"mysql_backup_user": "gatehouse"},  # the app user's default
        "db2": {"mysql_binlog_user": "gatehouse_backup"},  # the backup user's default
        "db3": {"mysql_backup_user": "gatehouse-backup"},
    },
)

# --- restore.yml: the request ----------------------------------------------------------------
RESTORE = {
    name: day2(
        RESTORE_YML,
        Site(groups={"db_primary": ["db"], "auth_servers": ["app"], "backup_hosts": ["backup"]}),
        *extra_vars,
    )
    for name, extra_vars in {
        "unconfirmed": (),
        "unknown-backup-host": ("restore_confirm=yes", "restore_backup_host=nosuch"),
        "time-in-words": ("restore_confirm=yes", "restore_point_in_time=yesterday"),
        "short-snapshot": ("restore_confirm=yes", "restore_snapshot=abc"),
    }.items()
}


def tasks_run(run):
    """The names of the tasks the run reported, without their roles."""
    return [t["task"]["name"].split(" : ")[-1] for p in (run.report or {}).get("plays", []) for t in p["tasks"]]


def assert_stopped_in(run, play, host, *words):
    """`play` failed on `host` with a message holding every one of `words`, and the run ended there, unchanged."""
    assert run.returncode != 0, run.summary()
    matching = [f for f in run.failures if f.play == play and f.host == host and all(w in f.msg for w in words)]
    assert matching, f"no failure of {host} in {play!r} says {words}\n{run.summary()}"
    assert run.plays and run.plays[-1] == play, f"a play after {play!r} began: {run.plays}"
    assert not run.changed, f"changed: {run.changed}\n{run.summary()}"


# --- a good site ---------------------------------------------------------------------------------


def test_a_good_site_with_a_backup_host_passes_the_preflight(preflight):
    run = preflight(GOOD)
    assert run.returncode == 0 and not run.failures and not run.changed, run.summary()
    assert "Preflight | backup hosts" in run.plays, run.plays
    (play,) = [p for p in run.report["plays"] if p["play"]["name"] == "Preflight | backup hosts"]
    assert {host for task in play["tasks"] for host in task["hosts"]} == {"backup"}
    (naming,) = [t for t in play["tasks"] if t["task"]["name"].endswith(" : Name the secret that is missing")]
    assert naming["hosts"]["backup"].get("skipped"), naming


# --- the backup preflight, in site.yml ------------------------------------------------------------


def test_the_types_are_checked_against_the_argument_specs(preflight):
    assert_refused(preflight(TYPES), "typo", "backup_keep_daily")


def test_a_site_without_a_database_primary_is_refused(preflight):
    assert_refused(
        preflight(NO_PRIMARY),
        "backup",
        "the group 'db_primary' (backup_db_primary_group) must hold exactly one host",
        "it holds []",
    )


def test_a_missing_restic_password_is_named(preflight):
    assert_refused(preflight(RESTIC_PASSWORD), "restic-missing", "backup_restic_password is missing, a placeholder")


def test_a_short_restic_password_is_named(preflight):
    assert_refused(preflight(RESTIC_PASSWORD), "restic-short", "backup_restic_password is missing, a placeholder")


def test_a_placeholder_restic_password_is_named(preflight):
    assert_refused(preflight(RESTIC_PASSWORD), "restic-placeholder", "backup_restic_password is missing, a placeholder")


def test_a_restic_password_with_whitespace_is_named(preflight):
    assert_refused(preflight(RESTIC_PASSWORD), "restic-spaced", "backup_restic_password is missing, a placeholder")


def test_the_backup_preflight_does_not_show_the_secrets(preflight):
    run = preflight(RESTIC_PASSWORD)
    shown = json.dumps([p for p in run.report["plays"] if p["play"]["name"] == "Preflight | backup hosts"])
    for secret in (PLACEHOLDER, "a restic password with spaces", GOOD_VARS["mysql_backup_password"]):
        assert secret not in shown, f"{secret!r} is in the output"


def test_the_repository_must_be_an_absolute_path_or_a_url(preflight):
    assert_refused(
        preflight(REPOSITORY),
        "relative-repository",
        "backup_restic_repository must be an absolute path or a restic URL",
        "(is 'backups/restic')",
        assertion="backup_restic_repository.startswith('/') or backup_restic_repository is match('^[a-z0-9]+:')",
    )


def test_one_retention_tier_must_keep_backups(preflight):
    assert_refused(
        preflight(REPOSITORY),
        "no-tier",
        "the backup_keep_* tiers must be 0 or more with at least one above 0",
        assertion="_backup_retention.values() | map('int') | select('gt', 0) | list | length > 0",
    )


def test_a_retention_tier_must_not_be_negative(preflight):
    assert_refused(
        preflight(REPOSITORY),
        "negative-tier",
        "the backup_keep_* tiers must be 0 or more",
        '"weekly": -1',
        assertion="_backup_retention.values() | map('int') | select('lt', 0) | list | length == 0",
    )


def test_the_restic_host_must_be_a_plain_name(preflight):
    assert_refused(
        preflight(REPOSITORY),
        "spaced-restic-host",
        "backup_restic_host a plain name (is 'the backup host')",
        assertion="backup_restic_host is match('^[A-Za-z0-9_.-]+$')",
    )


def test_the_read_data_subset_must_be_a_part(preflight):
    assert_refused(
        preflight(REPOSITORY),
        "bad-read-subset",
        "backup_check_read_data_subset empty, a percentage, a size or n/m (is 'some')",
        assertion="backup_check_read_data_subset | string is match('^([0-9]+(\\.[0-9]+)?%|[0-9]+[KMGT]?|[0-9]+/[0-9]+)?$')",
    )


def test_the_restic_environment_names_environment_variables(preflight):
    assert_refused(
        preflight(REPOSITORY),
        "lowercase-environment",
        "backup_restic_environment's keys environment variable names",
        "(are ['aws_access_key_id'])",
        assertion="backup_restic_environment.keys() | reject('match', '^[A-Z_][A-Z0-9_]*$') | list | length == 0",
    )


def test_the_restic_environment_must_not_set_the_password(preflight):
    run = preflight(REPOSITORY)
    assert_refused(
        run,
        "password-in-environment",
        "backup_restic_environment's keys environment variable names other than the repository and password ones",
        "(are ['RESTIC_PASSWORD'])",
        assertion="backup_restic_environment.keys() | select('in', ['RESTIC_REPOSITORY', 'RESTIC_PASSWORD',"
        " 'RESTIC_PASSWORD_FILE']) | list | length == 0",
    )
    assert "a-password-beside-the-vault" not in json.dumps(run.report) + run.stderr


def test_a_schedule_must_not_be_empty(preflight):
    assert_refused(
        preflight(SCHEDULES),
        "empty-schedule",
        "backup_check_on_calendar must be a systemd OnCalendar expression, not ''",
        assertion="item.value | string | length > 0",
    )


def test_a_schedule_must_be_one_expression(preflight):
    assert_refused(
        preflight(SCHEDULES),
        "two-commands",
        "backup_full_on_calendar must be a systemd OnCalendar expression, not 'hourly; reboot'",
        assertion="item.value | string is not search('[\\n;]')",
    )


def test_systemd_judges_the_schedules(preflight):
    assert_refused(
        preflight(SYSTEMD_SCHEDULE),
        "every-tuesday",
        "systemd does not accept the OnCalendar expressions of backup_prune_on_calendar",
        "'every tuesday'",
    )


def test_the_drill_memory_limit_must_be_a_size(preflight):
    assert_refused(
        preflight(LIMITS),
        "memory-words",
        "backup_drill_memory_max and backup_drill_buffer_pool_size must be sizes such as 1G (are plenty, 128M)",
        assertion="backup_drill_memory_max | string is match('^[0-9]+[KMGT]?$')",
    )


def test_the_drill_buffer_pool_must_be_a_size_mariadb_reads(preflight):
    assert_refused(
        preflight(LIMITS),
        "buffer-pool-in-tb",
        "backup_drill_buffer_pool_size must be sizes such as 1G (are 1G, 1T)",
        assertion="backup_drill_buffer_pool_size | string is match('^[0-9]+[KMG]?$')",
    )


def test_the_stream_server_id_must_be_a_server_id(preflight):
    assert_refused(
        preflight(LIMITS),
        "stream-id-zero",
        "backup_stream_server_id 1-4294967295 (is 0)",
        assertion="backup_stream_server_id | int >= 1 and backup_stream_server_id | int <= 4294967295",
    )


def test_the_randomized_delay_must_be_seconds(preflight):
    assert_refused(
        preflight(LIMITS),
        "negative-delay",
        "backup_full_randomized_delay seconds (is -5)",
        assertion="backup_full_randomized_delay | int >= 0",
    )


def test_the_textfile_dir_must_be_absolute(preflight):
    assert_refused(
        preflight(LIMITS),
        "relative-textfile-dir",
        "backup_textfile_dir an absolute path (is node-exporter)",
        assertion="backup_textfile_dir.startswith('/')",
    )


def test_the_stream_must_not_take_a_server_id_the_inventory_gives_a_database(preflight):
    assert_refused(
        preflight(STREAM_SERVER_ID),
        "stream-77",
        "backup_stream_server_id 77 is the mysql_server_id of db;",
    )


def test_the_stream_must_not_take_a_database_default_server_id(preflight):
    assert_refused(
        preflight(STREAM_SERVER_ID),
        "stream-of-db2",
        f"backup_stream_server_id {mysql_default_server_id('db2')} is the mysql_server_id of db2;",
    )


# --- the backup preflight in backup.yml, which has no database preflight before it ----------------


def assert_backup_refused(run, *words):
    assert_stopped_in(run, BACKUP_NOW, "backup", *words)
    ran = tasks_run(run)
    assert "Take a full backup" not in ran and "Refresh the copies of the auth servers' configuration" not in ran, ran


def test_backup_yml_refuses_a_primary_without_a_backup_account_password(preflight):
    assert_backup_refused(
        preflight(BACKUP_ACCOUNT_PASSWORD["missing"]), "mysql_backup_password is missing, a placeholder"
    )


def test_backup_yml_refuses_a_short_backup_account_password(preflight):
    assert_backup_refused(
        preflight(BACKUP_ACCOUNT_PASSWORD["short"]), "mysql_backup_password is missing, a placeholder"
    )


def test_backup_yml_refuses_a_placeholder_backup_account_password(preflight):
    run = preflight(BACKUP_ACCOUNT_PASSWORD["placeholder"])
    assert_backup_refused(run, "mysql_backup_password is missing, a placeholder")
    assert PLACEHOLDER not in json.dumps(run.report) + run.stderr


def test_backup_yml_refuses_two_database_primaries(preflight):
    assert_backup_refused(
        preflight(TWO_PRIMARIES),
        "the group 'db_primary' (backup_db_primary_group) must hold exactly one host",
        "it holds ['db', 'db2']",
    )


def test_backup_yml_refuses_an_inventory_without_backup_hosts(preflight):
    assert_stopped_in(
        preflight(NO_BACKUP_HOSTS[BACKUP_YML]), BACKUP_CHECK, "localhost", "The inventory has no host in backup_hosts"
    )


def test_the_restore_drill_refuses_an_inventory_without_backup_hosts(preflight):
    assert_stopped_in(
        preflight(NO_BACKUP_HOSTS[DRILL_YML]),
        BACKUP_CHECK,
        "localhost",
        "The inventory has no host in backup_hosts; there is nothing to drill.",
    )


# --- the database preflight's backup accounts --------------------------------------------------------


def test_the_binlog_account_needs_a_password_when_there_are_backup_hosts(preflight):
    assert_refused(
        preflight(NO_BINLOG_PASSWORD),
        "db",
        "mysql_binlog_password is missing",
        "the inventory has backup hosts (backup_hosts)",
    )


def test_the_backup_accounts_need_no_password_without_backup_hosts(preflight):
    run = preflight(NO_BACKUP_HOSTS_NO_BACKUP_PASSWORDS)
    assert run.returncode == 0 and not run.failures and not run.changed, run.summary()


ACCOUNTS_MSG = "mysql_binlog_user and mysql_exporter_user must be plain identifiers (letters, digits, underscore)"


def test_the_backup_user_must_not_be_the_app_user(preflight):
    assert_refused(
        preflight(ACCOUNT_NAMES),
        "db",
        ACCOUNTS_MSG,
        "the users must differ",
        assertion="[mysql_app_user, mysql_replication_user, mysql_backup_user, mysql_binlog_user, mysql_exporter_user] | unique | length == 5",
    )


def test_the_binlog_user_must_not_be_the_backup_user(preflight):
    assert_refused(
        preflight(ACCOUNT_NAMES),
        "db2",
        ACCOUNTS_MSG,
        assertion="[mysql_app_user, mysql_replication_user, mysql_backup_user, mysql_binlog_user, mysql_exporter_user] | unique | length == 5",
    )


def test_the_backup_user_must_be_an_identifier(preflight):
    assert_refused(
        preflight(ACCOUNT_NAMES),
        "db3",
        ACCOUNTS_MSG,
        assertion="mysql_backup_user is match('^[A-Za-z0-9_]+$') and mysql_backup_user | length <= 32",
    )


# --- restore.yml: the request is checked before anything changes --------------------------------------


def assert_restore_refused(run, *words):
    assert_stopped_in(run, RESTORE_CHECK, "localhost", *words)
    assert run.plays == [RESTORE_CHECK], run.plays
    assert "Stop the app and its cleanup timer" not in tasks_run(run), run.summary()


def test_a_restore_must_be_confirmed(preflight):
    assert_restore_refused(
        preflight(RESTORE["unconfirmed"]),
        "A restore replaces the site's database. Run again with -e restore_confirm=yes",
    )


def test_a_restore_from_an_unknown_backup_host_is_refused(preflight):
    assert_restore_refused(
        preflight(RESTORE["unknown-backup-host"]),
        "restore_backup_host 'nosuch' is not in backup_hosts (backup)",
    )


def test_a_point_in_time_must_be_a_utc_timestamp(preflight):
    assert_restore_refused(
        preflight(RESTORE["time-in-words"]),
        "restore_point_in_time must be \"YYYY-MM-DD HH:MM:SS\" or YYYY-MM-DDTHH:MM:SS in UTC",
        "(is 'yesterday';",
    )


def test_a_snapshot_must_be_latest_or_an_id(preflight):
    assert_restore_refused(
        preflight(RESTORE["short-snapshot"]),
        "restore_snapshot 'latest' or a snapshot id (is 'abc')",
    )
