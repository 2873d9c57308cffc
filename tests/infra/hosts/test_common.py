"""What the common role promises on every host: base settings and the
firewall between the groups.

Run by molecule/common (two hosts with probe listeners on the ports the
firewall decides about) and by the site scenarios; see inventory.py. The
firewall is checked against the role's own table of who may reach what
(roles/common/vars/main.yml, _common_firewall_services): for each port a
group serves, a host of a group it is open to gets through and a host of
no such group is dropped. Connections are opened with bash's /dev/tcp from
the hosts themselves: a dropped SYN shows as a timeout, a port the firewall
lets through with nothing behind it as "refused". The controller running
these tests is in no group: it stands for the outside world.
"""

import re
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from inventory import PORTS, REPO, connect, hosts_checked, hosts_of, setting, var

ALL = hosts_checked("all")
testinfra_hosts = ALL

SERVICES = yaml.safe_load((REPO / "roles" / "common" / "vars" / "main.yml").read_text())[
    "_common_firewall_services"
]


def groups_of(name):
    return {g for g in var(name, "group_names", []) or []} | {"all"}


def members(group):
    return hosts_of("all") if group == "all" else hosts_of(group)


def resolve_port(expression, target):
    """A port of the table as the role resolves it on `target`:
    "{{ gatehouse_port | default(_shared_ports.gatehouse) }}" -> the host's
    gatehouse_port, else the table's entry."""
    moved = re.search(r"\{\{ (\w+) \| default\(_shared_ports\.(\w+)\) \}\}", expression)
    if moved:
        return int(var(target, moved.group(1), PORTS[moved.group(2)]))
    return int(PORTS[re.search(r"_shared_ports\.(\w+)", expression).group(1)])


def firewall_cases():
    """(target, port, allowed source or None, dropped source or None) for
    every port a group serves, one host of each kind, when the scenario
    has such hosts."""
    cases = []
    for svc in SERVICES:
        for target in members(svc["group"])[:1]:
            for expression in svc["ports"]:
                port = resolve_port(expression, target)
                opened_to = set()
                for other in SERVICES:
                    if other["group"] in groups_of(target) and any(
                        resolve_port(e, target) == port for e in other["ports"]
                    ):
                        if other.get("public"):
                            opened_to = set(ALL)
                            break
                        for group in other.get("from", []):
                            opened_to |= set(members(group))
                allowed = sorted(opened_to - {target})
                dropped = sorted(set(ALL) - opened_to - {target})
                cases.append((target, port, allowed[0] if allowed else None, dropped[0] if dropped else None))
    return sorted(set(cases))


CASES = firewall_cases()


def address(name):
    return connect(name).check_output("hostname -I").split()[0]


def probe(source, destination, port):
    result = connect(source).run(
        "timeout 3 bash -c 'exec 3<>/dev/tcp/%s/%s' 2>&1; echo rc=$?", address(destination), str(port)
    )
    if "rc=0" in result.stdout:
        return "open"
    if "refused" in result.stdout.lower():
        return "refused"
    return "timeout"


def probe_from_controller(ip, port):
    try:
        socket.create_connection((ip, port), timeout=2).close()
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "timeout"


@pytest.fixture(scope="module")
def probes():
    """Every connection the firewall cases need, opened in parallel (a
    dropped one waits out its timeout)."""
    wanted = {
        (source, target, port)
        for target, port, allowed, dropped in CASES
        for source in (allowed, dropped)
        if source
    }
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = dict(zip(wanted, pool.map(lambda w: probe(*w), wanted), strict=True))
    return outcomes


# --- every host -------------------------------------------------------------


def name_of(host):
    return host.backend.get_hostname()


def test_base_packages_installed(host):
    for package in ("curl", "rsync", "nftables", "chrony", "unattended-upgrades"):
        assert host.package(package).is_installed, package


