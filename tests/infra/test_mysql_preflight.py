"""Bad database inputs stop playbooks/database.yml before any host changes.

Each case runs the real playbook, in check mode, on stand-in hosts that are
this machine (local connection): the preflight must fail on them with a
message naming the variable or group, and the recap must show no change.
Check mode keeps the machine safe even if a preflight let bad input through.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "database.yml"
GOOD = {
    "mysql_app_password": "preflight-app-password-0123456789",
    "mysql_replication_password": "preflight-repl-password-0123456789",
}


def inventory(tmp_path, primaries, replicas, hostvars=None, groupvars=None):
    hostvars = hostvars or {}
    lines = [
        "all:",
        "  vars:",
        "    ansible_connection: local",
        "    ansible_become: false",
        f"    ansible_python_interpreter: {sys.executable}",
    ]
    for key, value in {**GOOD, **(groupvars or {})}.items():
        lines.append(f"    {key}: {value!r}")
    lines += ["  children:", "    mysql:", "      children:"]
    for group, hosts in (("db_primary", primaries), ("db_replicas", replicas)):
        lines += [f"        {group}:", "          hosts:" + ("" if hosts else " {}")]
        for h in hosts:
            extra = hostvars.get(h, {})
            lines.append(f"            {h}:" + ("" if extra else " {}"))
            for key, value in extra.items():
                lines.append(f"              {key}: {value!r}")
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
        [str(ansible_playbook), "-i", str(inventory_path), "--check", str(PLAYBOOK)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.returncode, result.stdout + result.stderr


def assert_nothing_changed(output):
    recap = re.findall(r"changed=(\d+)", output.split("PLAY RECAP")[-1])
    assert recap and all(n == "0" for n in recap), output[-2000:]


def test_two_hosts_with_the_same_server_id_fail_naming_the_variable(tmp_path):
    inv = inventory(
        tmp_path, ["db-a"], ["db-b"], hostvars={"db-a": {"mysql_server_id": 7}, "db-b": {"mysql_server_id": 7}}
    )
    rc, out = run(inv)
    assert rc != 0
    assert "mysql_server_id 7 is used by db-a, db-b" in out, out[-3000:]
    assert "Install the server packages" not in out
    assert_nothing_changed(out)


def test_replicas_without_a_primary_fail_naming_the_group(tmp_path):
    rc, out = run(inventory(tmp_path, [], ["db-b", "db-c"]))
    assert rc != 0
    assert "'db_primary' (mysql_primary_group) must" in out, out[-3000:]
    assert "Install the server packages" not in out
    assert_nothing_changed(out)


def test_a_missing_secret_fails_naming_it(tmp_path):
    # The replication password is needed only when there are replicas; the
    # app password check is the same assert on another variable.
    variable = "mysql_replication_password"
    rc, out = run(inventory(tmp_path, ["db-a"], ["db-b"], groupvars={variable: ""}))
    assert rc != 0
    assert f"{variable} is missing" in out, out[-3000:]
    assert "Install the server packages" not in out
    assert_nothing_changed(out)
