"""The common role's firewall between the cluster's hosts.

Only a scenario with one host per group can show that each group's ports
open to the peers that need them and to nobody else (roles/common/README.md,
the firewall matrix): here a peer that needs a port reaches it, a host of
another group does not. Connections are opened with bash's /dev/tcp from
the hosts themselves; a dropped SYN shows as a timeout.
"""

import os

import pytest
import testinfra
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
ALL = RUNNER.get_hosts("all")


# The app's port: the scenario moves it (gatehouse_port), the firewall must follow.
APP_PORT = int(RUNNER.get_variables(RUNNER.get_hosts("auth_servers")[0]).get("gatehouse_port", 3001))


def group(name):
    hosts = RUNNER.get_hosts(name)
    assert hosts, f"no host in {name}"
    return hosts[0]


def connect(name):
    return testinfra.get_host(f"docker://{name}")


def address(name):
    return connect(name).check_output("hostname -I").split()[0]


def reaches(source, destination, port):
    result = connect(source).run("timeout 3 bash -c 'exec 3<>/dev/tcp/%s/%s'", address(destination), str(port))
    return result.rc == 0


@pytest.mark.parametrize("name", ALL)
def test_every_host_has_the_firewall(name):
    host = connect(name)
    assert host.service("nftables.service").is_enabled
    rules = host.check_output("nft list table inet gatehouse")
    assert "policy drop" in rules


# (port's group, port, a group that needs it, a group that must not reach it)
MATRIX = [
    ("proxies", 443, "monitoring", None),
    ("auth_servers", APP_PORT, "proxies", "redis"),
    ("auth_servers", APP_PORT, "monitoring", "db_primary"),
    ("db_primary", 3306, "auth_servers", "proxies"),
    ("db_primary", 3306, "db_replicas", "redis"),
    ("db_replicas", 3306, "auth_servers", "proxies"),
    ("redis", 6379, "auth_servers", "proxies"),
    ("redis", 6379, "auth_servers", "db_primary"),
]


@pytest.mark.parametrize("target, port, allowed, refused", MATRIX)
def test_a_port_is_open_to_its_peers_only(target, port, allowed, refused):
    destination = group(target)
    assert reaches(group(allowed), destination, port), f"{allowed} cannot reach {target}:{port}"
    if refused:
        assert not reaches(group(refused), destination, port), f"{refused} reaches {target}:{port}"
