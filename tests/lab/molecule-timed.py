#!/usr/bin/env python3
"""`molecule test -s SCENARIO`, with the seconds of each action in the timings file.

Molecule's output passes through as it comes (stderr merged into stdout, so
the two keep their order in a log). Molecule logs every action of the test
sequence as it starts and ends; without colours (NO_COLOR=1) those lines read

    INFO     [cluster > converge] Executing
    INFO     [cluster > converge] Executed: Successful
    ERROR    [cluster > verify] Executed: Failed

and each such pair becomes a row "cluster: converge" (tests/lab/timings.py).
A sequence entry with an argument, "side_effect drills/auth_failover.yml",
logs as plain "side_effect": the n-th side_effect that starts is the n-th
side_effect entry of scenario.test_sequence (molecule/<s>/molecule.yml, else
.config/molecule/config.yml), and its row is "cluster: drill auth_failover"
("side_effect verify" for a playbook outside drills/, such as
../../playbooks/verify.yml).
The quick actions (dependency, syntax, cleanup, ...) and molecule's own
start-up share one row, "other", so a scenario's rows add up to its total;
the total is the row "cluster" itself. Exits with molecule's status.

Usage: tests/lab/molecule-timed.py SCENARIO [MOLECULE_TEST_ARGS...]
Run it from the project's root, as molecule itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timings  # noqa: E402 (next to this file, not an installed module)

# Actions worth a row each; the others are quick and go to "other".
OWN_ROW = ("create", "prepare", "check", "converge", "idempotence", "side_effect", "verify", "destroy")
# With colours molecule writes "cluster ➜ converge:" instead of "[cluster > converge]"; both are read.
ACTION_LINE = re.compile(
    r"^(?:INFO|WARNING|ERROR|CRITICAL|DEBUG)\s+\[?(?P<scenario>[\w.-]+) (?:>|➜) (?P<action>\w+)\]?:?\s+"
    r"(?P<event>Executing$|Executed: (?P<result>\w+))"
)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def test_sequence(scenario: str, root: Path) -> list[str]:
    """The scenario's test_sequence entries, from its molecule.yml or else the shared base config."""
    import yaml  # in .venv/ with molecule; only needed here

    for file in (root / "molecule" / scenario / "molecule.yml", root / ".config" / "molecule" / "config.yml"):
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        sequence = (data.get("scenario") or {}).get("test_sequence")
        if sequence:
            return [str(entry) for entry in sequence]
    return []


def drill_labels(sequence: list[str]) -> list[str]:
    """One label per side_effect entry, in order: "drill <basename>" for a playbook
    under drills/, "side_effect <basename>" for another playbook, else "side_effect"."""
    labels = []
    for entry in sequence:
        action, _, argument = entry.partition(" ")
        if action != "side_effect":
            continue
        playbook = Path(argument.strip())
        if not argument.strip():
            labels.append("side_effect")
        elif "drills" in playbook.parts:
            labels.append(f"drill {playbook.stem}")
        else:
            labels.append(f"side_effect {playbook.stem}")
    return labels


def result_status(result: str | None) -> str:
    if result is None:
        return "FAILED"  # started and never ended: molecule died or was stopped
    return {"successful": "ok", "failed": "FAILED"}.get(result.lower(), result.lower())


class Recorder:
    """Turns molecule's action lines into rows, as the lines arrive."""

    def __init__(self, scenario: str, sequence: list[str], file: Path | None = None, clock=time.time):
        self.scenario = scenario
        self.drills = drill_labels(sequence)
        self.file = file
        self.clock = clock
        self.started = clock()
        self.side_effects = 0
        self.seen: dict[str, int] = {}
        self.current: tuple[str, float] | None = None  # (label, started) of the action running now
        self.own_seconds = 0.0
        self.others: list[str] = []
        self.rows: list[timings.Row] = []
        # How often each own-row action appears, to tell "destroy (1 of 2)" from "destroy (2 of 2)".
        self.counts: dict[str, int] = {}
        for entry in sequence:
            action = entry.partition(" ")[0]
            self.counts[action] = self.counts.get(action, 0) + 1

    def label(self, action: str) -> str:
        if action == "side_effect":
            self.side_effects += 1
            if self.side_effects <= len(self.drills):
                return self.drills[self.side_effects - 1]
            return "side_effect"
        self.seen[action] = self.seen.get(action, 0) + 1
        total = self.counts.get(action, 1)
        if total > 1 and self.seen[action] <= total:
            return f"{action} ({self.seen[action]} of {total})"
        return action  # also the cleanup/destroy molecule adds after a failure

    def line(self, text: str) -> None:
        match = ACTION_LINE.match(ANSI.sub("", text).rstrip("\n"))
        if not match or match["scenario"] != self.scenario:
            return
        action = match["action"]
        if match["event"] == "Executing":
            self.end_current(None)
            if action in OWN_ROW:
                self.current = (self.label(action), self.clock())
            else:
                if action not in self.others:
                    self.others.append(action)
                self.current = None
        elif self.current is not None:
            self.end_current(match["result"])

    def end_current(self, result: str | None) -> None:
        if self.current is None:
            return
        label, started = self.current
        self.current = None
        row = timings.add(f"{self.scenario}: {label}", result_status(result), started, self.clock(), "part", self.file)
        self.own_seconds += row.seconds or 0.0
        self.rows.append(row)

    def finish(self, returncode: int) -> None:
        """The row "other" (quick actions and molecule's own start-up) and the scenario's total."""
        self.end_current(None if returncode else "Successful")
        ended = self.clock()
        other = max(0.0, ended - self.started - self.own_seconds)
        what = ", ".join([*self.others, "start-up"])
        row = timings.Row(f"{self.scenario}: other ({what})", other, "ok", "part", None, None)
        timings.append(row, self.file)
        self.rows.append(row)
        status = "ok" if returncode == 0 else "FAILED"
        self.rows.append(timings.add(self.scenario, status, self.started, ended, "stage", self.file))


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    scenario, extra = argv[0], argv[1:]
    recorder = Recorder(scenario, test_sequence(scenario, Path.cwd()))
    # Plain text, so the action lines can be read and the log reads well in a file.
    env = dict(os.environ, NO_COLOR="1", PY_COLORS="0", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env["PYTHONUNBUFFERED"] = "1"  # lines as they happen, or the seconds would be wrong
    process = subprocess.Popen(  # noqa: S603 (our own command line)
        ["molecule", "test", "-s", scenario, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    assert process.stdout is not None
    try:
        for raw in process.stdout:
            sys.stdout.buffer.write(raw)
            sys.stdout.buffer.flush()
            recorder.line(raw.decode("utf-8", "replace"))
        returncode = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        returncode = process.wait()
    recorder.finish(returncode)
    # Killed by a signal (negative): the shell's convention, 128 + the signal's number.
    return returncode if returncode >= 0 else 128 - returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
