"""Where the worker's time goes, from py-spy's collapsed stacks.

`python tests/perf/profile_summary.py .lab/bench/profile-client_credentials.txt [N]`

The profile is taken with `--idle`, so the event-loop thread's samples add
up to wall-clock time: the time the loop spends blocked on a MariaDB or
Redis reply (queries run synchronously on the loop) shows up beside the
time it computes. Prints a breakdown by what the request does, then the
top functions inclusive and self, then self time by package.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
EVENT_LOOP_THREAD = "UvicornWorker.run"
# Leaf frames of a send or receive to MariaDB (PyMySQL) or Redis (redis-py): the
# syscall, and the wait for the reply, which the loop spends blocked.
SOCKET_WAIT = ("readinto (socket.py", "_read_from_socket (redis/", "send_packed_command", "_write_bytes (pymysql/")


def parse(path: Path):
    """(frames root→leaf as 'func (file)', count) per collapsed line."""
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for frame in stack.split(";"):
            match = FRAME.match(frame)
            frames.append(f"{match['func']} ({match['file']})" if match else frame)
        yield frames, int(count)


def has(*parts):
    return lambda frames: any(p in f for f in frames for p in parts)


def adjacent(outer, inner):
    """A frame matching `inner` called directly by one matching `outer`."""
    return lambda frames: any(outer in a and inner in b for a, b in zip(frames, frames[1:], strict=False))


def waiting(*parts):
    """In a socket call under a frame matching one of `parts` (a MariaDB or Redis round trip)."""
    return lambda frames: has(*parts)(frames) and any(w in frames[-1] for w in SOCKET_WAIT)


def idle_loop(frames):
    """The loop's own C code (uvloop, httptools) or nothing to do: no Python request frame running."""
    return not any("run_asgi" in f or "RequestMiddleware" in f for f in frames)


def blocked(frames):
    """Not running Python: the loop idle (or in C), or in a socket call to MariaDB or Redis."""
    return idle_loop(frames) or any(w in frames[-1] for w in SOCKET_WAIT)


BREAKDOWN = [
    ("event loop in C (uvloop I/O, httptools) or idle", idle_loop),
    ("request in the ASGI stack (uvicorn → FastAPI → Gatehouse)", has("run_asgi")),
    ("  Gatehouse RequestMiddleware and below", has("RequestMiddleware.__call__")),
    (
        "    endpoint function",
        has("token (gatehouse/web/endpoints/token.py)", "introspection (gatehouse/web/endpoints/introspection.py)"),
    ),
    ("      read_form (body, parse_qsl)", has("read_form (gatehouse/")),
    ("      rate limiter (Limiter.hit, Redis INCR+EXPIRE)", has("Limiter.hit")),
    ("        of which socket send/wait, Redis", waiting("Limiter.hit")),
    ("      client lookup + secret check (authenticate_client)", has("authenticate_client")),
    ("      JWT signing (TokenSigner.sign)", has("TokenSigner.sign")),
    ("        of which the RSA/EC signature", has("_RSAAlgModel.sign", "_ECAlgModel.sign", "OKPAlgModel.sign")),
    ("      JWT verification (TokenSigner.verify)", has("TokenSigner.verify")),
    ("      revocation lookup (TokenService.is_revoked)", has("TokenService.is_revoked")),
    (
        "      audit row INSERT (audit.record → AuditLog.create)",
        adjacent("record (gatehouse/runtime/audit.py", "create"),
    ),
    ("        of which socket send/wait, MariaDB", waiting("record (gatehouse/runtime/audit.py")),
    ("      audit log line (audit.record → log.info)", adjacent("record (gatehouse/runtime/audit.py", "Logger.info")),
    ("      response (oauth_answer, json.dumps)", has("oauth_answer (gatehouse/")),
    ("    access log line (RequestMiddleware → log.info)", adjacent("RequestMiddleware.__call__", "Logger.info")),
    ("    Prometheus counters/histogram", has("prometheus_client/")),
    ("  all MariaDB work (peewee + PyMySQL)", has("peewee.py", "pymysql/")),
    ("    of which socket send/wait", waiting("pymysql/")),
    ("  all Redis work (redis-py)", has("redis/")),
    ("    of which socket send/wait", waiting("redis/")),
    ("  all logging (JSON formatting, file write)", has("logging/__init__.py")),
]


def summarize(path: Path, top: int = 25) -> str:
    loop_stacks = []
    other_threads = 0
    for frames, count in parse(path):
        if any(EVENT_LOOP_THREAD in f for f in frames):
            loop_stacks.append((frames, count))
        else:
            other_threads += count
    total = sum(count for _, count in loop_stacks)
    if not total:
        return f"{path}: no samples of the event-loop thread"
    out = [
        f"## Profile: {path}",
        "",
        f"{total} samples of the event-loop thread (wall-clock, idle included); "
        f"{other_threads} of other threads (thread pool, argon2) not counted below.",
        "",
        "Breakdown, inclusive. wall = share of the loop's wall-clock time; CPU = share of the samples",
        "where the loop was running Python (neither idle nor in a socket call to MariaDB/Redis):",
        "",
        "    wall     CPU",
    ]
    computing = [(frames, count) for frames, count in loop_stacks if not blocked(frames)]
    cpu_total = sum(count for _, count in computing) or 1
    for label, predicate in BREAKDOWN:
        n = sum(count for frames, count in loop_stacks if predicate(frames))
        c = sum(count for frames, count in computing if predicate(frames))
        out.append(f"  {n / total:6.1%}  {c / cpu_total:6.1%}  {label}")
    out.append(f"  {cpu_total / total:6.1%}  100.0%  (running Python: the CPU column's whole)")

    inclusive: Counter = Counter()
    own: Counter = Counter()
    packages: Counter = Counter()
    for frames, count in loop_stacks:
        for key in set(frames):
            inclusive[key] += count
        own[frames[-1]] += count
        file = frames[-1].rsplit("(", 1)[-1].rstrip(")")
        packages[file.split("/", 1)[0].removesuffix(".py")] += count
    # Frames on (nearly) every request's stack are the server's scaffolding, not news.
    in_request = sum(count for frames, count in loop_stacks if not idle_loop(frames))
    interesting = [(k, n) for k, n in inclusive.most_common() if n < 0.9 * in_request][:top]
    out += ["", "Top functions, inclusive (below the ASGI scaffolding):", ""]
    out += [f"  {n / total:6.1%}  {key}" for key, n in interesting]
    out += ["", "Top functions, self:", ""]
    out += [f"  {n / total:6.1%}  {key}" for key, n in own.most_common(top)]
    out += ["", "Self time by package (file of the running frame):", ""]
    out += [f"  {n / total:6.1%}  {key}" for key, n in packages.most_common(15)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25))
