"""Bad base-host inputs (the common role) stop site.yml before any host changes.

Every rule of roles/common/tasks/preflight.yml fails the first preflight
play with a message naming the variable. A site below holds one host per
broken rule of the same task, in no group but `all` (the common role's
hosts); see preflight.py.
"""

from preflight import Site, assert_refused


def hosts(**hostvars):
    return Site(groups={}, hostvars={name.replace("_", "-"): v for name, v in hostvars.items()})


JOURNALD = hosts(
    size={"common_journald_system_max_use": "1 gigabyte"},
    interval={"common_journald_rate_limit_interval": "half a minute"},
    retention={"common_journald_max_retention": "forever"},
)
SYSCTL = hosts(sysctl={"common_sysctl": {"net.core.somaxconn": 4096, "somaxconn please": 1}})
FIREWALL = hosts(
    ssh_port={"common_firewall_ssh_port": 70000},
    ssh_source={"common_firewall_ssh_sources": ["office"]},
    admin_source={"common_firewall_admin_sources": ["10.0.0.0/8", "vpn.example.org"]},
)
# One item per rule; every item of the loop is checked and reported.
EXTRA_SERVICES = hosts(
    extra_services={
        "common_firewall_extra_services": [
            {"group": "proxies", "ports": [8080], "public": True},
            {"name": "app2", "ports": [8080], "public": True},
            {"name": "app2", "group": "proxies", "ports": [], "public": True},
            {"name": "app2", "group": "proxies", "ports": [0], "public": True},
            {"name": "app2", "group": "proxies", "ports": [8080]},
            {"name": "app2", "group": "proxies", "ports": [8080], "sources": ["lan"]},
        ]
    }
)
TIMEZONE = hosts(unknown_zone={"common_timezone": "Mars/Olympus_Mons"}, zone_directory={"common_timezone": "Europe"})
# A database host must let the auth server through its firewall, but the
# auth server's facts hold no address and no common_private_address is set.
PEER_WITHOUT_ADDRESS = Site(groups={"db_primary": ["db"], "auth_servers": ["dark"]}, unknown_facts=("dark",))


def test_a_journal_size_must_be_a_size(preflight):
    assert_refused(
        preflight(JOURNALD),
        "size",
        "common_journald_system_max_use must be a size",
        assertion="common_journald_system_max_use is match('^[0-9]+[KMGT]?$')",
    )


def test_a_journal_rate_limit_interval_must_be_a_time_span(preflight):
    assert_refused(
        preflight(JOURNALD),
        "interval",
        "common_journald_rate_limit_interval a time span",
        assertion="common_journald_rate_limit_interval is match('^[0-9]+(us|ms|s|min|h)?$')",
    )


def test_a_journal_retention_must_be_a_time_span(preflight):
    assert_refused(
        preflight(JOURNALD),
        "retention",
        "common_journald_max_retention one like 1month",
        assertion="common_journald_max_retention is match('^[0-9]+(s|min|h|day|week|month|year)?$')",
    )


def test_a_sysctl_key_must_be_a_kernel_parameter_name(preflight):
    assert_refused(preflight(SYSCTL), "sysctl", "common_sysctl: 'somaxconn please' is not a kernel parameter name")


def test_the_ssh_port_must_be_a_port(preflight):
    assert_refused(
        preflight(FIREWALL),
        "ssh-port",
        "common_firewall_ssh_port must be a port (1-65535)",
        assertion="common_firewall_ssh_port | int >= 1 and common_firewall_ssh_port | int <= 65535",
    )


def test_ssh_sources_must_be_addresses_or_cidrs(preflight):
    assert_refused(preflight(FIREWALL), "ssh-source", "common_firewall_ssh_sources", "offending: ['office']")


def test_admin_sources_must_be_addresses_or_cidrs(preflight):
    assert_refused(
        preflight(FIREWALL), "admin-source", "common_firewall_admin_sources", "offending: ['vpn.example.org']"
    )


def test_an_extra_firewall_service_needs_a_name(preflight):
    assert_refused(
        preflight(EXTRA_SERVICES),
        "extra-services",
        "common_firewall_extra_services[0] needs name",
        assertion="item.name is defined and item.name is string",
    )


def test_an_extra_firewall_service_needs_a_group(preflight):
    assert_refused(
        preflight(EXTRA_SERVICES),
        "extra-services",
        "common_firewall_extra_services[1] needs name, group",
        assertion="item.group is defined and item.group is string",
    )


def test_an_extra_firewall_service_needs_ports(preflight):
    assert_refused(
        preflight(EXTRA_SERVICES),
        "extra-services",
        "common_firewall_extra_services[2]",
        "ports (1-65535)",
        assertion="item.ports is defined and item.ports is sequence and item.ports | length > 0",
    )


def test_an_extra_firewall_service_port_must_be_a_port(preflight):
    assert_refused(
        preflight(EXTRA_SERVICES),
        "extra-services",
        "common_firewall_extra_services[3]",
        "ports (1-65535)",
        assertion="item.ports | map('int') | select('ge', 1) | select('le', 65535) | list | length == item.ports | length",
    )


def test_an_extra_firewall_service_must_say_who_may_reach_it(preflight):
    assert_refused(
        preflight(EXTRA_SERVICES),
        "extra-services",
        "common_firewall_extra_services[4]",
        "one of public: true, from: [groups] or sources: [CIDRs]",
        assertion="(item.public | default(false)) or (item.from | default([]) | length > 0)"
        " or (item.sources | default([]) | length > 0)",
    )


def test_an_extra_firewall_service_source_must_be_an_address_or_cidr(preflight):
    assert_refused(
        preflight(EXTRA_SERVICES),
        "extra-services",
        "common_firewall_extra_services[5]",
        "sources: [CIDRs]",
        assertion="item.sources | default([]) | reject('match', _common_cidr_pattern) | list | length == 0",
    )


def test_an_unknown_time_zone_is_refused(preflight):
    assert_refused(preflight(TIMEZONE), "unknown-zone", "common_timezone: 'Mars/Olympus_Mons' is not a time zone")


def test_a_time_zone_directory_is_not_a_time_zone(preflight):
    assert_refused(preflight(TIMEZONE), "zone-directory", "common_timezone: 'Europe' is not a time zone")


def test_a_firewall_peer_without_a_known_address_is_refused(preflight):
    assert_refused(
        preflight(PEER_WITHOUT_ADDRESS),
        "db",
        "db needs the address of dark (its firewall lets that host in)",
        "set common_private_address for dark",
    )
