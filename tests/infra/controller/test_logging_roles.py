"""The Loki, Promtail and Grafana roles, rendered with the lab cluster's inventory.

Their artifacts cannot be downloaded here (LAB.md), so these roles are
tested by what they would write. Each role builds the inputs of the
grafana.grafana role it wraps (tasks/config.yml: facts from the templates
in monitoring/); a play on this machine runs each role's preflight and
config.yml for every host of the lab cluster's inventory (its groups and
group_vars, the hosts made local stand-ins with private addresses of their
own), then renders the files the collection's roles would write from those
facts - with the collection's own templates and provisioning file contents,
and the modes its tasks give them - into a directory per host. The tests
read those files. A second run, in check mode, runs the roles' main entry
points, so the way a dry run skips what needs the package is exercised too.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import ansible
import pytest
import yaml
from preflight import assert_refused, single_node

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
LAB = REPO / "inventories" / "lab-cluster"
COLLECTION = Path(ansible.__file__).resolve().parents[1] / "ansible_collections" / "grafana" / "grafana"
ROLES = COLLECTION / "roles"
DASHBOARDS = REPO / "monitoring" / "grafana" / "dashboards"

ADMIN_PASSWORD = "render-test-admin-password-0123"
CLIENT_SECRET = "render-test-oauth-client-secret-0123456789abcdef"
ISSUER = "https://localhost:8443"  # the lab cluster's gatehouse_issuer
OAUTH = "/api/v2/oauth"


def _hosts(tree):
    """Every host of an inventory tree and the groups it is in."""
    found = {}

    def walk(name, node):
        node = node or {}
        for host in node.get("hosts") or {}:
            found.setdefault(host, set()).add(name)
        for child, sub in (node.get("children") or {}).items():
            walk(child, sub)
            for host in _members(sub):
                found.setdefault(host, set()).add(name)

    def _members(node):
        node = node or {}
        members = set(node.get("hosts") or {})
        for sub in (node.get("children") or {}).values():
            members |= _members(sub)
        return members

    walk("all", tree["all"])
    return found


LAB_TREE = yaml.safe_load((LAB / "hosts.yml").read_text())
HOSTS = sorted(_hosts(LAB_TREE))
GROUPS = _hosts(LAB_TREE)
ADDRESS = {host: f"10.77.0.{n}" for n, host in enumerate(HOSTS, start=10)}
MONITORING = sorted(h for h in HOSTS if "monitoring" in GROUPS[h])


def _collection_task(path, name):
    """One task of the collection, by name (its copy content, its mode)."""
    for task in yaml.safe_load(path.read_text()):
        if task.get("name") == name:
            return task
        for inner in task.get("block", []):
            if inner.get("name") == name:
                return inner
    raise AssertionError(f"{path} has no task {name!r}: the collection changed, look again at how it writes it")


def _module_args(task, module):
    return task.get(module) or task[module.rsplit(".", 1)[-1]]


def _collection_files():
    """The files the collection's roles write that these tests render: template or content, and mode."""
    loki = _module_args(
        _collection_task(ROLES / "loki" / "tasks" / "deploy.yml", "Template Loki config - /etc/loki/config.yml"),
        "ansible.builtin.template",
    )
    promtail = _module_args(
        _collection_task(
            ROLES / "promtail" / "tasks" / "deploy.yml", "Template Promtail config - /etc/promtail/config.yml"
        ),
        "ansible.builtin.template",
    )
    ini = _module_args(
        _collection_task(ROLES / "grafana" / "tasks" / "configure.yml", "Create grafana main configuration file"),
        "ansible.builtin.template",
    )
    datasources = _module_args(
        _collection_task(
            ROLES / "grafana" / "tasks" / "datasources.yml", "Create/Update datasources file (provisioning)"
        ),
        "ansible.builtin.copy",
    )
    provider = _module_args(
        _collection_task(
            ROLES / "grafana" / "tasks" / "dashboards.yml", "Create/Update dashboards file (provisioning)"
        ),
        "ansible.builtin.copy",
    )
    return {
        "loki": {"src": str(ROLES / "loki" / "templates" / loki["src"]), "mode": str(loki["mode"])},
        "promtail": {"src": str(ROLES / "promtail" / "templates" / promtail["src"]), "mode": str(promtail["mode"])},
        "grafana_ini": {"src": str(ROLES / "grafana" / "templates" / ini["src"]), "mode": str(ini["mode"])},
        "datasources": {
            "content": datasources["content"],
            "mode": oct(datasources["mode"])[2:].zfill(4)
            if isinstance(datasources["mode"], int)
            else str(datasources["mode"]),
        },
        "provider": {"content": provider["content"], "mode": str(provider["mode"])},
    }


