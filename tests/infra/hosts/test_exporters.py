"""What the exporters role promises, on every host: node_exporter
everywhere, the mysqld, redis and nginx exporters on their groups' hosts,
the blackbox exporter on `monitoring`, each on the private address only and
each reporting that it reaches what it watches; secrets not world-readable;
the mysqld exporter's account reads but cannot write.

Run by molecule/exporters and the site scenarios (tests/infra/hosts/inventory.py).
"""

import re
import time

import pytest
import yaml
from inventory import PORTS, hosts_checked, hosts_of, setting, var

testinfra_hosts = hosts_checked("all")

TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
MYSQLD_CNF = "/etc/prometheus/mysqld-exporter.cnf"
BLACKBOX_CONFIG = "/etc/prometheus/blackbox.yml"

# name: (group, package/unit, port, a metric line proving it reaches what it watches)
EXPORTERS = {
    "node": (None, "prometheus-node-exporter", PORTS["node_exporter"], "node_textfile_scrape_error 0"),
    "mysqld": ("mysql", "prometheus-mysqld-exporter", PORTS["mysqld_exporter"], "mysql_up 1"),
    "redis": ("redis", "prometheus-redis-exporter", PORTS["redis_exporter"], "redis_up 1"),
    "nginx": ("proxies", "prometheus-nginx-exporter", PORTS["nginx_exporter"], "nginx_up 1"),
    "blackbox": ("monitoring", "prometheus-blackbox-exporter", PORTS["blackbox_exporter"], None),
}


@pytest.fixture(scope="module")
def name(host):
    return host.backend.get_hostname()


def runs_here(name, exporter):
    group, *_ = EXPORTERS[exporter]
    in_group = group is None or name in hosts_of(group)
    return in_group and bool(setting(name, "exporters", f"exporters_{exporter}_enabled"))


@pytest.fixture(scope="module")
def address(host, name):
    """Where the exporters listen: exporters_listen_address, else the
    host's private address (common_private_address, else the default route's)."""
    configured = var(name, "exporters_listen_address", "") or var(name, "common_private_address", "")
    if configured:
        return configured
    return host.ansible("setup", "gather_subset=network")["ansible_facts"]["ansible_default_ipv4"]["address"]


def url_host(address):
    return f"[{address}]" if ":" in address else address


def fetch(host, url, attempts=10):
    """The body at `url`, fetched on the host itself (the lab image has python3, not curl)."""
    script = (
        "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
    )
    for _ in range(attempts):
        result = host.run("python3 -c %s %s", script, url)
        if result.rc == 0:
            return result.stdout
        time.sleep(2)
    raise AssertionError(f"{url} did not answer: {result.stderr[-500:]}")


def has_line(metrics, line):
    return re.search(rf"^{re.escape(line)}$", metrics, re.MULTILINE) is not None


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_each_exporter_runs_only_on_its_groups_hosts(host, name, exporter):
    _, unit, _, _ = EXPORTERS[exporter]
    service = host.service(unit)
    if runs_here(name, exporter):
        assert service.is_running, unit
        assert service.is_enabled, unit
    else:
        assert not service.is_running, f"{unit} runs on {name}, which is not in its group"


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_each_exporter_listens_on_the_private_address_only(host, name, address, exporter):
    if not runs_here(name, exporter):
        pytest.skip(f"no {exporter} exporter on {name}")
    _, unit, port, _ = EXPORTERS[exporter]
    assert host.socket(f"tcp://{address}:{port}").is_listening, f"{unit} is not on {address}:{port}"
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening, f"{unit} listens on every IPv4 address"
    assert not host.socket(f"tcp://:::{port}").is_listening, f"{unit} listens on every address"


@pytest.mark.parametrize("exporter", [e for e, spec in EXPORTERS.items() if spec[3]])
def test_each_exporter_reaches_what_it_watches(host, name, address, exporter):
    if not runs_here(name, exporter):
        pytest.skip(f"no {exporter} exporter on {name}")
    _, _, port, line = EXPORTERS[exporter]
    metrics = fetch(host, f"http://{url_host(address)}:{port}/metrics")
    assert has_line(metrics, line), f"{exporter}: no '{line}' in its metrics"
    if exporter == "mysqld":
        assert has_line(metrics, "mysql_exporter_last_scrape_error 0")


def test_the_textfile_collector_reads_what_other_roles_write(host, name, address):
    if not runs_here(name, "node"):
        pytest.skip(f"no node_exporter on {name}")
    directory = host.file(TEXTFILE_DIR)
    assert directory.is_directory
    assert (directory.user, directory.group, directory.mode) == ("root", "root", 0o755)
    # As the backup role writes: a temporary name, then renamed into place.
    probe = f"{TEXTFILE_DIR}/exporters_test.prom"
    host.run_test(
        "printf '# TYPE exporters_test_probe gauge\\nexporters_test_probe 42\\n' > %s.tmp && mv %s.tmp %s",
        probe,
        probe,
        probe,
    )
    try:
        metrics = fetch(host, f"http://{url_host(address)}:{PORTS['node_exporter']}/metrics")
        assert has_line(metrics, "exporters_test_probe 42")
        assert has_line(metrics, "node_textfile_scrape_error 0")
    finally:
        host.run("rm -f %s", probe)


