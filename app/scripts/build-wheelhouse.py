#!/usr/bin/env python3
"""Build the wheelhouse the gatehouse role installs from (`make wheelhouse`).

Runs on the controller, never on hosts. The result holds the app's wheel
built from app/, every dependency as a wheel for the hosts' CPython and
platform, requirements.txt pinning each of them with its sha256, and
wheelhouse.json naming the target (the role's preflight compares it with
each host), and wheelhouse.tar holding all of them: the one file the role
copies to hosts. Hosts then install with `pip install --no-index`: they need no
package index, so an air-gapped site works.

Dependency versions are pinned by a constraints file: by default the
versions installed in the developer venv, i.e. the ones the app's tests ran
with. pip resolves with the target's tags (--platform, --abi,
--python-version) but evaluates environment markers for the interpreter it
runs on; this script therefore re-walks the dependency tree with the
target's marker environment, fetches what the target needs and the
controller did not (redis-py needs async-timeout before CPython 3.11.3),
and drops what only the controller needed.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename


def marker_environment(python: str, arch: str) -> dict:
    major_minor = ".".join(python.split(".")[:2])
    return {
        "implementation_name": "cpython",
        "implementation_version": python,
        "os_name": "posix",
        "platform_machine": arch,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": python,
        "python_version": major_minor,
        "sys_platform": "linux",
    }


def target_options(python: str, arch: str, glibc: str) -> list[str]:
    abi = "cp" + "".join(python.split(".")[:2])
    options = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python]
    options += ["--abi", abi, "--abi", "abi3", "--abi", "none"]
    options += ["--platform", f"manylinux2014_{arch}"]
    glibc_minor = int(glibc.split(".")[1])
    options += [arg for minor in range(glibc_minor, 16, -1) for arg in ("--platform", f"manylinux_2_{minor}_{arch}")]
    return options


def wheels(directory: Path) -> dict:
    found = {}
    for path in sorted(directory.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(path.name)
        found[canonicalize_name(name)] = (path, version)
    return found


def requires(path: Path) -> list[Requirement]:
    with zipfile.ZipFile(path) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode())
    return [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]


def walk(roots: list[str], have: dict, environment: dict):
    """Return (needed names, missing requirements) for the target environment."""
    needed: dict[str, set] = {}
    missing: list[Requirement] = []
    queue = [(root, frozenset(), None) for root in roots]
    while queue:
        name, extras, requirement = queue.pop()
        if name in needed and extras <= needed[name]:
            continue
        needed.setdefault(name, set()).update(extras)
        if name not in have:
            missing.append(requirement)
            continue
        path, version = have[name]
        if requirement is not None and not requirement.specifier.contains(version, prereleases=True):
            sys.exit(f"wheelhouse: {path.name} does not satisfy {requirement}")
        for dependency in requires(path):
            wanted = dependency.marker is None or any(
                dependency.marker.evaluate({**environment, "extra": extra}) for extra in ({""} | set(extras))
            )
            if wanted:
                queue.append((canonicalize_name(dependency.name), frozenset(dependency.extras), dependency))
    return needed, missing


ARCHIVE = "wheelhouse.tar"


def write_archive(directory: Path, archive: Path) -> None:
    """One file for the role to copy; the same contents give the same bytes."""

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o644
        return info

    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(directory.iterdir()):
            if path.name != archive.name:
                tar.add(path, arcname=path.name, recursive=False, filter=normalise)


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True)  # noqa: S603 - our own arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default="app", help="the app's source directory")
    parser.add_argument("--output", default=".lab/wheelhouse")
    parser.add_argument("--python", default="3.11.2", help="the hosts' full CPython version")
    parser.add_argument("--arch", default="x86_64")
    parser.add_argument("--glibc", default="2.34", help="the oldest glibc among the hosts")
    parser.add_argument("--constraints", help="pins for the dependencies (default: this venv's packages)")
    args = parser.parse_args()

    output = Path(args.output)
    work = Path(tempfile.mkdtemp(prefix=output.name + ".", dir=output.parent if output.parent.exists() else None))
    try:
        constraints = Path(args.constraints) if args.constraints else work / "constraints.txt"
        if not args.constraints:
            frozen = subprocess.run(
                [sys.executable, "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            constraints.write_text(frozen)
        house = work / "wheelhouse"
        house.mkdir()
        # An absolute path: a bare "app" would be taken for a package name on the index.
        pip("wheel", "--no-deps", "-w", str(house), str(Path(args.app).resolve()))
        app_wheel = next(house.glob("*.whl"))
        app_name = canonicalize_name(parse_wheel_filename(app_wheel.name)[0])
        target = target_options(args.python, args.arch, args.glibc)
        # pip itself too: hosts make the venv without it (no python3-venv
        # package needed) and install everything with this wheel.
        pip("download", "-d", str(house), "-c", str(constraints), *target, str(app_wheel), "pip")

        environment = marker_environment(args.python, args.arch)
        for _ in range(20):
            needed, missing = walk([app_name, "pip"], wheels(house), environment)
            if not missing:
                break
            # Without the markers: pip would evaluate them for this interpreter again.
            wanted = {
                r.name + (f"[{','.join(sorted(r.extras))}]" if r.extras else "") + str(r.specifier) for r in missing
            }
            pip("download", "-d", str(house), "-c", str(constraints), *target, *sorted(wanted))
        else:
            sys.exit("wheelhouse: the dependency walk did not settle")
        for name, (path, _) in wheels(house).items():
            if name not in needed:
                path.unlink()

        lines = []
        for name, (path, version) in sorted(wheels(house).items()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            lines.append(f"{name}=={version} \\\n    --hash=sha256:{digest}\n")
        (house / "requirements.txt").write_text("".join(lines))
        target_info = {"python": args.python, "arch": args.arch, "glibc": args.glibc}
        (house / "wheelhouse.json").write_text(json.dumps(target_info, sort_keys=True) + "\n")
        write_archive(house, house / ARCHIVE)

        if output.exists():
            shutil.rmtree(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(house), str(output))
        print(
            f"wheelhouse: {output} ({len(lines)} wheels for CPython {args.python} {args.arch}, glibc >= {args.glibc})"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