RENDER = """
- name: Loki, as the loki role gives it to grafana.grafana.loki
  hosts: monitoring
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Check the Loki inputs
      ansible.builtin.include_role: {name: loki, tasks_from: preflight}
    - name: Build the collection's inputs
      ansible.builtin.include_role: {name: loki, tasks_from: config}
    - name: Read the collection role's defaults (the facts the role set win over them, as in the role)
      ansible.builtin.include_vars: "{{ collection }}/roles/loki/defaults/main.yml"
    - name: Render /etc/loki/config.yml with the collection's template
      ansible.builtin.template:
        src: "{{ files.loki.src }}"
        dest: "{{ out }}/{{ inventory_hostname }}/loki/config.yml"
        mode: "{{ files.loki.mode }}"

- name: Grafana, as the grafana role gives it to grafana.grafana.grafana
  hosts: monitoring
  gather_facts: false
  tasks:
    - name: Check the Grafana inputs
      ansible.builtin.include_role: {name: grafana, tasks_from: preflight}
    - name: Build the collection's inputs
      ansible.builtin.include_role: {name: grafana, tasks_from: config}
    - name: Read the collection's defaults
      ansible.builtin.include_vars:
        file: "{{ collection }}/roles/grafana/defaults/main.yml"
        name: collection_defaults
    - name: Merge grafana_ini over the defaults, as the collection does first
      ansible.builtin.set_fact:
        grafana_ini: "{{ collection_defaults.grafana_ini_default | combine(grafana_ini, recursive=true) }}"
    - name: Render /etc/grafana/grafana.ini with the collection's template
      ansible.builtin.template:
        src: "{{ files.grafana_ini.src }}"
        dest: "{{ out }}/{{ inventory_hostname }}/grafana/grafana.ini"
        mode: "{{ files.grafana_ini.mode }}"
    - name: Render the data sources file as the collection writes it
      ansible.builtin.copy:
        content: "{{ files.datasources.content }}"
        dest: "{{ out }}/{{ inventory_hostname }}/grafana/provisioning/datasources/ansible.yml"
        mode: "{{ files.datasources.mode }}"
    - name: Render the dashboards provider as the collection writes it
      ansible.builtin.copy:
        content: "{{ files.provider.content }}"
        dest: "{{ out }}/{{ inventory_hostname }}/grafana/provisioning/dashboards/ansible.yml"
        mode: "{{ files.provider.mode }}"
    - name: Note where the dashboards come from
      ansible.builtin.copy:
        content: "{{ {'grafana_dashboards_dir': grafana_dashboards_dir} | to_json }}"
        dest: "{{ out }}/{{ inventory_hostname }}/grafana/inputs.json"
        mode: "0644"

- name: Promtail, as the promtail role gives it to grafana.grafana.promtail
  hosts: all
  gather_facts: true
  gather_subset: [min]
  tasks:
    - name: Check the Promtail inputs
      ansible.builtin.include_role: {name: promtail, tasks_from: preflight}
    - name: Build the collection's inputs
      ansible.builtin.include_role: {name: promtail, tasks_from: config}
    - name: Read the collection role's defaults (the facts the role set win over them, as in the role)
      ansible.builtin.include_vars: "{{ collection }}/roles/promtail/defaults/main.yml"
    - name: Render /etc/promtail/config.yml with the collection's template
      ansible.builtin.template:
        src: "{{ files.promtail.src }}"
        dest: "{{ out }}/{{ inventory_hostname }}/promtail/config.yml"
        mode: "{{ files.promtail.mode }}"
"""

