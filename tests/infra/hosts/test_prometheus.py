"""What the prometheus role promises, on the hosts of `monitoring`: every
target the inventory implies is scraped and up, the rules of
monitoring/prometheus/rules are loaded, the configuration loaded cleanly,
it listens on the private address only, and (in the site scenarios, where
the app and every exporter run) every dashboard query returns data.

Run by molecule/prometheus, molecule/alertmanager and the site scenarios
(tests/infra/hosts/inventory.py).
"""

import json
import re
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml
from inventory import REPO, hosts_checked, hosts_of, setting, var

testinfra_hosts = hosts_checked("monitoring")

RULES_DIR = REPO / "monitoring" / "prometheus" / "rules"
# Exporter jobs: (job, group, the exporters role's name for the exporter).
EXPORTER_JOBS = [
    ("node", "all", "node"),
    ("mysqld", "mysql", "mysqld"),
    ("redis", "redis", "redis"),
    ("nginx", "proxies", "nginx"),
]
# Scrapes settle within a few intervals of a (re)start.
SETTLE_SECONDS = 60
# GET a URL on the host with its own Python (the role scenarios have no
# curl); prints the body of an error answer too (Prometheus explains a bad
# query in it).
FETCH = """
import sys, urllib.error, urllib.request
try:
    body = urllib.request.urlopen(sys.argv[1], timeout=20).read()
except urllib.error.HTTPError as error:
    body = error.read()
sys.stdout.write(body.decode())
"""


@pytest.fixture(scope="module")
def name(host):
    return host.backend.get_hostname()


@pytest.fixture(scope="module")
def address(host, name):
    listen = setting(name, "prometheus", "prometheus_listen_address")
    if listen:
        return listen
    configured = var(name, "common_private_address", "")
    return (
        configured or host.ansible("setup", "gather_subset=network")["ansible_facts"]["ansible_default_ipv4"]["address"]
    )


@pytest.fixture(scope="module")
def port(name):
    return int(setting(name, "prometheus", "prometheus_port"))


@pytest.fixture(scope="module")
def api(host, address, port):
    """GET a Prometheus API path on the host itself; returns the JSON's data."""

    def get(path, **params):
        url = f"http://{address}:{port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        out = host.run("python3 -c %s %s", FETCH, url)
        assert out.rc == 0, f"{url}: {out.stderr}"
        body = json.loads(out.stdout)
        assert body.get("status") == "success", f"{url}: {body}"
        return body["data"]

    return get


def enabled(host_name, exporter):
    return bool(var(host_name, f"exporters_{exporter}_enabled", True))


def alertmanager_hosts(name):
    hosts = var(name, "prometheus_alertmanager_hosts", None)
    return hosts_of("monitoring") if hosts is None else list(hosts)


def expected_jobs(name):
    """The jobs the inventory implies for the Prometheus on `name`, with the
    instance labels of their targets (for the blackbox jobs: the `host` labels)."""
    jobs = {"prometheus": {name}}
    if alertmanager_hosts(name):
        jobs["alertmanager"] = set(alertmanager_hosts(name))
    for job, group, exporter in EXPORTER_JOBS:
        hosts = {h for h in hosts_of(group) if enabled(h, exporter)}
        if hosts:
            jobs[job] = hosts
    auth_servers = set(hosts_of("auth_servers"))
    if auth_servers:
        jobs["gatehouse"] = auth_servers
    if enabled(name, "blackbox"):
        if hosts_of("proxies"):
            jobs["blackbox_https"] = set(hosts_of("proxies"))
        if auth_servers:
            jobs["gatehouse_ready"] = auth_servers
    return jobs


def site_scenario():
    """The app and every exporter run: the site scenarios (appliance, cluster)."""
    return bool(hosts_of("auth_servers"))


def test_service_running_and_enabled(host):
    svc = host.service("prometheus")
    assert svc.is_running
    assert svc.is_enabled


