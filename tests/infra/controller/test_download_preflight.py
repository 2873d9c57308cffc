"""The download-verify-install step the roles of upstream binaries share.

roles/shared/tasks/download.yml refuses a download that is not pinned (a
full URL, never "latest", with a sha256) before it fetches anything,
installs from the artifact only when its checksum matches, and changes
nothing on a second run or in check mode. tests/infra/controller/download.yml runs it
on this machine, under a temporary directory, from a file:// URL (no
network needed). Named *_preflight so `make test-infra` runs it.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(__file__).with_name("download.yml")
BIN = Path(sys.executable).parent
TOOL = b"#!/bin/sh\necho tool 1.2.3\n"


@pytest.fixture
def artifact(tmp_path):
    """A release archive on a "mirror" (a directory), and where the run installs."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        info = tarfile.TarInfo("tool-1.2.3/tool")
        info.size, info.mode = len(TOOL), 0o755
        tar.addfile(info, io.BytesIO(TOOL))
    mirror = tmp_path / "mirror" / "v1.2.3"
    mirror.mkdir(parents=True)
    (mirror / "tool-1.2.3.linux-amd64.tar.gz").write_bytes(data.getvalue())
    root = tmp_path / "host"
    (root / "bin").mkdir(parents=True)
    return {
        "url": f"file://{mirror}/tool-1.2.3.linux-amd64.tar.gz",
        "sha256": hashlib.sha256(data.getvalue()).hexdigest(),
        "root": root,
    }


def run(artifact, *options, **overrides):
    values = {
        "download_url": artifact["url"],
        "download_sha256": artifact["sha256"],
        "download_root": str(artifact["root"]),
        "ansible_python_interpreter": sys.executable,
    }
    values.update(overrides)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="true")
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-e", json.dumps(values), *options, str(PLAYBOOK)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    messages = [
        " ".join(str(r.get("msg", "")).split())
        for play in report["plays"]
        for task in play["tasks"]
        for r in task["hosts"].values()
        if r.get("failed")
    ]
    return result.returncode, report["stats"]["localhost"], messages


def installed(artifact):
    return artifact["root"] / "bin" / "tool"


def test_a_pinned_artifact_is_installed_once(artifact):
    rc, stats, messages = run(artifact)
    assert rc == 0, messages
    tool = installed(artifact)
    assert tool.read_bytes() == TOOL
    assert tool.stat().st_mode & 0o777 == 0o755
    rc, stats, messages = run(artifact)
    assert rc == 0 and stats["changed"] == 0, (stats, messages)


def test_a_dry_run_installs_nothing(artifact):
    rc, stats, messages = run(artifact, "--check")
    assert rc == 0, messages
    assert stats["changed"] > 0
    assert not (artifact["root"] / "cache").exists() or not any((artifact["root"] / "cache").iterdir())
    assert not installed(artifact).exists()


def test_an_artifact_whose_checksum_differs_is_not_installed(artifact):
    rc, stats, messages = run(artifact, download_sha256="0" * 64)
    assert rc != 0
    assert any("checksum" in m.lower() for m in messages), messages
    assert not installed(artifact).exists()


def test_latest_is_refused(artifact):
    rc, stats, messages = run(artifact, download_url=artifact["url"].replace("v1.2.3", "latest"))
    assert rc != 0
    assert any('no "latest"' in m for m in messages), messages
    assert not (artifact["root"] / "cache").exists()