# What the gatehouse role's defaults say of the Grafana client on this inventory.
CLIENT = """
- name: The Grafana client the gatehouse role registers
  hosts: auth_servers[0]
  gather_facts: false
  tasks:
    - name: Read the gatehouse role's defaults
      ansible.builtin.include_vars:
        file: "{{ repo }}/roles/gatehouse/defaults/main.yml"
        name: gatehouse_defaults
    - name: Write what they say of the Grafana client
      ansible.builtin.copy:
        content: >-
          {{ {'client': gatehouse_defaults.gatehouse_grafana_client | bool,
              'redirect_uris': gatehouse_defaults.gatehouse_grafana_redirect_uris} | to_json }}
        dest: "{{ out }}/gatehouse-grafana-client.json"
        mode: "0644"
"""

# The roles' main entry points, in check mode: preflight, inputs, then the
# download step (get_url with the checksum); the package is not on this
# machine, so each role says so and leaves the collection's role out.
CHECK = """
- name: The roles in check mode
  hosts: lab-mon
  gather_facts: true
  gather_subset: [min]
  roles:
    - role: loki
    - role: grafana
    - role: promtail
"""


def _write_inventory(directory, *, enabled, extra=None):
    """The lab cluster's inventory with local stand-ins, its group_vars and the secrets the vault would hold."""
    tree = yaml.safe_load((LAB / "hosts.yml").read_text())
    tree["all"]["vars"].update(ansible_connection="local", ansible_python_interpreter=sys.executable)
    for host in HOSTS:
        for node in _host_nodes(tree["all"], host):
            node[host] = {"common_private_address": ADDRESS[host]}
    (directory / "group_vars").mkdir(parents=True)
    for source in (LAB / "group_vars").rglob("*.yml"):
        target = directory / "group_vars" / source.relative_to(LAB / "group_vars")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
    overrides = {
        "grafana_admin_password": ADMIN_PASSWORD,
        "grafana_oauth_client_secret": CLIENT_SECRET,
        **(extra or {}),
    }
    if enabled:
        # The lab turns these roles off (its group_vars); rendering them is what is tested here.
        overrides.update(
            grafana_enabled=True,
            loki_enabled=True,
            promtail_enabled=True,
            grafana_package_sha256="0" * 64,
            loki_package_sha256="1" * 64,
            promtail_package_sha256="2" * 64,
        )
    (directory / "group_vars" / "all" / "zz-render-test.yml").write_text(yaml.safe_dump(overrides))
    (directory / "hosts.yml").write_text(yaml.safe_dump(tree, sort_keys=False))
    return directory / "hosts.yml"


def _host_nodes(node, host):
    """The `hosts:` mappings of the tree that list `host`."""
    found = []
    if host in (node.get("hosts") or {}):
        node["hosts"] = node.get("hosts") or {}
        found.append(node["hosts"])
    for sub in (node.get("children") or {}).values():
        found += _host_nodes(sub or {}, host)
    return found


def _run(playbook, inventory, *options, extra_vars=None, report=False):
    """Runs a playbook; with report, returns its JSON report (ansible.posix.json)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="true", ANSIBLE_RETRY_FILES_ENABLED="false", ANSIBLE_GATHERING="implicit")
    for name in ("ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_CONFIG", "ANSIBLE_CALLBACKS_ENABLED"):
        env.pop(name, None)
    env["ANSIBLE_CACHE_PLUGIN"] = "memory"
    if report:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    result = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            *options,
            "-e",
            json.dumps(extra_vars or {}),
            str(playbook),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{playbook.name} failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return json.loads(result.stdout) if report else result


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The files of every lab host, by host: {host: Path of its directory}."""
    work = tmp_path_factory.mktemp("logging-roles")
    out = work / "out"
    inventory = _write_inventory(work / "inventory", enabled=True)
    playbook = work / "render.yml"
    playbook.write_text(RENDER + CLIENT)
    for host in HOSTS:
        for directory in ("loki", "promtail", "grafana/provisioning/datasources", "grafana/provisioning/dashboards"):
            (out / host / directory).mkdir(parents=True)
    _run(
        playbook,
        inventory,
        extra_vars={"out": str(out), "files": _collection_files(), "collection": str(COLLECTION), "repo": str(REPO)},
    )
    return out


