"""One port table: a port the inventory moves moves everywhere it is named.

Every port's default is in the port table (roles/shared/vars/main.yml);
the roles' port variables (gatehouse_port, mysql_port, redis_port) are the
public way to move one. A site that sets `gatehouse_port: 3101` for its auth
server alone must get the app on 3101, nginx's upstream on 3101 and the
auth server's firewall open on 3101 - not the app on 3101 behind a proxy
and a firewall still on 3001. The same holds for the database and Redis:
the app's DATABASE_URL and REDIS_URL and those hosts' firewalls follow
mysql_port and redis_port.

Checked on what the roles would write: tests/infra/controller/ports.yml runs the real
task files and templates in check mode with --diff on stand-in hosts (this
machine; see preflight.py) and each test reads a file from a diff. Each
port is set on its own host only, so the peers that follow it (the proxy,
the auth server) read it from that host, as on a site with one host per
tier.
"""

import re
from pathlib import Path

import pytest
from preflight import Site

PORTS_YML = Path(__file__).with_name("ports.yml")
GROUPS = {"auth_servers": ["app"], "db_primary": ["db"], "redis": ["cache"], "proxies": ["edge"], "monitoring": ["mon"]}
MOVED = {"app": {"gatehouse_port": 3101}, "db": {"mysql_port": 3307}, "cache": {"redis_port": 6380}}

SITES = {
    "default": Site(groups=GROUPS, playbook=PORTS_YML, options=("--diff",)),
    "moved": Site(groups=GROUPS, hostvars=MOVED, playbook=PORTS_YML, options=("--diff",)),
}
# (site, the app's port, MySQL's, Redis')
EXPECTED = [("default", 3001, 3306, 6379), ("moved", 3101, 3307, 6380)]


def written(preflight, site, task):
    run = preflight(SITES[site])
    assert run.returncode == 0, run.summary()
    files = run.diffs(task)
    assert files, f"no diff of {task!r}\n{run.summary()}"
    return files


def section(rules, service):
    """The firewall lines under the comment naming `service` (up to the next blank line)."""
    match = re.search(rf"^\s*# {re.escape(service)} \(.*?\)\n(.*?)(?:\n\s*\n|\n\s*\}})", rules, re.M | re.S)
    assert match, f"no rules for {service}:\n{rules}"
    return match.group(1)


def ports_of(lines):
    return {int(p) for group in re.findall(r"tcp dport \{ ([0-9, ]+) \}", lines) for p in group.split(",")}


@pytest.mark.parametrize("site, app, mysql, redis", EXPECTED)
def test_nginx_upstream_follows_the_app_port(preflight, site, app, mysql, redis):
    conf = written(preflight, site, "Write the nginx configuration")["edge"]
    upstream = re.search(r"upstream gatehouse \{(.*?)\}", conf, re.S).group(1)
    servers = re.findall(r"^\s*server (\S+):(\d+) ", upstream, re.M)
    assert servers and {int(port) for _, port in servers} == {app}, upstream


@pytest.mark.parametrize("site, app, mysql, redis", EXPECTED)
def test_the_firewall_opens_the_ports_the_services_listen_on(preflight, site, app, mysql, redis):
    rules = written(preflight, site, "Write the firewall rules")
    assert ports_of(section(rules["app"], "gatehouse app")) == {app}
    assert ports_of(section(rules["db"], "mysql")) == {mysql}
    assert ports_of(section(rules["cache"], "redis and sentinel")) == {redis, 26379}


@pytest.mark.parametrize("site, app, mysql, redis", EXPECTED)
def test_the_app_listens_on_its_port_and_connects_to_the_database_and_redis_ports(preflight, site, app, mysql, redis):
    env = written(preflight, site, "Render the environment file")["app"]
    assert f'SERVER_PORT="{app}"' in env
    assert re.search(rf'^DATABASE_URL="mysql://[^"]*@[^"/]+:{mysql}/gatehouse"$', env, re.M), env
    assert re.search(rf'^REDIS_URL="redis://[^"]*@[^"/]+:{redis}/0"$', env, re.M), env
