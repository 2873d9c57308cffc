#!/usr/bin/env python3
"""The timings file of `make test` and the table printed from it.

`make test` and the scripts it calls add one row per stage (lint, app-sqlite,
a molecule scenario, ...) and one per part of a stage (a molecule action),
so the end of every run shows where the minutes went (DESIGN.md: "Tests and
their time budget"). The file is $GATEHOUSE_TIMINGS, by default
.lab/timings.tsv; tab-separated, one row a line:

    name  seconds  status  kind  started  ended

status is ok, FAILED, "not run" (a stage after a failure) or molecule's word
for an action it did not run (skipped, missing, disabled); only FAILED fails.
kind is `stage` or `part`; a part named "<stage>: <what>" is shown under its
stage. started/ended are Unix times, so the total is the wall clock from the
first start to the last end, right even when stages ran in parallel.
Standard library only: the stage runner uses it before .venv/ exists.

    timings.py reset                                 empty the file
    timings.py add NAME STATUS STARTED ENDED [--part]  one row (times from $EPOCHREALTIME)
    timings.py not-run NAME...                       a "not run" row for each NAME without a row
    timings.py table                                 print the table
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HEADER = "# name\tseconds\tstatus\tkind\tstarted\tended\n"
NOT_RUN = "not run"


def path() -> Path:
    return Path(os.environ.get("GATEHOUSE_TIMINGS") or REPO_ROOT / ".lab" / "timings.tsv")


@dataclass
class Row:
    name: str
    seconds: float | None
    status: str
    kind: str = "stage"
    started: float | None = None
    ended: float | None = None

    def line(self) -> str:
        def number(value: float | None) -> str:
            return "" if value is None else f"{value:.3f}"

        # A tab or newline in a name would break the file; none of ours has one.
        name = " ".join(self.name.split())
        fields = [name, number(self.seconds), self.status, self.kind, number(self.started), number(self.ended)]
        return "\t".join(fields) + "\n"


def reset(file: Path | None = None) -> None:
    file = file or path()
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(HEADER)


def append(row: Row, file: Path | None = None) -> None:
    """Add a row. One short write in append mode, so two processes adding rows
    at the same moment (the app's two backends) never interleave."""
    file = file or path()
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, "a") as out:
        out.write(row.line())


def add(name: str, status: str, started: float, ended: float, kind: str = "stage", file: Path | None = None) -> Row:
    row = Row(name, max(0.0, ended - started), status, kind, started, ended)
    append(row, file)
    return row


def read(file: Path | None = None) -> list[Row]:
    file = file or path()
    if not file.exists():
        return []
    rows = []
    for line in file.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = (line.split("\t") + [""] * 6)[:6]
        name, seconds, status, kind, started, ended = fields

        def number(text: str) -> float | None:
            return float(text) if text else None

        rows.append(Row(name, number(seconds), status, kind or "stage", number(started), number(ended)))
    return rows


def not_run(names: list[str], file: Path | None = None) -> None:
    """After a failure: the stages that never started, so the table shows what is missing."""
    seen = {row.name for row in read(file)}
    for name in names:
        if name not in seen:
            append(Row(name, None, NOT_RUN), file)
            seen.add(name)


def ordered(rows: list[Row]) -> list[Row]:
    """Each stage followed by its parts, stages in the order they first appear.

    A scenario's parts are written as its actions end and the scenario's own
    row last, yet the table reads better with the scenario's row on top."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        group = row.name.split(": ", 1)[0] if row.kind == "part" else row.name
        groups.setdefault(group, []).append(row)
    result = []
    for members in groups.values():
        result += [r for r in members if r.kind != "part"] + [r for r in members if r.kind == "part"]
    return result


def minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"


def table(rows: list[Row], title: str) -> str:
    shown = ordered(rows)
    labels = [("  " + r.name if r.kind == "part" else r.name) for r in shown]
    width = max([len(label) for label in labels] + [len("total (wall clock)"), len("stage")])
    lines = [title, f"  {'stage':<{width}}  {'seconds':>7}  status"]
    for label, row in zip(labels, shown, strict=True):
        seconds = "-" if row.seconds is None else f"{row.seconds:.0f}"
        lines.append(f"  {label:<{width}}  {seconds:>7}  {row.status}")
    starts = [r.started for r in rows if r.started is not None]
    ends = [r.ended for r in rows if r.ended is not None]
    wall = (max(ends) - min(starts)) if starts and ends else 0.0
    stages = [r for r in rows if r.kind == "stage"]
    failed = any(r.status == "FAILED" for r in rows)
    status = "FAILED" if failed else ("incomplete" if any(r.status == NOT_RUN for r in stages) else "ok")
    lines.append(f"  {'-' * width}  {'-' * 7}  ------")
    lines.append(f"  {'total (wall clock)':<{width}}  {wall:>7.0f}  {status}  ({minutes(wall)})")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("reset")
    adding = commands.add_parser("add")
    adding.add_argument("name")
    adding.add_argument("status")
    adding.add_argument("started", type=float)
    adding.add_argument("ended", type=float)
    adding.add_argument("--part", action="store_true", help="a part of a stage, shown under it")
    missing = commands.add_parser("not-run")
    missing.add_argument("names", nargs="*")
    showing = commands.add_parser("table")
    showing.add_argument("--title", default=None)
    args = parser.parse_args(argv)

    if args.command == "reset":
        reset()
    elif args.command == "add":
        add(args.name, args.status, args.started, args.ended, "part" if args.part else "stage")
    elif args.command == "not-run":
        not_run(args.names)
    else:
        rows = read()
        if not rows:
            print(f"no timings in {path()}")
            return 0
        shown_path = path()
        if shown_path.is_absolute() and shown_path.is_relative_to(Path.cwd()):
            shown_path = shown_path.relative_to(Path.cwd())
        print(table(rows, args.title or f"Seconds per stage ({shown_path}):"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
