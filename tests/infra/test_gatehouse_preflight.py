"""Bad auth-server inputs stop site.yml before any host changes.

Each case runs the real site.yml, in check mode and limited to its
always-tagged Preflight play (an unmatched --tags runs only what is tagged
`always`), on one stand-in host that is this machine (local connection) and
is in every group. The play must fail with a message naming the variable,
and the recap must show no change. A good inventory passes the same play.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "site.yml"
GROUPS = ("auth_servers", "db_primary", "redis", "proxies", "monitoring", "backup_hosts")
GOOD = {
    "gatehouse_issuer": "https://id.example.org",
    "mysql_app_password": "preflight-app-password-0123456789",
    "mysql_replication_password": "preflight-repl-password-0123456789",
    "redis_password": "preflight-redis-password-0123456789",
    "gatehouse_admin_password": "preflight-admin-password-0123",
    "gatehouse_session_secret": "preflight-session-secret-0123456789-0123456789",
}


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    """A stand-in wheelhouse for this machine's Python: the preflight only reads its target."""
    path = tmp_path_factory.mktemp("wheelhouse")
    (path / "wheelhouse.tar").write_bytes(b"")
    version = ".".join(str(n) for n in sys.version_info[:3])
    (path / "wheelhouse.json").write_text(
        f'{{"python": "{version}", "arch": "{os.uname().machine}", "glibc": "2.34"}}\n'
    )
    return path


def inventory(tmp_path, wheelhouse, **overrides):
    values = {**GOOD, "gatehouse_wheelhouse_dir": str(wheelhouse), "gatehouse_python": sys.executable, **overrides}
    lines = [
        "all:",
        "  vars:",
        "    ansible_connection: local",
        "    ansible_become: false",
        f"    ansible_python_interpreter: {sys.executable}",
    ]
    lines += [f"    {key}: {value!r}" for key, value in values.items()]
    lines += ["  children:"]
    for group in GROUPS:
        lines += [f"    {group}:", "      hosts:", "        standin: {}"]
    lines += ["    mysql:", "      children:", "        db_primary: {}", "        db_replicas:", "          hosts: {}"]
    path = tmp_path / "hosts.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(inventory_path):
    env = dict(
        os.environ,
        ANSIBLE_FORCE_COLOR="false",
        ANSIBLE_NOCOLOR="true",
        ANSIBLE_CACHE_PLUGIN="memory",
        ANSIBLE_RETRY_FILES_ENABLED="false",
    )
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    result = subprocess.run(
        [str(ansible_playbook), "-i", str(inventory_path), "--check", "--tags", "preflight-only", str(SITE)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.returncode, result.stdout + result.stderr


def assert_stopped_in_preflight(rc, out):
    assert rc != 0, out[-3000:]
    assert "PLAY [Install the database servers]" not in out, out[-3000:]
    recap = re.findall(r"changed=(\d+)", out.split("PLAY RECAP")[-1])
    assert recap and all(n == "0" for n in recap), out[-2000:]


def test_a_good_inventory_passes_the_preflight(tmp_path, wheelhouse):
    rc, out = run(inventory(tmp_path, wheelhouse))
    assert rc == 0, out[-3000:]
    assert "gatehouse : Preflight | Check gatehouse_issuer" in out


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("gatehouse_issuer", "http://id.example.org", "gatehouse_issuer must be the public https URL"),
        ("gatehouse_workers", "many", "gatehouse_workers"),
        ("gatehouse_jwt_algorithm", "HS256", "gatehouse_jwt_algorithm"),
        ("gatehouse_session_secret", "short", "gatehouse_session_secret must have at least 32 characters"),
        ("gatehouse_admin_password", "short", "gatehouse_admin_password must have at least 12 characters"),
    ],
)
def test_a_bad_variable_fails_naming_it_before_any_change(tmp_path, wheelhouse, variable, value, message):
    rc, out = run(inventory(tmp_path, wheelhouse, **{variable: value}))
    assert_stopped_in_preflight(rc, out)
    assert message in out, out[-3000:]


def test_a_missing_wheelhouse_fails_saying_how_to_build_it(tmp_path, wheelhouse):
    rc, out = run(inventory(tmp_path, wheelhouse, gatehouse_wheelhouse_dir=str(tmp_path / "none")))
    assert_stopped_in_preflight(rc, out)
    assert "make wheelhouse" in out, out[-3000:]


def test_a_wheelhouse_for_another_python_fails(tmp_path, wheelhouse):
    other = tmp_path / "other"
    other.mkdir()
    (other / "wheelhouse.tar").write_bytes(b"")
    (other / "wheelhouse.json").write_text('{"python": "3.9.2", "arch": "x86_64", "glibc": "2.34"}\n')
    rc, out = run(inventory(tmp_path, wheelhouse, gatehouse_wheelhouse_dir=str(other)))
    assert_stopped_in_preflight(rc, out)
    assert "is for CPython 3.9.2" in out, out[-3000:]
