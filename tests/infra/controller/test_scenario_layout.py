"""Every role is tested, and its checks run in CI.

The test plan (docs/testing.md): each role has a scenario of its own
(molecule/<role>/, run by `make test-roles`) and a testinfra file
(tests/infra/hosts/test_<role>.py) that checks the hosts of its group. The
site scenarios, appliance and cluster, are what `make test` runs: each must
run every testinfra file, so no role's checks are left to a scenario CI does
not run. Drills are side_effect steps of cluster, one playbook each under
molecule/cluster/drills/.

The files a scenario's verifier runs are worked out the way molecule does
(molecule/verifier/testinfra.py): every test_*.py under `directory`
(relative to the scenario, default `tests`), plus `additional_files_or_dirs`
globbed relative to that directory; the scenario's molecule.yml is merged
over the shared base, .config/molecule/config.yml.
"""

import ast
import glob
import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
MOLECULE = REPO / "molecule"
HOST_CHECKS = REPO / "tests" / "infra" / "hosts"
SITE_SCENARIOS = ("appliance", "cluster")
# Roles with no hosts of their own: every role runs their tasks.
HELPER_ROLES = {
    # The OS variables, argument checks, port table and download step every
    # role includes; checked through the roles that use it and by
    # test_download_preflight.py and test_ports_preflight.py.
    "shared",
}
# Roles whose artifacts cannot be installed on these machines (LAB.md:
# Grafana, Loki and Promtail come from upstream downloads the lab cannot
# reach), so no scenario could converge them and no host could be checked.
# Instead each has render tests on the controller: the files its collection
# role would write, rendered from the lab cluster's inventory and checked
# (tests/infra/controller/test_logging_roles.py, functions test_<role>_*).
RENDERED_ONLY = {"grafana", "loki", "promtail"}
RENDER_TESTS = REPO / "tests" / "infra" / "controller" / "test_logging_roles.py"
ROLES = sorted(
    p.name for p in (REPO / "roles").iterdir() if p.is_dir() and p.name not in HELPER_ROLES | RENDERED_ONLY
)


def merged(scenario):
    """The scenario's molecule.yml over the shared base (dicts merge, the
    rest is replaced), as molecule reads it."""

    def merge(base, over):
        if isinstance(base, dict) and isinstance(over, dict):
            return {k: merge(base[k], over[k]) if k in base and k in over else over.get(k, base.get(k)) for k in base | over}
        return over

    base = yaml.safe_load((REPO / ".config" / "molecule" / "config.yml").read_text())
    return merge(base, yaml.safe_load((MOLECULE / scenario / "molecule.yml").read_text()))


def verified_files(scenario):
    verifier = merged(scenario).get("verifier", {})
    directory = os.path.normpath(MOLECULE / scenario / verifier.get("directory", "tests"))
    files = set(glob.glob(os.path.join(glob.escape(directory), "**", "test_*.py"), recursive=True))
    for extra in verifier.get("additional_files_or_dirs", []):
        files |= set(glob.glob(os.path.join(glob.escape(directory), extra)))
    return {Path(os.path.realpath(f)) for f in files}


def groups_checked_by(path):
    """The groups a check file is about: the constant arguments of its
    module-level hosts_checked(...) calls (tests/infra/hosts/inventory.py),
    which fail when the scenario has no such host."""
    tree = ast.parse(path.read_text())
    return [
        arg.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for call in ast.walk(node.value)
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "hosts_checked"
        for arg in call.args
        if isinstance(arg, ast.Constant)
    ]


def test_there_are_roles_to_check():
    assert {"common", "gatehouse", "mysql", "nginx", "redis"} <= set(ROLES)


@pytest.mark.parametrize("role", sorted(RENDERED_ONLY))
def test_every_role_without_a_scenario_has_render_tests(role):
    assert (REPO / "roles" / role).is_dir(), f"roles/{role} is gone: take it out of RENDERED_ONLY"
    tree = ast.parse(RENDER_TESTS.read_text())
    tests = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith(f"test_{role}_")]
    assert tests, f"roles/{role} has neither a scenario nor render tests (test_{role}_* in {RENDER_TESTS.name})"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_its_own_scenario(role):
    assert (MOLECULE / role / "molecule.yml").is_file(), (
        f"roles/{role} has no scenario: add molecule/{role}/molecule.yml (make test-roles runs it)"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_a_testinfra_file_on_its_group(role):
    path = HOST_CHECKS / f"test_{role}.py"
    assert path.is_file(), f"roles/{role} has no checks: add tests/infra/hosts/test_{role}.py"
    assert groups_checked_by(path), (
        f"{path.name} does not take its hosts from a group: testinfra_hosts = hosts_checked('<group>')"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_role_scenario_runs_the_role_checks(role):
    if not (MOLECULE / role / "molecule.yml").is_file():
        pytest.skip("no scenario (reported above)")
    assert HOST_CHECKS / f"test_{role}.py" in verified_files(role)


@pytest.mark.parametrize("scenario", SITE_SCENARIOS)
def test_every_testinfra_file_runs_in_every_site_scenario(scenario):
    wanted = set(HOST_CHECKS.glob("test_*.py"))
    missing = sorted(p.name for p in wanted - verified_files(scenario))
    assert not missing, f"molecule/{scenario} does not run {missing}, so CI would not check those roles"


def test_every_drill_is_a_step_of_the_cluster_scenario():
    steps = merged("cluster")["scenario"]["test_sequence"]
    named = {s.split(" ", 1)[1] for s in steps if s.startswith("side_effect ")}
    drills = {f"drills/{p.name}" for p in (MOLECULE / "cluster" / "drills").glob("*.yml")}
    assert drills, "no drills under molecule/cluster/drills/"
    assert drills <= named, f"drills not in cluster's test_sequence: {sorted(drills - named)}"
    for step in named:
        assert (MOLECULE / "cluster" / step).is_file(), f"cluster's test_sequence names a missing playbook: {step}"
    imported = yaml.safe_load((MOLECULE / "cluster" / "side_effect.yml").read_text())
    assert {p["ansible.builtin.import_playbook"] for p in imported} == named, (
        "molecule/cluster/side_effect.yml (molecule side_effect -s cluster) must run the same steps"
    )


def test_the_testinfra_files_and_the_role_scenarios_are_separate_from_the_controller_checks():
    # tests/infra/controller/ runs on this machine (make test-infra); nothing
    # there is a host check a scenario would pick up, and the other way round.
    assert not list((REPO / "tests" / "infra").glob("test_*.py"))
    for scenario in [*ROLES, *SITE_SCENARIOS]:
        if (MOLECULE / scenario / "molecule.yml").is_file():
            stray = [p for p in verified_files(scenario) if HOST_CHECKS not in p.parents]
            assert not stray, f"molecule/{scenario} runs checks outside tests/infra/hosts: {stray}"
