"""The server under test: gunicorn as production runs it, pinned to one core;
and what /proc says about it (CPU time, memory)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """`taskset -c CPU gunicorn -c python:gatehouse.entry.gunicorn_conf gatehouse.entry.asgi:app`."""

    def __init__(self, env: dict, cpu: int, gunicorn: str, log_path: Path, prefix: list[str] | None = None):
        self.env = env
        self.cpu = cpu
        self.gunicorn = gunicorn
        self.log_path = log_path
        self.prefix = prefix or []  # e.g. ["nice", "-n", "-10"]
        self.process: subprocess.Popen | None = None
        self.url = f"http://{env['SERVER_HOST']}:{env['SERVER_PORT']}"

    def start(self, timeout: float = 60.0) -> None:
        command = [
            *self.prefix,
            "taskset",
            "-c",
            str(self.cpu),
            self.gunicorn,
            "-c",
            "python:gatehouse.entry.gunicorn_conf",
            "gatehouse.entry.asgi:app",
        ]
        self._log = open(self.log_path, "ab")  # closed in stop()
        self.process = subprocess.Popen(
            command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/health/ready", timeout=2) as response:
                    if response.status == 200 and self.worker_pids():
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"gunicorn did not become ready in {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._log.close()

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> list[int]:
        return children(self.process.pid)


def children(pid: int) -> list[int]:
    result = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            result += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return result


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process (all its threads), in seconds."""
    if not pid:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def memory(pid: int) -> dict:
    """VmRSS and VmHWM from /proc/PID/status and Pss from smaps_rollup, in MiB."""
    result = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            result[name] = int(value.split()[0]) / 1024
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                result["Pss"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return result


def pid_from_file(path: str | None) -> int | None:
    if not path:
        return None
    try:
        pid = int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None
