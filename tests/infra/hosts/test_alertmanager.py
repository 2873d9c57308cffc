"""What the alertmanager role promises, on the hosts of `monitoring`: running
on the private address only, the configuration of the inventory loaded (its
receivers, the inhibition), secrets readable by the service's group only,
gossip off with one monitoring host, and Prometheus sending to it.

Run by molecule/alertmanager and the site scenarios
(tests/infra/hosts/inventory.py).
"""

import json

import pytest
from inventory import hosts_checked, hosts_of, setting, var

testinfra_hosts = hosts_checked("monitoring")

CONFIG = "/etc/prometheus/alertmanager.yml"
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


def private_address(host, name, role):
    listen = setting(name, role, f"{role}_listen_address")
    if listen:
        return listen
    configured = var(name, "common_private_address", "")
    facts = host.ansible("setup", "gather_subset=network")["ansible_facts"]
    return configured or facts["ansible_default_ipv4"]["address"]


@pytest.fixture(scope="module")
def address(host, name):
    return private_address(host, name, "alertmanager")


@pytest.fixture(scope="module")
def port(name):
    return int(setting(name, "alertmanager", "alertmanager_port"))


def get_json(host, url):
    out = host.run("python3 -c %s %s", FETCH, url)
    assert out.rc == 0, f"{url}: {out.stderr}"
    return json.loads(out.stdout)


def receivers(name):
    return var(name, "alertmanager_receivers", [{"name": "default", "type": "null"}])


def test_service_running_and_enabled(host):
    svc = host.service("prometheus-alertmanager")
    assert svc.is_running
    assert svc.is_enabled


def test_listens_on_the_private_address_only(host, address, port):
    assert host.socket(f"tcp://{address}:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert not host.socket(f"tcp://127.0.0.1:{port}").is_listening
    assert not host.socket(f"tcp://:::{port}").is_listening


def test_gossip_only_between_several_monitoring_hosts(host, address, name):
    cluster_port = int(setting(name, "alertmanager", "alertmanager_cluster_port"))
    if len(hosts_of("monitoring")) > 1:
        assert host.socket(f"tcp://{address}:{cluster_port}").is_listening
    else:
        listening = host.check_output("ss -Htlnu")
        assert f":{cluster_port} " not in listening, listening


def test_the_configuration_of_the_inventory_is_loaded(host, address, port, name):
    status = get_json(host, f"http://{address}:{port}/api/v2/status")
    assert status["cluster"]["status"] in ("ready", "disabled"), status["cluster"]
    loaded = status["config"]["original"]
    for receiver in receivers(name):
        assert f"name: {receiver['name']}" in loaded, (receiver["name"], loaded)
    assert "InstanceDown" in loaded and "inhibit_rules" in loaded
    listed = {r["name"] for r in get_json(host, f"http://{address}:{port}/api/v2/receivers")}
    assert listed == {r["name"] for r in receivers(name)}


def test_the_configuration_loaded_cleanly(host, address, port):
    metrics = host.run("python3 -c %s %s", FETCH, f"http://{address}:{port}/metrics").stdout
    assert "\nalertmanager_config_last_reload_successful 1\n" in metrics


def test_the_secrets_are_not_world_readable(host):
    config = host.file(CONFIG)
    assert config.user == "root"
    assert config.group == "prometheus"
    assert config.mode == 0o640


def test_prometheus_sends_its_alerts_here(host, name, address, port):
    prometheus = private_address(host, name, "prometheus")
    prometheus_port = int(setting(name, "prometheus", "prometheus_port"))
    answer = get_json(host, f"http://{prometheus}:{prometheus_port}/api/v1/alertmanagers")
    active = {a["url"] for a in answer["data"]["activeAlertmanagers"]}
    assert f"http://{address}:{port}/api/v2/alerts" in active, answer
