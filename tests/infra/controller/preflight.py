"""Run site.yml's preflight plays against stand-in hosts and read the outcome.

A case is a `Site`: an inventory of stand-in hosts, all of them this machine
(local connection), with the variables under test. `run(site)` writes it to a
directory of its own and runs the real site.yml in check mode with an
unmatched --tags, so only what is tagged `always` runs: the preflight plays
(and, when they pass, the argument checks of the tier plays). The JSON
callback gives back every play, task result and host's recap. A site may
name another playbook and other options (test_ports_preflight.py runs ports.yml with
--diff); the run is always in check mode.

Runs are slow (ansible starts, reads site.yml, runs some fifty tasks), so
`Runner` runs several at once, in threads; a test asks for the run of its
site and waits for it. A site can hold several hosts that each break one
rule of the same task: the task fails on all of them, every host's message
is in the result, and each test reads its own host's.

Every stand-in is this machine, so one set of gathered facts serves all of
them: the facts are gathered once and put in each run's fact cache (the
jsonfile cache ansible.cfg uses), and the plays' gathering (`smart`) finds
them there. A host listed in `Site.unknown_facts` gets none, and a facts
module that returns nothing: a host whose address cannot be learned.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
SITE_YML = REPO / "site.yml"
BIN = Path(sys.executable).parent
GROUPS = ("auth_servers", "db_primary", "db_replicas", "redis", "proxies", "monitoring", "backup_hosts")
STANDIN = "standin"

# The secrets and settings a good inventory has; cases override one of them.
GOOD_VARS = {
    "gatehouse_issuer": "https://id.example.org",
    "mysql_app_password": "preflight-app-password-0123456789",
    "mysql_replication_password": "preflight-repl-password-0123456789",
    "mysql_backup_password": "preflight-backup-password-0123456789",
    "mysql_binlog_password": "preflight-binlog-password-0123456789",
    "mysql_exporter_password": "preflight-exporter-password-0123456789",
    "backup_restic_password": "preflight-restic-password-0123456789",
    "redis_password": "preflight-redis-password-0123456789",
    "gatehouse_admin_password": "preflight-root-password-0123",
    "gatehouse_session_secret": "preflight-session-secret-0123456789-0123456789",
    "grafana_admin_password": "preflight-grafana-password-0123",
    "grafana_oauth_client_secret": "preflight-grafana-oauth-secret-0123456789",
    # Stand-ins: a site pins the vendor's packages by their real sha256.
    "loki_package_sha256": "1" * 64,
    "promtail_package_sha256": "2" * 64,
    "grafana_package_sha256": "3" * 64,
    # The stand-in wheelhouse every inventory directory gets (below).
    "gatehouse_wheelhouse_dir": "{{ inventory_dir }}/wheelhouse",
    "gatehouse_python": sys.executable,
}


def _wheelhouse_target(python=None, arch=None):
    python = python or ".".join(str(n) for n in sys.version_info[:3])
    return json.dumps({"python": python, "arch": arch or os.uname().machine, "glibc": "2.34"}) + "\n"


@dataclass(eq=False)
class Site:
    """An inventory: its hosts with their variables, and its groups.

    `groups` maps a group of GROUPS to its hosts; a group left out is empty.
    `vars` override GOOD_VARS for every host; `vault` is written to
    group_vars/all/vault.yml, encrypted with a password the run is not
    given; `files` are written into the inventory directory.
    """

    groups: dict[str, list[str]]
    hostvars: dict[str, dict] = field(default_factory=dict)
    vars: dict = field(default_factory=dict)
    vault: dict | None = None
    files: dict[str, str] = field(default_factory=dict)
    unknown_facts: tuple[str, ...] = ()
    playbook: Path = SITE_YML
    options: tuple[str, ...] = ("--tags", "preflight-only")

    @property
    def hosts(self):
        names = [h for g in GROUPS for h in self.groups.get(g, [])] + list(self.hostvars)
        return list(dict.fromkeys(names))

    def inventory(self):
        hosts = {}
        for name in self.hosts:
            hostvars = dict(self.hostvars.get(name, {}))
            if name in self.unknown_facts:
                # Gathering returns no facts for this host.
                hostvars["ansible_facts_modules"] = ["ansible.builtin.ping"]
            hosts[name] = hostvars or None
        groups = {g: {"hosts": {h: None for h in self.groups.get(g, [])}} for g in GROUPS}
        children = {g: groups[g] for g in GROUPS if g not in ("db_primary", "db_replicas")}
        children["mysql"] = {"children": {"db_primary": groups["db_primary"], "db_replicas": groups["db_replicas"]}}
        common = {
            "ansible_connection": "local",
            "ansible_become": False,
            "ansible_python_interpreter": sys.executable,
        }
        return {"all": {"vars": {**common, **GOOD_VARS, **self.vars}, "hosts": hosts, "children": children}}

    def write(self, directory: Path):
        directory.mkdir(parents=True)
        (directory / "hosts.yml").write_text(yaml.safe_dump(self.inventory(), sort_keys=False))
        files = {
            "wheelhouse/wheelhouse.tar": "",
            "wheelhouse/wheelhouse.json": _wheelhouse_target(),
            **self.files,
        }
        for name, text in files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(text)
        if self.vault is not None:
            (directory / "group_vars" / "all").mkdir(parents=True)
            (directory / "group_vars" / "all" / "vault.yml").write_text(_encrypt(yaml.safe_dump(self.vault)))
        return directory / "hosts.yml"


def single_node(**variables):
    """One stand-in host in every group, as a single-node site has."""
    return Site(groups={g: [STANDIN] for g in GROUPS if g != "db_replicas"}, vars=variables)


def wheelhouse_for(python, arch=None):
    """Files of a stand-in wheelhouse built for another Python, in ./other."""
    return {"other/wheelhouse.tar": "", "other/wheelhouse.json": _wheelhouse_target(python, arch)}


def _encrypt(text):
    from ansible.constants import DEFAULT_VAULT_ID_MATCH
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(b"a password the run is not given"))])
    return vault.encrypt(text).decode()


@dataclass
class Failure:
    play: str
    task: str
    host: str
    msg: str
    assertion: str | None


@dataclass
class Run:
    """What one ansible-playbook run did."""

    returncode: int
    report: dict | None
    stderr: str

    @property
    def plays(self):
        return [p["play"]["name"] for p in (self.report or {}).get("plays", [])]

    @property
    def failures(self):
        found = []
        for play in (self.report or {}).get("plays", []):
            for task in play["tasks"]:
                for host, result in task["hosts"].items():
                    items = result.get("results") if isinstance(result.get("results"), list) else [result]
                    for r in items:
                        if isinstance(r, dict) and r.get("failed"):
                            msg = " ".join(str(r.get("msg", "")).split())
                            found.append(
                                Failure(play["play"]["name"], task["task"]["name"], host, msg, r.get("assertion"))
                            )
        return found

    @property
    def changed(self):
        """Hosts whose recap counts a change, with the count."""
        stats = (self.report or {}).get("stats", {})
        return {host: s["changed"] for host, s in stats.items() if s.get("changed")}

    def diffs(self, task: str) -> dict[str, str]:
        """The file each host's run of `task` (named without its role) would write, by host."""
        found = {}
        for play in (self.report or {}).get("plays", []):
            for entry in play["tasks"]:
                if entry["task"]["name"].split(" : ")[-1] != task:
                    continue
                for host, result in entry["hosts"].items():
                    diff = result.get("diff")
                    for d in diff if isinstance(diff, list) else [diff] if diff else []:
                        if "after" in d:
                            found[host] = d["after"]
        return found

    def summary(self):
        failures = "\n".join(f"  [{f.host}] {f.play} / {f.task}: {f.msg}" for f in self.failures)
        return f"rc={self.returncode}; plays: {self.plays}\nfailures:\n{failures}\nstderr: {self.stderr[-2000:]}"


