"""The common role on two hosts: base system settings and the firewall.

"db" (mysql via db_primary, redis) and "app" (auth_servers, proxies).
The controller running these tests is in no group: it stands for the
outside world.
"""

import socket

import pytest
import testinfra

DB = "molecule-common-db"
APP = "molecule-common-app"


@pytest.fixture(scope="module")
def hosts(request):
    inventory = request.config.option.ansible_inventory
    return {
        name: testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory)
        for name in (DB, APP)
    }


def address(h):
    return h.run("hostname -I").stdout.split()[0]


PROBE = (
    "import socket,sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close(); print('open')\n"
    "except ConnectionRefusedError: print('refused')\n"
    "except OSError: print('timeout')\n"
)


def probe_from(h, ip, port):
    return h.check_output("python3 -c %s %s %s", PROBE, ip, str(port))


def probe_from_controller(ip, port):
    try:
        socket.create_connection((ip, port), timeout=2).close()
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "timeout"


def test_base_packages_installed(host):
    for name in ("curl", "rsync", "nftables", "chrony", "unattended-upgrades"):
        assert host.package(name).is_installed, name


def test_timezone(host):
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Europe/Paris"


def test_chrony_configured_and_enabled_but_not_forced_in_a_container(host):
    conf = host.file("/etc/chrony/chrony.conf")
    assert conf.contains("^pool 2.debian.pool.ntp.org iburst")
    assert host.service("chrony").is_enabled
    # No CAP_SYS_TIME in a container: the unit's condition skips it cleanly.
    assert not host.service("chrony").is_running


def test_sysctl_file(host):
    f = host.file("/etc/sysctl.d/60-gatehouse.conf")
    assert f.mode == 0o644
    assert f.contains("^net.ipv4.tcp_syncookies = 1$")


def test_journald_limits_applied(host):
    f = host.file("/etc/systemd/journald.conf.d/60-gatehouse.conf")
    assert f.contains("^SystemMaxUse=1G$")
    assert host.service("systemd-journald").is_running


def test_unattended_security_updates(host):
    assert host.file("/etc/apt/apt.conf.d/20auto-upgrades").contains('Unattended-Upgrade "1"')
    dump = host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    assert "security" in dump
    # the distribution's non-security origin was cleared
    assert 'label=Debian";' not in dump


def test_firewall_active_and_rules_file_private(host):
    assert host.service("nftables").is_enabled
    assert host.service("nftables").is_running or host.run(
        "systemctl show -p ActiveState --value nftables"
    ).stdout.strip() == "active"
    assert host.file("/etc/nftables.conf").mode == 0o600
    ruleset = host.check_output("nft list chain inet gatehouse input")
    assert "policy drop" in ruleset


def test_admin_sources_reach_monitoring_only(host):
    # neither host is in monitoring: the admin CIDR appears nowhere
    assert "192.0.2.0/24" not in host.check_output("nft list table inet gatehouse")


def test_app_reaches_the_database_ports_meant_for_it(hosts):
    db_ip = address(hosts[DB])
    assert probe_from(hosts[APP], db_ip, 3306) == "open"
    assert probe_from(hosts[APP], db_ip, 6379) == "open"


def test_app_cannot_reach_exporter_ports_meant_for_monitoring(hosts):
    db_ip = address(hosts[DB])
    assert probe_from(hosts[APP], db_ip, 9104) == "timeout"
    assert probe_from(hosts[APP], db_ip, 9100) == "timeout"


def test_db_cannot_reach_the_app_port(hosts):
    # only proxies and monitoring may talk to the app
    assert probe_from(hosts[DB], address(hosts[APP]), 3001) == "timeout"


def test_outsiders_are_dropped_but_ssh_and_https_stay_open(hosts):
    db_ip, app_ip = address(hosts[DB]), address(hosts[APP])
    assert probe_from_controller(db_ip, 3306) == "timeout"
    assert probe_from_controller(app_ip, 3001) == "timeout"
    # nothing listens on 22 in the lab: "refused" means the firewall let it through
    assert probe_from_controller(db_ip, 22) == "refused"
    assert probe_from_controller(app_ip, 443) == "open"
    assert probe_from_controller(app_ip, 80) == "refused"


def test_other_tables_survive(host):
    # Docker's embedded DNS keeps resolving the peers: only our table is managed
    assert host.run("getent hosts %s", DB if host.backend.host != DB else APP).rc == 0
