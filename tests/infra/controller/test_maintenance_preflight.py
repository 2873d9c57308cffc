"""playbooks/maintenance.yml refuses a bad request before anything runs; the roles refuse bad maintenance settings.

The request (`-e maintenance_*`) is checked in the playbook's first play,
"Preflight | maintenance request", on the controller: an unknown step, a
webhook that is not an http(s) URL (never shown: such a URL is a secret),
a number that is not one, a relative disk path. Nothing else runs and no
host changes. Then two whole runs in check mode on a stand-in host (this
machine; see preflight.py): a disk floor no mount meets stops the run at
the disk step, skips the steps after it and ends with the end message
naming the failure; a floor of 0 passes. The webhook itself is exercised
by the cluster drill (molecule/cluster/drills/maintenance.yml), as check
mode posts nothing.

The roles' new settings are refused by site.yml's preflight: the tables
mysql_optimize_tables names, the maintenance timers' schedules (systemd
judges them), the log retention of the gatehouse role.
"""

import json

from preflight import REPO, STANDIN, Site, assert_refused

MAINTENANCE_YML = REPO / "playbooks" / "maintenance.yml"
REQUEST = "Preflight | maintenance request"
END = "Maintenance | end of the window"
SECRET_HOOK = "ftp://chat.invalid/services/T0000/B0000/not-shown-secret"


def maintenance(*extra_vars, groups=None):
    """playbooks/maintenance.yml in check mode, with `-e` extra vars, on a single-node stand-in site."""
    groups = groups or {g: [STANDIN] for g in ("auth_servers", "db_primary", "proxies", "backup_hosts")}
    return Site(
        groups=groups,
        playbook=MAINTENANCE_YML,
        options=tuple(option for var in extra_vars for option in ("-e", var)),
    )


REQUESTS = {
    "unknown-step": maintenance("maintenance_steps=cleanup,vacuum,analyze,reindex"),
    "no-step": maintenance("maintenance_steps=,,"),
    "webhook-scheme": maintenance(f"maintenance_window_webhook={SECRET_HOOK}"),
    "webhook-no-scheme": maintenance("maintenance_window_webhook=chat.invalid/services/not-shown-either"),
    "free-in-words": maintenance("maintenance_min_free_percent=plenty"),
    "free-over-100": maintenance("maintenance_min_free_percent=150"),
    "days-negative": maintenance("maintenance_cert_warn_days=-1"),
    "relative-path": maintenance("maintenance_disk_paths=/,var/lib/mysql"),
    "two-primaries": maintenance(
        "maintenance_steps=analyze", groups={"db_primary": ["db1", "db2"], "auth_servers": ["db1"]}
    ),
}
# Whole runs, in check mode: the disk step reads this machine's mounts.
FULL_DISK = maintenance("maintenance_steps=cleanup,disk,analyze", "maintenance_min_free_percent=100")
DISK_OK = maintenance("maintenance_steps=disk", "maintenance_min_free_percent=0")


def assert_request_refused(run, *words, assertion=None):
    """The first play refused the request, with a message holding `words`; nothing ran after it."""
    assert_refused(run, "localhost", *words, assertion=assertion)
    assert run.plays == [REQUEST], run.plays


def end_message(run):
    """The end message the run would have posted (check mode shows it instead)."""
    (play,) = [p for p in run.report["plays"] if p["play"]["name"] == END]
    (task,) = [t for t in play["tasks"] if t["task"]["name"] == "Say how the maintenance went"]
    return task["hosts"]["localhost"]["msg"]


# --- the request ---------------------------------------------------------------------------------


def test_an_unknown_step_is_refused_and_named(preflight):
    assert_request_refused(
        preflight(REQUESTS["unknown-step"]),
        "maintenance_steps names unknown steps: vacuum, reindex.",
        "The steps are disk, certificates, cleanup, logs, analyze, backup, optimize, audit, or all",
        "Nothing was done.",
    )


def test_an_empty_list_of_steps_is_refused(preflight):
    assert_request_refused(
        preflight(REQUESTS["no-step"]),
        "maintenance_steps names unknown steps: (none given)",
        assertion="__maintenance_asked | length > 0",
    )


def test_the_webhook_must_be_an_http_url(preflight):
    assert_request_refused(
        preflight(REQUESTS["webhook-scheme"]),
        "maintenance_window_webhook must be an http:// or https:// URL",
        f"{len(SECRET_HOOK)} characters long",
    )


def test_the_webhook_needs_its_scheme(preflight):
    assert_request_refused(
        preflight(REQUESTS["webhook-no-scheme"]), "maintenance_window_webhook must be an http:// or https:// URL"
    )


def test_a_refused_webhook_is_not_shown(preflight):
    for name in ("webhook-scheme", "webhook-no-scheme"):
        run = preflight(REQUESTS[name])
        shown = json.dumps(run.report) + run.stderr
        for secret in ("not-shown-secret", "not-shown-either", "chat.invalid"):
            assert secret not in shown, f"{name}: {secret!r} is in the output"


def test_the_free_space_floor_must_be_a_number(preflight):
    assert_request_refused(
        preflight(REQUESTS["free-in-words"]),
        "maintenance_min_free_percent must be a number from 0 to 100 (is 'plenty')",
        assertion="__maintenance_min_free | string is match('^[0-9]+(\\.[0-9]+)?$')",
    )


