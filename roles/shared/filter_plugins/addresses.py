"""The host-address rule of the Gatehouse roles, as one Jinja filter.

A host's address - the one its services bind and its peers connect to, the
one firewall rules and grants name - is its ``common_private_address`` when
the inventory sets one, else the IPv4 address of its default route, from
its facts. A role may put a variable of its own first (the mysql role's
``mysql_bind_address``, the redis role's ``redis_bind_address``).

    {{ host | host_address(hostvars) }}
    {{ host | host_address(hostvars, prefer=['mysql_bind_address']) }}
    {{ groups['proxies'] | map('host_address', hostvars) | list }}
    {{ inventory_hostname | host_address(hostvars, default='127.0.0.1') }}

``hostvars`` holds what the inventory, facts and set_fact give a host, not
role defaults or play vars: a role asking for its own host's address puts
its own variable first (``redis_bind_address or (inventory_hostname |
host_address(hostvars))``).
"""

from __future__ import annotations

RULE = ("common_private_address",)


def host_address(host, hostvars, prefer=(), default=""):
    """The address of inventory host ``host``; ``default`` when none is known.

    ``prefer`` names variables of that host (a name or a list) that, when set
    and not empty, win over the rule, in the order given.
    """
    if isinstance(prefer, str):
        prefer = [prefer]
    values = hostvars[host]
    for name in [*prefer, *RULE]:
        value = values.get(name)
        if value:
            return str(value)
    facts = values.get("ansible_facts") or {}
    address = (facts.get("default_ipv4") or {}).get("address")
    return str(address) if address else default


class FilterModule:
    """Loaded with the shared role, which every role depends on."""

    def filters(self):
        return {"host_address": host_address}