def test_listens_on_the_private_address_only(host, address, port):
    assert host.socket(f"tcp://{address}:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert not host.socket(f"tcp://127.0.0.1:{port}").is_listening
    assert not host.socket(f"tcp://:::{port}").is_listening


def test_the_configuration_loaded_cleanly(host, api, address, port):
    assert api("/api/v1/status/runtimeinfo")["reloadConfigSuccess"] is True
    metrics = host.run("python3 -c %s %s", FETCH, f"http://{address}:{port}/metrics").stdout
    assert "\nprometheus_config_last_reload_successful 1\n" in metrics


def test_the_jobs_are_those_the_inventory_implies(api, name):
    targets = api("/api/v1/targets")["activeTargets"]
    found = {}
    for target in targets:
        labels = target["labels"]
        key = labels.get("host") if labels["job"] in ("blackbox_https", "gatehouse_ready") else labels["instance"]
        found.setdefault(labels["job"], set()).add(key)
    assert found == expected_jobs(name)


def test_the_blackbox_jobs_probe_the_issuer_routes(api, name):
    if not enabled(name, "blackbox") or not hosts_of("proxies"):
        pytest.skip("no blackbox probes through a proxy in this scenario")
    targets = api("/api/v1/targets")["activeTargets"]
    urls = {t["labels"]["instance"] for t in targets if t["labels"]["job"] == "blackbox_https"}
    for path in ("/health/ready", "/.well-known/openid-configuration", "/jwks.json"):
        assert any(url.startswith("https://") and url.endswith(path) for url in urls), (path, urls)


def test_every_target_is_up(api):
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        targets = api("/api/v1/targets")["activeTargets"]
        down = [
            f"{t['labels']['job']} {t['labels']['instance']} {t['scrapeUrl']}: {t['health']} {t['lastError']}"
            for t in targets
            if t["health"] != "up"
        ]
        if not down or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert targets, "no targets"
    assert not down, "targets not up:\n" + "\n".join(down)


def rule_files(name):
    """The rule files the role deploys on `name`: those of prometheus_rules_dir
    (default monitoring/prometheus/rules) and prometheus_extra_rules_dirs."""
    dirs = [var(name, "prometheus_rules_dir", str(RULES_DIR)), *var(name, "prometheus_extra_rules_dirs", [])]
    return sorted(path for directory in dirs for path in Path(directory).glob("*.yml"))


def alert_names_in(files):
    names = set()
    for path in files:
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            names |= {rule["alert"] for rule in group.get("rules", []) if "alert" in rule}
    return names


def test_the_rules_are_loaded(api, name):
    files = rule_files(name)
    assert files, "no rule files to deploy"
    groups = api("/api/v1/rules")["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"] if rule["type"] == "alerting"}
    assert loaded == alert_names_in(files)
    loaded_files = {group["file"].rsplit("/", 1)[-1] for group in groups}
    assert loaded_files == {path.name for path in files if (yaml.safe_load(path.read_text()) or {}).get("groups")}


def test_no_other_rule_files_on_the_host(host, name):
    present = set(host.check_output("ls -A /etc/prometheus/rules").split())
    assert present == {path.name for path in rule_files(name)}


def test_the_lab_alert_duration_replaces_every_for(api, name):
    alert_for = var(name, "prometheus_alert_for", "")
    if not alert_for:
        pytest.skip("prometheus_alert_for is not set: the rules keep their own durations")
    seconds = parse_duration(alert_for)
    durations = {
        rule["name"]: rule["duration"]
        for group in api("/api/v1/rules")["groups"]
        for rule in group["rules"]
        if rule["type"] == "alerting"
    }
    wrong = {name: d for name, d in durations.items() if d not in (0, seconds)}
    assert not wrong, f"alerts whose for: is not {alert_for}: {wrong}"


def parse_duration(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text))


def test_retention_follows_the_variables(host, name):
    args = host.file("/etc/default/prometheus").content_string
    assert f"--storage.tsdb.retention.time={setting(name, 'prometheus', 'prometheus_retention_time')}" in args
    size = setting(name, "prometheus", "prometheus_retention_size")
    assert (f"--storage.tsdb.retention.size={size}" in args) if size else ("retention.size" not in args)


# --- the dashboards (site scenarios: the app and every exporter run) ---------------------------


@pytest.fixture(scope="module")
def dashboards():
    if not site_scenario():
        pytest.skip("no auth servers in this scenario: the dashboards' queries would have no data")
    import dashboards as module

    return module


# Metrics only some topologies have: a replica's slave status exists only
# where db_replicas has a host (the single-host appliance has none).
NEEDS_GROUP = {"mysql_slave_status_": "db_replicas", "mysql_global_status_rpl_semi_sync_slave": "db_replicas"}


def possible_here(dashboards, expr):
    """Whether this scenario's hosts can give the query data at all."""
    return all(
        hosts_of(group)
        for metric in dashboards.metric_names(expr)
        for prefix, group in NEEDS_GROUP.items()
        if metric.startswith(prefix)
    )


def queries(dashboards):
    """(dashboard file name, panel title, expr) of every Prometheus query of the dashboards."""
    return [
        (path.name, title, expr)
        for path in dashboards.dashboard_files()
        for title, expr in dashboards.prometheus_queries(dashboards.load(path))
        if possible_here(dashboards, expr)
    ]


def test_every_dashboard_query_returns_data(api, dashboards):
    # Every query is sent once; those without data yet are sent again
    # while the scrapes settle (one deadline for all of them).
    pending, failed = queries(dashboards), []
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        waiting = []
        for dashboard, title, expr in pending:
            try:
                if not api("/api/v1/query", query=expr)["result"]:
                    waiting.append((dashboard, title, expr))
            except AssertionError as error:
                failed.append(f"{dashboard} / {title}: {expr}: {error}")
        pending = waiting
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(5)
    empty = [f"{dashboard} / {title}: {expr}" for dashboard, title, expr in pending]
    assert not failed, "queries that failed:\n" + "\n".join(failed)
    assert not empty, "queries without data:\n" + "\n".join(empty)


def test_every_metric_the_dashboards_use_exists(api, dashboards):
    known = set(api("/api/v1/label/__name__/values"))
    missing = sorted(
        {
            f"{metric} ({dashboard} / {title})"
            for dashboard, title, expr in queries(dashboards)
            for metric in dashboards.metric_names(expr)
            if metric not in known
        }
    )
    assert not missing, "metrics the dashboards use that Prometheus does not have:\n" + "\n".join(missing)