def test_timezone(host):
    zone = setting(name_of(host), "common", "common_timezone")
    assert host.file("/etc/localtime").linked_to == f"/usr/share/zoneinfo/{zone}"


def test_chrony_configured_and_enabled_but_not_forced_in_a_container(host):
    name = name_of(host)
    if not setting(name, "common", "common_time_sync_enabled"):
        pytest.skip("common_time_sync_enabled is false here")
    conf = host.file("/etc/chrony/chrony.conf")
    servers = setting(name, "common", "common_time_servers")
    if servers:
        for server in servers:
            assert conf.contains(f"^server {re.escape(server)} iburst")
    else:
        assert conf.contains("^pool 2.debian.pool.ntp.org iburst")
    assert host.service("chrony").is_enabled
    # No CAP_SYS_TIME in a container: the unit's condition skips it cleanly.
    assert not host.service("chrony").is_running


def test_sysctl_file(host):
    f = host.file("/etc/sysctl.d/60-gatehouse.conf")
    assert f.mode == 0o644
    assert f.contains("^net.ipv4.tcp_syncookies = 1$")


def test_journald_limits_applied(host):
    limit = setting(name_of(host), "common", "common_journald_system_max_use")
    f = host.file("/etc/systemd/journald.conf.d/60-gatehouse.conf")
    assert f.contains(f"^SystemMaxUse={limit}$")
    assert host.service("systemd-journald").is_running


def test_unattended_security_updates(host):
    assert host.file("/etc/apt/apt.conf.d/20auto-upgrades").contains('Unattended-Upgrade "1"')
    dump = host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    assert "security" in dump
    # the distribution's non-security origin was cleared
    assert 'label=Debian";' not in dump


def test_firewall_active_and_rules_file_private(host):
    assert host.service("nftables").is_enabled
    assert host.run("systemctl show -p ActiveState --value nftables").stdout.strip() == "active"
    assert host.file("/etc/nftables.conf").mode == 0o600
    assert "policy drop" in host.check_output("nft list chain inet gatehouse input")


def test_admin_sources_reach_monitoring_only(host):
    name = name_of(host)
    sources = setting(name, "common", "common_firewall_admin_sources")
    table = host.check_output("nft list table inet gatehouse")
    for source in sources:
        assert (source in table) == ("monitoring" in groups_of(name)), source


def test_other_tables_survive(host):
    # Docker's embedded DNS keeps resolving the peers: only our table is managed.
    others = [n for n in ALL if n != name_of(host)]
    if not others:
        pytest.skip("one host: no peer to resolve")
    assert host.run("getent hosts %s", others[0]).rc == 0


# --- between the hosts ------------------------------------------------------


@pytest.mark.parametrize("target, port, allowed, dropped", CASES)
def test_a_port_is_open_to_its_peers_only(probes, target, port, allowed, dropped):
    if allowed:
        assert probes[(allowed, target, port)] != "timeout", f"{allowed} cannot reach {target}:{port}"
    if dropped:
        assert probes[(dropped, target, port)] == "timeout", f"{dropped} reaches {target}:{port}"


@pytest.mark.parametrize("name", ALL)
def test_outsiders_reach_ssh_and_the_public_ports_only(name):
    ip = address(name)
    groups = groups_of(name)
    ssh = int(setting(name, "common", "common_firewall_ssh_port"))
    if not setting(name, "common", "common_firewall_ssh_sources"):
        # nothing listens on 22 in the lab: "refused" means the firewall let it through
        assert probe_from_controller(ip, ssh) != "timeout"
    if "proxies" in groups:
        assert probe_from_controller(ip, PORTS["https"]) == "open"
        assert probe_from_controller(ip, PORTS["http"]) != "timeout"
    private = [(t, p) for t, p, _, _ in CASES if t == name and p not in (PORTS["https"], PORTS["http"])]
    for _, port in private[:2]:
        assert probe_from_controller(ip, port) == "timeout", port
