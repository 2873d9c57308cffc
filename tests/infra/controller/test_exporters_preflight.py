"""Bad exporter inputs stop site.yml before any host changes.

Every rule of roles/exporters/tasks/preflight.yml fails the preflight play
"exporters and log shipping (every host)" with a message naming the
variable, and a good inventory passes it on every host. Each rule is its own
task, so each case is a site of its own (a failing task ends the play for
every host: any_errors_fatal); see preflight.py.
"""

from preflight import STANDIN, Site, assert_refused, single_node

EXPORTERS_PLAY = "Preflight | exporters and log shipping (every host)"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"

# One host in every group, the blackbox CA a PEM file in the inventory.
GOOD = single_node(exporters_blackbox_ca_file="{{ inventory_dir }}/blackbox-ca.pem")
GOOD.files = {"blackbox-ca.pem": CERTIFICATE}

CA_MISSING = Site(
    groups={"monitoring": ["ca-missing"]},
    hostvars={"ca-missing": {"exporters_blackbox_ca_file": "{{ inventory_dir }}/no-such-ca.pem"}},
)
CA_NOT_PEM = Site(
    groups={"monitoring": ["ca-not-pem"]},
    hostvars={"ca-not-pem": {"exporters_blackbox_ca_file": "{{ inventory_dir }}/ca.txt"}},
    files={"ca.txt": "not a certificate\n"},
)
LISTEN_ADDRESS = Site(
    groups={},
    hostvars={
        "by-name": {"exporters_listen_address": "metrics.example.org"},
        "everywhere": {"exporters_listen_address": "0.0.0.0"},
    },
)
# The mysql role creates the account only when the password is set, so its
# own preflight lets an empty one pass; the exporter needs it.
NO_EXPORTER_PASSWORD = Site(
    groups={"db_primary": ["no-password"]},
    hostvars={"no-password": {"mysql_exporter_password": ""}},
)
# A replica logs in with the account replication brought from the primary.
REPLICA_OF_PRIMARY_WITHOUT_PASSWORD = Site(
    groups={"db_primary": ["primary"], "db_replicas": ["replica"]},
    hostvars={
        "primary": {"mysql_server_id": 1, "mysql_exporter_password": "", "exporters_mysqld_enabled": False},
        "replica": {"mysql_server_id": 2},
    },
)
# Without the mysqld exporter the password is not needed.
MYSQLD_EXPORTER_OFF = Site(
    groups={"db_primary": [STANDIN]},
    vars={"mysql_exporter_password": "", "exporters_mysqld_enabled": False},
)
BAD_EXPORTER_PASSWORD = Site(
    groups={"db_primary": ["placeholder"]},
    hostvars={"placeholder": {"mysql_exporter_password": "CHANGE-ME-exporter-password"}},
)


def exporter_failures(run):
    return [f for f in run.failures if f.play == EXPORTERS_PLAY and "exporters" in f.task]


def test_a_good_inventory_passes_the_exporter_checks(preflight):
    run = preflight(GOOD)
    # Roles of other plays may fail in this run; none of the exporters' checks may.
    assert not exporter_failures(run), run.summary()
    assert not run.changed, run.summary()
    plays = [p for p in run.report["plays"] if p["play"]["name"] == EXPORTERS_PLAY]
    assert plays, run.summary()
    checked = {
        host for task in plays[0]["tasks"] if task["task"]["name"].startswith("exporters :") for host in task["hosts"]
    }
    assert checked == {STANDIN}, run.summary()
    names = {task["task"]["name"] for task in plays[0]["tasks"]}
    assert "exporters : Check the blackbox exporter's CA file" in names


def test_without_the_mysqld_exporter_no_exporter_password_is_needed(preflight):
    run = preflight(MYSQLD_EXPORTER_OFF)
    assert not exporter_failures(run), run.summary()


def test_a_missing_ca_file_is_refused(preflight):
    assert_refused(
        preflight(CA_MISSING),
        "ca-missing",
        "exporters_blackbox_ca_file:",
        "no-such-ca.pem",
        "must be a PEM certificate file on the controller",
        assertion="exporters_blackbox_ca_file is file",
    )


def test_a_ca_file_that_is_no_certificate_is_refused(preflight):
    assert_refused(
        preflight(CA_NOT_PEM),
        "ca-not-pem",
        "exporters_blackbox_ca_file:",
        "must be a PEM certificate file",
        assertion="lookup('ansible.builtin.file', exporters_blackbox_ca_file) is search('-----BEGIN CERTIFICATE-----')",
    )


def test_a_listen_address_that_is_a_name_is_refused(preflight):
    assert_refused(
        preflight(LISTEN_ADDRESS),
        "by-name",
        "exporters_listen_address of by-name: 'metrics.example.org' is not an IP address",
    )


def test_listening_on_every_address_is_refused(preflight):
    assert_refused(
        preflight(LISTEN_ADDRESS),
        "everywhere",
        "exporters_listen_address of everywhere: '0.0.0.0'",
        "never on all of them",
        assertion="_exporters_listen not in ['0.0.0.0', '::']",
    )


def test_a_missing_exporter_password_is_refused(preflight):
    assert_refused(
        preflight(NO_EXPORTER_PASSWORD),
        "no-password",
        "mysql_exporter_password must be set",
        "exporters_mysqld_enabled",
        assertion="_exporters_mysql_password | length >= 16",
    )


def test_a_replica_needs_the_primarys_exporter_password(preflight):
    assert_refused(
        preflight(REPLICA_OF_PRIMARY_WITHOUT_PASSWORD),
        "replica",
        "mysql_exporter_password of primary must be set",
    )


def test_a_placeholder_exporter_password_is_refused_by_the_mysql_role(preflight):
    assert_refused(
        preflight(BAD_EXPORTER_PASSWORD),
        "placeholder",
        "mysql_exporter_password is a placeholder",
        assertion="not mysql_exporter_password.startswith(_mysql_secret_placeholder)",
    )
