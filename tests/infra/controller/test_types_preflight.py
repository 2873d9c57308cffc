"""A value of the wrong type, or outside its choices, stops site.yml before any host changes.

Each role's preflight first checks its variables against the role's
meta/argument_specs.yml (validate_argument_spec), which reports every
offending variable at once: one host per role carries all of that role's
cases below, in the group whose preflight play checks them. See
preflight.py for how the sites are run.
"""

import pytest
from preflight import Site, assert_refused

HOST = "wrong-types"
# The groups a role's preflight checks the host in.
GROUPS = {
    "common": [],
    "mysql": ["db_primary"],
    "redis": ["redis"],
    "gatehouse": ["auth_servers", "db_primary"],
    "nginx": ["proxies"],
}
# (role, variable, a value of another type, the type its argument specs name)
WRONG_TYPES = [
    ("common", "common_firewall_enabled", "sometimes", "bool"),
    ("common", "common_firewall_ssh_port", "ssh", "int"),
    ("common", "common_time_servers", {"ntp": "pool.example.org"}, "list"),
    ("mysql", "mysql_server_id", "seven", "int"),
    ("mysql", "mysql_skip_name_resolve", "perhaps", "bool"),
    ("mysql", "mysql_app_privileges", {"SELECT": True}, "list"),
    ("redis", "redis_port", "six", "int"),
    ("redis", "redis_appendonly", "sometimes", "bool"),
    ("gatehouse", "gatehouse_workers", "many", "int"),
    ("nginx", "nginx_status_port", "stub", "int"),
    ("nginx", "nginx_hsts_include_subdomains", "perhaps", "bool"),
    ("nginx", "nginx_real_ip_from", {"10.0.0.0/8": True}, "list"),
]
# (role, variable, a value its argument specs do not list among the choices)
OUTSIDE_CHOICES = [
    ("common", "common_journald_storage", "disk"),
    ("mysql", "mysql_innodb_flush_log_at_trx_commit", 3),
    ("redis", "redis_maxmemory_policy", "evict-everything"),
    ("gatehouse", "gatehouse_jwt_algorithm", "HS256"),
]


def _site(role):
    values = {case[1]: case[2] for case in WRONG_TYPES + OUTSIDE_CHOICES if case[0] == role}
    return Site(groups={group: [HOST] for group in GROUPS[role]}, hostvars={HOST: values})


SITES = {role: _site(role) for role in GROUPS}


@pytest.mark.parametrize("role, variable, value, wanted", WRONG_TYPES, ids=[case[1] for case in WRONG_TYPES])
def test_a_value_of_the_wrong_type_is_refused(preflight, role, variable, value, wanted):
    given = type(value).__name__
    assert_refused(
        preflight(SITES[role]), HOST, f"argument '{variable}' is of type {given}", f"unable to convert to {wanted}"
    )


@pytest.mark.parametrize("role, variable, value", OUTSIDE_CHOICES, ids=[case[1] for case in OUTSIDE_CHOICES])
def test_a_value_outside_the_choices_is_refused(preflight, role, variable, value):
    assert_refused(preflight(SITES[role]), HOST, f"value of {variable} must be one of", f"got: {value}")