def test_the_free_space_floor_is_a_percentage(preflight):
    assert_request_refused(
        preflight(REQUESTS["free-over-100"]),
        "maintenance_min_free_percent must be a number from 0 to 100 (is '150')",
        assertion="__maintenance_min_free | float <= 100",
    )


def test_the_certificate_horizon_must_be_days(preflight):
    assert_request_refused(
        preflight(REQUESTS["days-negative"]),
        "maintenance_cert_warn_days a whole number of days from 0 to 3650 (is '-1')",
        assertion="__maintenance_warn_days | string is match('^[0-9]+$')",
    )


def test_the_disk_paths_must_be_absolute(preflight):
    assert_request_refused(
        preflight(REQUESTS["relative-path"]),
        'maintenance_disk_paths absolute paths, comma-separated or a list (are ["/", "var/lib/mysql"])',
    )


def test_database_steps_need_one_primary(preflight):
    assert_request_refused(
        preflight(REQUESTS["two-primaries"]),
        "db_primary group must hold exactly one host (holds ['db1', 'db2'])",
    )


# --- whole runs, in check mode -----------------------------------------------------------------------


def test_a_disk_below_the_floor_stops_the_run_and_the_end_message_says_so(preflight):
    run = preflight(FULL_DISK)
    assert run.returncode != 0, run.summary()
    assert run.plays[0] == REQUEST and run.plays[-1] == END, run.plays
    (failure,) = [f for f in run.failures if f.play == END]
    assert failure.host == "localhost"
    message = end_message(run)
    for words in (
        "FAILED at disk. disk: standin / has",
        "below maintenance_min_free_percent (100%)",
        "Not run: cleanup, analyze.",
    ):
        assert words in message, f"{words!r} not in {message!r}"
    assert "FAILED at disk. disk: standin / has" in failure.msg, failure.msg
    # The disk check is rescued and noted; no step after it ran (their plays end at once).
    ran = [
        t["task"]["name"]
        for p in run.report["plays"]
        for t in p["tasks"]
        if any(not r.get("skipped") for r in t["hosts"].values())
    ]
    assert "Delete what has expired (gatehouse cleanup)" not in ran, ran
    assert "ANALYZE TABLE of every table of the app database" not in ran, ran
    assert not run.changed, run.changed


def test_a_disk_above_the_floor_passes(preflight):
    run = preflight(DISK_OK)
    assert run.returncode == 0, run.summary()
    assert run.plays[-1] == END, run.plays
    message = end_message(run)
    assert ": ok. Done: disk." in message, message
    assert "standin / has" not in message
    assert not run.changed, run.changed


# --- the roles' settings, in site.yml's preflight ------------------------------------------------------

OPTIMIZE_TABLES = Site(
    groups={"db_primary": ["spaced-table"]},
    hostvars={"spaced-table": {"mysql_optimize_tables": ["sessions", "audit logs", "grants;drop"]}},
)
SCHEDULES = Site(
    groups={"db_primary": ["empty-schedule"], "db_replicas": ["two-commands"]},
    hostvars={
        "empty-schedule": {"mysql_analyze_on_calendar": ""},
        "two-commands": {"mysql_optimize_on_calendar": "monthly; reboot"},
    },
)
SYSTEMD_SCHEDULE = Site(
    groups={"db_primary": ["every-tuesday"]}, hostvars={"every-tuesday": {"mysql_analyze_on_calendar": "every tuesday"}}
)
LOG_RETENTION = Site(
    groups={"auth_servers": ["size-in-words", "no-days"], "db_primary": ["size-in-words"]},
    hostvars={"size-in-words": {"gatehouse_log_rotate_size": "50MB"}, "no-days": {"gatehouse_log_retention_days": 0}},
)


def test_optimize_tables_must_be_plain_identifiers(preflight):
    assert_refused(
        preflight(OPTIMIZE_TABLES),
        "spaced-table",
        "mysql_optimize_tables must list table names of gatehouse, plain identifiers",
        'not ["audit logs", "grants;drop"]',
    )


def test_a_maintenance_schedule_must_not_be_empty(preflight):
    assert_refused(
        preflight(SCHEDULES),
        "empty-schedule",
        "mysql_analyze_on_calendar must be a systemd OnCalendar expression, not ''",
        assertion="item.value | string | length > 0",
    )


def test_a_maintenance_schedule_must_be_one_expression(preflight):
    assert_refused(
        preflight(SCHEDULES),
        "two-commands",
        "mysql_optimize_on_calendar must be a systemd OnCalendar expression, not 'monthly; reboot'",
    )


def test_systemd_judges_the_maintenance_schedules(preflight):
    assert_refused(
        preflight(SYSTEMD_SCHEDULE),
        "every-tuesday",
        "systemd does not accept the OnCalendar expressions of mysql_analyze_on_calendar",
    )


def test_the_log_rotation_size_is_one_logrotate_reads(preflight):
    assert_refused(
        preflight(LOG_RETENTION),
        "size-in-words",
        "gatehouse_log_rotate_size must be a size logrotate reads",
        "(is '50MB')",
        assertion="gatehouse_log_rotate_size | string is match('^[1-9][0-9]*[kMG]?$')",
    )


def test_logs_are_kept_at_least_a_day(preflight):
    assert_refused(
        preflight(LOG_RETENTION),
        "no-days",
        "gatehouse_log_retention_days a number of days from 1 to 3650",
        "(is 0)",
        assertion="gatehouse_log_retention_days | int >= 1 and gatehouse_log_retention_days | int <= 3650",
    )