def assert_refused(run: Run, host: str, *words: str, assertion: str | None = None):
    """The preflight stopped the run on `host`, before any change.

    One failure message of `host`, in a preflight play, holds every one of
    `words` (the variable's name, and what is wrong with it); when the
    failing task is an assert of several conditions, `assertion` is the one
    that must be the false one. No play after the preflight began, and no
    host's recap counts a change.
    """
    assert run.returncode != 0, run.summary()
    mine = [f for f in run.failures if f.host == host and f.play.startswith("Preflight |")]
    matching = [f for f in mine if all(w in f.msg for w in words)]
    assert matching, f"no preflight failure of {host} says {words}\n{run.summary()}"
    if assertion is not None:
        assert any(" ".join(str(f.assertion).split()) == assertion for f in matching), (
            f"{host} failed on another condition than {assertion!r}: {[f.assertion for f in matching]}"
        )
    assert all(p.startswith("Preflight |") for p in run.plays), f"a play after the preflight began: {run.plays}"
    assert not run.changed, f"changed: {run.changed}\n{run.summary()}"


class Runner:
    """Runs sites with ansible-playbook, `jobs` at a time, each run once."""

    def __init__(self, workdir: Path, jobs: int):
        self.workdir = workdir
        self.pool = ThreadPoolExecutor(max_workers=jobs)
        self.lock = threading.Lock()
        self.runs: dict[int, tuple[Site, Future]] = {}
        self.facts: Future | None = None

    def submit(self, site: Site) -> Future:
        with self.lock:
            if self.facts is None:
                self.facts = self.pool.submit(self._gather_facts)
            if id(site) not in self.runs:
                self.runs[id(site)] = (site, self.pool.submit(self._run, site, len(self.runs)))
            return self.runs[id(site)][1]

    def run(self, site: Site) -> Run:
        return self.submit(site).result()

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _env(self, facts_dir):
        env = dict(
            os.environ,
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_NOCOLOR="true",
            ANSIBLE_CACHE_PLUGIN="jsonfile",
            ANSIBLE_CACHE_PLUGIN_CONNECTION=str(facts_dir),
            ANSIBLE_GATHERING="smart",
            ANSIBLE_RETRY_FILES_ENABLED="false",
        )
        for name in (
            "ANSIBLE_VAULT_PASSWORD_FILE",
            "ANSIBLE_VAULT_IDENTITY_LIST",
            "ANSIBLE_CONFIG",
            "ANSIBLE_CALLBACKS_ENABLED",
        ):
            env.pop(name, None)
        return env

    def _gather_facts(self):
        """This machine's facts, cached once: returns the cache file's prefix and the file."""
        directory = self.workdir / "facts"
        inventory = self.workdir / "facts.yml"
        inventory.write_text(
            f"all:\n  hosts:\n    {STANDIN}:\n      ansible_connection: local\n"
            f"      ansible_python_interpreter: {sys.executable}\n"
        )
        result = subprocess.run(
            [str(BIN / "ansible"), "-i", str(inventory), STANDIN, "-m", "ansible.builtin.setup"],
            cwd=REPO,
            env=self._env(directory),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"gathering this machine's facts failed:\n{result.stdout[-2000:]}{result.stderr}"
        (cached,) = [p for p in directory.iterdir() if p.name.endswith(STANDIN)]
        return cached.name[: -len(STANDIN)], cached

    def _run(self, site: Site, number: int) -> Run:
        directory = self.workdir / f"site{number}"
        inventory = site.write(directory)
        prefix, cached = self.facts.result()
        facts = directory / "facts"
        facts.mkdir()
        for host in site.hosts:
            if host not in site.unknown_facts:
                shutil.copyfile(cached, facts / f"{prefix}{host}")
        result = subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(inventory), "--check", *site.options, str(site.playbook)],
            cwd=REPO,
            env=self._env(facts),
            capture_output=True,
            text=True,
            timeout=900,
        )
        try:
            report = json.loads(result.stdout)
        except ValueError:
            report = None
        return Run(result.returncode, report, result.stderr + ("" if report else result.stdout))