def test_the_blackbox_exporter_probes_over_http(host, name, address):
    if not runs_here(name, "blackbox"):
        pytest.skip(f"no blackbox exporter on {name}")
    base = f"http://{url_host(address)}"
    # Something that is always there: this host's own blackbox metrics page.
    target = f"{base}:{PORTS['blackbox_exporter']}/metrics"
    result = fetch(host, f"{base}:{PORTS['blackbox_exporter']}/probe?module=http_2xx&target={target}")
    assert has_line(result, "probe_success 1"), result[-1000:]
    assert has_line(result, "probe_ip_protocol 4")


def test_the_blackbox_modules_probe_the_issuer_through_nginx(host, name):
    if not runs_here(name, "blackbox"):
        pytest.skip(f"no blackbox exporter on {name}")
    modules = yaml.safe_load(host.file(BLACKBOX_CONFIG).content_string)["modules"]
    https = modules["gatehouse_https"]
    assert https["prober"] == "http"
    assert https["http"]["preferred_ip_protocol"] == "ip4"
    assert https["http"]["fail_if_not_ssl"] is True
    server_name = https["http"]["tls_config"]["server_name"]
    assert https["http"]["headers"]["Host"] == server_name
    expected = var(name, "exporters_blackbox_server_name", "")
    proxies = hosts_of("proxies")
    if not expected and proxies:
        expected = var(proxies[0], "nginx_server_name", "")
    if expected:
        assert server_name == expected
    if var(name, "exporters_blackbox_ca_file", ""):
        assert https["http"]["tls_config"]["ca_file"] == "/etc/prometheus/blackbox-ca.pem"
        assert host.file("/etc/prometheus/blackbox-ca.pem").contains("BEGIN CERTIFICATE")
    else:
        assert "ca_file" not in https["http"]["tls_config"]
    assert modules["http_2xx"]["prober"] == "http"
    assert modules["http_2xx"]["http"]["preferred_ip_protocol"] == "ip4"


def test_files_with_secrets_are_not_world_readable(host, name):
    if runs_here(name, "mysqld"):
        cnf = host.file(MYSQLD_CNF)
        assert (cnf.user, cnf.group, cnf.mode) == ("root", "prometheus", 0o640)
        password = re.search(r"^password=(.+)$", cnf.content_string, re.MULTILINE).group(1)
        assert password not in host.file("/etc/default/prometheus-mysqld-exporter").content_string
    if runs_here(name, "redis"):
        defaults = host.file("/etc/default/prometheus-redis-exporter")
        assert (defaults.user, defaults.group, defaults.mode) == ("root", "root", 0o600)
        assert defaults.contains("^REDIS_PASSWORD=")


def mariadb(host, statement, as_exporter=False):
    """A statement through the socket: as root, or as the exporter's account (its own client file)."""
    login = f"--defaults-extra-file={MYSQLD_CNF} " if as_exporter else ""
    return host.run(f"mariadb {login}--batch --skip-column-names -e %s", statement)


def test_the_exporter_account_is_local_and_least_privilege(host, name):
    if not runs_here(name, "mysqld"):
        pytest.skip(f"no mysqld exporter on {name}")
    user = setting(name, "mysql", "mysql_exporter_user")
    hosts = mariadb(host, f"SELECT Host FROM mysql.user WHERE User = '{user}'").stdout
    assert hosts.split() == ["localhost"]
    grants = mariadb(host, f"SHOW GRANTS FOR '{user}'@'localhost'").stdout
    granted = re.search(r"GRANT (.*) ON \*\.\* TO", grants).group(1).split(", ")
    assert sorted(granted) == sorted(["SELECT", "PROCESS", "BINLOG MONITOR", "SLAVE MONITOR"])
    assert "MAX_USER_CONNECTIONS 3" in grants
    # What the exporter needs works with its account...
    assert mariadb(host, "SHOW SLAVE STATUS", as_exporter=True).rc == 0
    assert mariadb(host, "SHOW GLOBAL STATUS LIKE 'Uptime'", as_exporter=True).rc == 0


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE DATABASE exporters_probe",
        "CREATE TABLE mysql.exporters_probe (id INT)",
        "DELETE FROM mysql.db WHERE 1 = 0",
        "INSERT INTO mysql.time_zone_name (Name, Time_zone_id) VALUES ('exporters/probe', 0)",
    ],
)
def test_the_exporter_account_cannot_write(host, name, statement):
    if not runs_here(name, "mysqld"):
        pytest.skip(f"no mysqld exporter on {name}")
    result = mariadb(host, statement, as_exporter=True)
    assert result.rc != 0, f"the exporter's account could run: {statement}"
    # A replica (read_only) refuses every write before it looks at privileges;
    # its grants are the primary's (checked above), where "denied" is shown.
    read_only = mariadb(host, "SELECT @@read_only").stdout.strip() == "1"
    assert "denied" in result.stderr or (read_only and "read-only" in result.stderr), result.stderr