def _yaml(path):
    return yaml.safe_load(path.read_text())


# --- Loki ---


@pytest.mark.parametrize("host", MONITORING)
def test_loki_config_is_tsdb_schema_v13_on_the_filesystem(rendered, host):
    config = _yaml(rendered / host / "loki" / "config.yml")
    (schema,) = config["schema_config"]["configs"]
    assert (schema["store"], schema["schema"], schema["object_store"]) == ("tsdb", "v13", "filesystem")
    assert schema["index"]["period"] == "24h"
    assert "tsdb_shipper" in config["storage_config"] and "boltdb_shipper" not in config["storage_config"]
    assert config["limits_config"]["allow_structured_metadata"] is True


@pytest.mark.parametrize("host", MONITORING)
def test_loki_listens_on_the_private_address_and_keeps_logs_by_the_compactor(rendered, host):
    config = _yaml(rendered / host / "loki" / "config.yml")
    assert config["server"]["http_listen_address"] == ADDRESS[host]
    assert config["server"]["http_listen_port"] == 3100
    assert config["server"]["grpc_listen_address"] == "127.0.0.1"
    assert config["compactor"]["retention_enabled"] is True
    assert config["limits_config"]["retention_period"] == "744h"
    assert config["auth_enabled"] is False


@pytest.mark.parametrize("host", MONITORING)
def test_every_section_of_the_loki_template_reaches_the_file(rendered, host):
    """The role hands each section of monitoring/loki/config.yml.j2 to the collection: none is dropped,
    and the collection adds only what it always writes (ballast_bytes)."""
    config = _yaml(rendered / host / "loki" / "config.yml")
    template = (REPO / "monitoring" / "loki" / "config.yml.j2").read_text()
    sections = {line.split(":")[0] for line in template.splitlines() if line[:1].isalpha() and ":" in line}
    assert sections <= set(config), f"sections lost on the way: {sorted(sections - set(config))}"
    assert set(config) - sections <= {"ballast_bytes"}, sorted(set(config) - sections)


