"""The inventory of whatever scenario runs the hosts' checks.

Every file in tests/infra/hosts/ is one role's promises, checked on the hosts
of that role's group in any molecule scenario: the role's own scenario
(molecule/<role>/) and the site scenarios (appliance: every role on one
host; cluster: the lab's topology). So no check names a host or assumes a
value: hosts come from groups, expectations from the hosts' variables.
"""

import os
import re
import subprocess
from pathlib import Path

import testinfra
import testinfra.utils.ansible_runner
import yaml

REPO = Path(__file__).resolve().parents[3]
# The whole inventory directory: molecule writes the platforms to
# ansible_inventory.yml and a scenario's own groups (provisioner.inventory.hosts)
# to a second source beside it, `hosts`.
INVENTORY = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)


def hosts_of(group):
    """The inventory names of a group's hosts ([] when the scenario has none)."""
    return RUNNER.get_hosts(group)


def hosts_checked(group):
    """The hosts a check file is about: its role's group, which every scenario
    that runs the file must fill. An empty one fails the collection rather
    than skipping every check, so a scenario cannot pass by checking nothing."""
    hosts = hosts_of(group)
    if not hosts:
        raise LookupError(f"no host in group {group!r} of {INVENTORY}: the checks of this file would not run")
    return hosts


def connect(name):
    """A lab container is reached with `docker exec` (much faster than an
    Ansible run per command); any other host through Ansible."""
    hostvars = RUNNER.get_variables(name)
    if hostvars.get("ansible_connection") in ("community.docker.docker", "docker"):
        return testinfra.get_host(f"docker://{hostvars.get('ansible_host', name)}")
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


_UNSET = object()


def var(name, variable, default=_UNSET):
    """An inventory variable of host `name` (templated ones through Ansible),
    else `default`."""
    value = RUNNER.get_variables(name).get(variable, _UNSET)
    if value is _UNSET:
        if default is _UNSET:
            raise KeyError(f"{variable} is not set for {name} in {INVENTORY}")
        return default
    if isinstance(value, str) and "{{" in value:
        ansible_host = testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")
        return ansible_host.ansible("ansible.builtin.debug", f"msg={{{{ {variable} }}}}")["msg"]
    return value


PORTS = yaml.safe_load((REPO / "roles" / "shared" / "vars" / "main.yml").read_text())["_shared_ports"]


def setting(name, role, variable):
    """The value `role` uses on host `name`: the inventory's, else the
    role's default (roles/<role>/defaults/main.yml; a default that points
    into the port table, roles/shared/vars/main.yml, is looked up there)."""
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
    default = defaults[variable]
    port = re.fullmatch(r"\{\{ _shared_ports\.(\w+) \}\}", str(default))
    if port:
        default = PORTS[port.group(1)]
    return var(name, variable, default)


def run_tier(playbook, limit, *extra):
    """Run one of playbooks/<tier>.yml against the scenario's hosts, as an
    operator would re-run a tier. Returns the CompletedProcess."""
    return subprocess.run(
        [
            "ansible-playbook",
            "-i", INVENTORY,
            "--limit", limit,
            *extra,
            str(REPO / "playbooks" / playbook),
        ],
        capture_output=True,
        text=True,
    )


def scenario():
    """The molecule scenario running the checks (a role's own, appliance, cluster)."""
    return os.environ.get("MOLECULE_SCENARIO_NAME", "")
