"""site.yml's preflight as a whole: a good inventory passes every play of
it, and an inventory whose vault cannot be opened stops ansible before any
host is touched. See preflight.py for how the sites are run.
"""

from preflight import GROUPS, single_node

# A primary and a replica, each host with its own server_id.
GOOD = single_node()
GOOD.groups["db_replicas"] = ["replica"]
GOOD.groups["auth_servers"].append("replica")
GOOD.hostvars = {"standin": {"mysql_server_id": 1}, "replica": {"mysql_server_id": 2}}

# The secrets are in group_vars/all/vault.yml, encrypted; the run has no
# vault password (no --vault-password-file, no ANSIBLE_VAULT_PASSWORD_FILE).
VAULT_WITHOUT_PASSWORD = single_node()
VAULT_WITHOUT_PASSWORD.vault = {"redis_password": "preflight-redis-password-from-the-vault"}

PREFLIGHT_PLAYS = {
    "Preflight | common settings of every host": "all",
    "Preflight | database": "mysql",
    "Preflight | cache": "redis",
    "Preflight | auth servers": "auth_servers",
    "Preflight | proxies": "proxies",
    "Preflight | backup hosts": "backup_hosts",
    "Preflight | exporters and log shipping (every host)": "all",
    "Preflight | monitoring": "monitoring",
}


def test_a_good_inventory_passes_every_preflight(preflight):
    run = preflight(GOOD)
    assert run.returncode == 0, run.summary()
    assert not run.failures, run.summary()
    assert not run.changed, run.summary()
    ran = [p for p in run.report["plays"] if p["play"]["name"].startswith("Preflight |")]
    assert [p["play"]["name"] for p in ran] == list(PREFLIGHT_PLAYS), run.plays
    members = {g: set(GOOD.groups.get(g, [])) for g in GROUPS}
    members["all"] = set(GOOD.hosts)
    members["mysql"] = members["db_primary"] | members["db_replicas"]
    for play in ran:
        checked = {host for task in play["tasks"] for host in task["hosts"]}
        assert checked == members[PREFLIGHT_PLAYS[play["play"]["name"]]], play["play"]["name"]


def test_a_missing_vault_password_stops_before_any_host_is_touched(preflight):
    run = preflight(VAULT_WITHOUT_PASSWORD)
    assert run.returncode != 0, run.summary()
    assert "vault" in run.stderr.lower() and "no vault secrets" in run.stderr, run.summary()
    assert run.plays == [] and not run.failures and not run.changed, run.summary()