def test_loki_config_is_accepted_by_loki_when_it_is_here(rendered):
    loki = next((p for p in (Path("/usr/bin/loki"), BIN / "loki") if p.is_file()), None)
    if loki is None:
        pytest.skip("no loki binary on this machine (LAB.md): the YAML-level checks above stand")
    for host in MONITORING:
        result = subprocess.run(
            [str(loki), "-verify-config", "-config.file", str(rendered / host / "loki" / "config.yml")],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr


# --- Promtail ---


@pytest.mark.parametrize("host", HOSTS)
def test_promtail_pushes_to_every_monitoring_hosts_loki(rendered, host):
    config = _yaml(rendered / host / "promtail" / "config.yml")
    assert [c["url"] for c in config["clients"]] == [f"http://{ADDRESS[m]}:3100/loki/api/v1/push" for m in MONITORING]
    assert config["positions"]["filename"] == "/var/lib/promtail/positions.yaml"
    assert config["server"]["http_listen_address"] == "127.0.0.1"


@pytest.mark.parametrize("host", HOSTS)
def test_promtail_ships_the_journal_with_unit_and_host(rendered, host):
    jobs = {j["job_name"]: j for j in _yaml(rendered / host / "promtail" / "config.yml")["scrape_configs"]}
    journal = jobs["journal"]
    assert journal["journal"]["labels"]["host"] == host
    assert {r["target_label"] for r in journal["relabel_configs"]} >= {"unit"}
    unit = next(r for r in journal["relabel_configs"] if r["target_label"] == "unit")
    assert unit["source_labels"] == ["__journal__systemd_unit"]


def _labels_of(job):
    """Every label a job can give a stream: static ones and those of labels stages."""
    labels = set()
    for static in job.get("static_configs", []):
        labels |= set(static.get("labels", {}))
    labels |= set(job.get("journal", {}).get("labels", {}))
    labels |= {r["target_label"] for r in job.get("relabel_configs", []) if "target_label" in r}
    for stage in job.get("pipeline_stages", []):
        labels |= set(stage.get("labels") or {})
    return labels


def test_promtail_ships_the_apps_json_log_on_the_auth_servers(rendered):
    auth = [h for h in HOSTS if "auth_servers" in GROUPS[h]]
    assert auth
    for host in HOSTS:
        jobs = {j["job_name"]: j for j in _yaml(rendered / host / "promtail" / "config.yml")["scrape_configs"]}
        assert ("gatehouse" in jobs) == (host in auth), host
        if host not in auth:
            continue
        job = jobs["gatehouse"]
        assert job["static_configs"][0]["labels"]["__path__"] == "/var/log/gatehouse/*.log"
        stages = job["pipeline_stages"]
        (json_stage,) = [s["json"] for s in stages if "json" in s]
        assert {"level", "event", "request_id"} <= set(json_stage["expressions"])
        (labels,) = [s["labels"] for s in stages if "labels" in s]
        assert set(labels) == {"level", "event"}
        (metadata,) = [s["structured_metadata"] for s in stages if "structured_metadata" in s]
        assert set(metadata) == {"request_id"}
        assert "request_id" not in _labels_of(job)


def test_promtail_ships_nginx_logs_on_the_proxies(rendered):
    proxies = [h for h in HOSTS if "proxies" in GROUPS[h]]
    assert proxies
    for host in HOSTS:
        jobs = {j["job_name"]: j for j in _yaml(rendered / host / "promtail" / "config.yml")["scrape_configs"]}
        assert ("nginx" in jobs) == (host in proxies), host
        if host in proxies:
            assert jobs["nginx"]["static_configs"][0]["labels"]["__path__"] == "/var/log/nginx/*.log"


@pytest.mark.parametrize("host", HOSTS)
def test_no_promtail_label_has_unbounded_values(rendered, host):
    for job in _yaml(rendered / host / "promtail" / "config.yml")["scrape_configs"]:
        assert _labels_of(job) <= {"job", "host", "unit", "level", "event", "__path__"}, job["job_name"]


# --- Grafana ---


def _ini(path):
    """grafana.ini as Grafana reads it: keys before the first section are global (here under "global");
    a section twice, or a key twice in one, fails (strict)."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string("[global]\n" + path.read_text())
    return parser


@pytest.mark.parametrize("host", MONITORING)
def test_grafana_data_sources_are_prometheus_and_loki_of_this_host(rendered, host):
    provisioning = _yaml(rendered / host / "grafana" / "provisioning" / "datasources" / "ansible.yml")
    assert provisioning["apiVersion"] == 1
    sources = {s["uid"]: s for s in provisioning["datasources"]}
    assert set(sources) == {"prometheus", "loki"}
    assert len(provisioning["datasources"]) == 2
    assert (sources["prometheus"]["type"], sources["prometheus"]["url"]) == (
        "prometheus",
        f"http://{ADDRESS[host]}:9090",
    )
    assert (sources["loki"]["type"], sources["loki"]["url"]) == ("loki", f"http://{ADDRESS[host]}:3100")
    assert [s["uid"] for s in provisioning["datasources"] if s.get("isDefault")] == ["prometheus"]


@pytest.mark.parametrize("host", MONITORING)
def test_grafana_dashboards_come_from_the_monitoring_directory(rendered, host):
    provider = _yaml(rendered / host / "grafana" / "provisioning" / "dashboards" / "ansible.yml")
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    assert entry["options"]["path"] == "/var/lib/grafana/dashboards"
    inputs = json.loads((rendered / host / "grafana" / "inputs.json").read_text())
    # The collection copies every *.json of this directory into the provider's path.
    assert Path(inputs["grafana_dashboards_dir"]) == DASHBOARDS.resolve()


@pytest.mark.parametrize("host", MONITORING)
def test_grafana_listens_privately_with_anonymous_access_off(rendered, host):
    ini = _ini(rendered / host / "grafana" / "grafana.ini")
    assert ini["server"]["http_addr"] == ADDRESS[host]
    assert ini["server"]["http_port"] == "3000"
    assert ini["server"]["root_url"] == "http://localhost:3000/"
    assert ini["auth.anonymous"]["enabled"].lower() == "false"
    assert ini["users"]["allow_sign_up"].lower() == "false"
    assert ini["security"]["admin_password"] == ADMIN_PASSWORD
    assert ini["analytics"]["reporting_enabled"].lower() == "false"


@pytest.mark.parametrize("host", MONITORING)
def test_grafana_logs_in_with_the_sites_issuer(rendered, host):
    oauth = _ini(rendered / host / "grafana" / "grafana.ini")["auth.generic_oauth"]
    assert oauth["enabled"].lower() == "true"
    assert oauth["auth_url"] == f"{ISSUER}{OAUTH}/authorize"
    assert oauth["token_url"] == f"{ISSUER}{OAUTH}/token"
    assert oauth["api_url"] == f"{ISSUER}{OAUTH}/userinfo"
    assert oauth["client_id"] == "grafana"
    assert oauth["client_secret"] == CLIENT_SECRET
    assert oauth["scopes"].split() == ["openid", "profile", "email"]
    assert oauth["use_pkce"].lower() == "true"
    # No role claim from Gatehouse: users start as Viewer, and the provider does not undo a promotion.
    assert oauth["role_attribute_path"] == ""
    assert oauth["skip_org_role_sync"].lower() == "true"


def test_the_oauth_endpoints_are_the_ones_the_app_serves():
    sys.path.insert(0, str(REPO / "app" / "src"))
    try:
        from gatehouse.oauth.metadata import metadata
    finally:
        sys.path.pop(0)
    document = metadata(ISSUER, "RS256")
    assert document["authorization_endpoint"] == f"{ISSUER}{OAUTH}/authorize"
    assert document["token_endpoint"] == f"{ISSUER}{OAUTH}/token"
    assert document["userinfo_endpoint"] == f"{ISSUER}{OAUTH}/userinfo"
    assert "S256" in document["code_challenge_methods_supported"]
    assert {"openid", "profile", "email"} <= set(document["scopes_supported"])


@pytest.mark.parametrize("host", MONITORING)
def test_no_secret_is_in_a_world_readable_file(rendered, host):
    for path in (rendered / host).rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text()
        holds_secret = ADMIN_PASSWORD in text or CLIENT_SECRET in text
        if holds_secret:
            assert path.name == "grafana.ini", f"a secret in {path.relative_to(rendered)}"
            assert not path.stat().st_mode & stat.S_IROTH, f"{path.name} is world-readable with secrets in it"
    assert (rendered / host / "grafana" / "grafana.ini").stat().st_mode & 0o777 == 0o640


def test_the_gatehouse_role_registers_grafanas_redirect_uri(rendered):
    client = json.loads((rendered / "gatehouse-grafana-client.json").read_text())
    assert client == {"client": True, "redirect_uris": ["http://localhost:3000/login/generic_oauth"]}


def test_the_lab_leaves_these_roles_and_the_client_off(tmp_path):
    """The lab cannot install them (LAB.md): its inventories turn them off, and with them the client."""
    for site in ("lab", "lab-cluster"):
        settings = _yaml(REPO / "inventories" / site / "group_vars" / "all" / "main.yml")
        assert settings["grafana_enabled"] is False and settings["loki_enabled"] is False, site
        assert settings["promtail_enabled"] is False, site
    inventory = _write_inventory(tmp_path / "inventory", enabled=False)
    playbook = tmp_path / "client.yml"
    playbook.write_text(CLIENT)
    _run(playbook, inventory, extra_vars={"out": str(tmp_path), "repo": str(REPO)})
    client = json.loads((tmp_path / "gatehouse-grafana-client.json").read_text())
    assert client["client"] is False


def test_the_roles_run_in_check_mode_without_their_packages(tmp_path):
    package = tmp_path / "package.deb"
    package.write_bytes(b"not a real package")
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    inventory = _write_inventory(
        tmp_path / "inventory",
        enabled=True,
        extra={f"{role}_package_url": f"file://{package}" for role in ("loki", "grafana", "promtail")}
        | {f"{role}_package_sha256": digest for role in ("loki", "grafana", "promtail")},
    )
    playbook = tmp_path / "check.yml"
    playbook.write_text(CHECK)
    report = _run(playbook, inventory, "--check", "--diff", report=True)
    tasks = [(t["task"]["name"].split(" : ")[-1], t["hosts"]["lab-mon"]) for t in report["plays"][0]["tasks"]]
    for included in (
        "Install, configure and run Loki (grafana.grafana.loki)",
        "Configure and run Grafana (grafana.grafana.grafana)",
        "Install, configure and run Promtail (grafana.grafana.promtail)",
    ):
        (result,) = [r for name, r in tasks if name == included]
        assert result.get("skipped"), f"{included} ran in a dry run without the package"
    notes = [r["msg"] for name, r in tasks if name == "Say what a dry run could not check"]
    assert len(notes) == 3 and all("is not on this host yet" in note for note in notes), notes
    stats = report["stats"]["lab-mon"]
    assert stats["failures"] == 0 and stats["unreachable"] == 0, stats


# --- Bad input: site.yml's preflight refuses it before any host changes (preflight.py) ---


CHECKSUMS = {"loki_package_sha256": "1" * 64, "promtail_package_sha256": "2" * 64, "grafana_package_sha256": "3" * 64}
BAD = {
    "retention": single_node(**CHECKSUMS, loki_retention_period="a month"),
    "retention_hours": single_node(**CHECKSUMS, loki_retention_period="36h"),
    "loki_checksum": single_node(**{**CHECKSUMS, "loki_package_sha256": ""}),
    "promtail_checksum": single_node(**{**CHECKSUMS, "promtail_package_sha256": ""}),
    "grafana_checksum": single_node(**{**CHECKSUMS, "grafana_package_sha256": "not-a-sum"}),
    "admin_password": single_node(**CHECKSUMS, grafana_admin_password=""),
    "oauth_secret": single_node(**CHECKSUMS, grafana_oauth_client_secret="short"),
    "root_url": single_node(**CHECKSUMS, grafana_root_url="http://10.0.0.5:3000/"),
    "latest": single_node(**CHECKSUMS, loki_version="latest"),
}


@pytest.mark.parametrize(
    "case, words",
    [
        ("retention", ("loki_retention_period", "a month")),
        ("retention_hours", ("loki_retention_period", "36h")),
        ("loki_checksum", ("loki_package_sha256",)),
        ("promtail_checksum", ("promtail_package_sha256",)),
        ("grafana_checksum", ("grafana_package_sha256", "not-a-sum")),
        ("admin_password", ("grafana_admin_password",)),
        ("oauth_secret", ("grafana_oauth_client_secret",)),
        ("root_url", ("grafana_root_url", "http://10.0.0.5:3000/")),
        ("latest", ("loki_version", "latest")),
    ],
)
def test_bad_logging_inputs_are_refused_by_name(preflight, case, words):
    assert_refused(preflight(BAD[case]), "standin", *words)
