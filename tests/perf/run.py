"""`make bench`: Gatehouse under load, per server core, on MariaDB + Redis.

gunicorn (one uvicorn worker, production settings) is pinned to one core
and the load generators to another; the figures are therefore per server
core. Prints a markdown table and writes it to .lab/bench.md (raw figures
in .lab/bench.json). See tests/perf/README.md for the method.

Environment (all optional but the first two, which `make services` exports):
  GATEHOUSE_BENCH_DATABASE_URL  MariaDB database the benchmark owns (dropped and re-created)
  GATEHOUSE_TEST_REDIS_URL      Redis; the benchmark uses database 15 of it
                                (or GATEHOUSE_BENCH_REDIS_URL, used as given)
  BENCH_SECONDS=10              length of each measured run
  BENCH_WARMUP=2                seconds of warm-up load before the runs
  BENCH_CONNECTIONS=16          wrk connections for the token, introspection and JWKS runs
  BENCH_LOGIN_CONNECTIONS=4     wrk connections for password logins
  BENCH_FLOW_CONCURRENCY=4      browsers doing authorization-code flows at once
  BENCH_RATE_CONNECTIONS=32     connections of the fixed-rate run
  BENCH_RATE_FRACTION=0.7       fixed rate as a fraction of the measured client_credentials peak
  BENCH_REFRESH_POOL_RATE=3000  refresh tokens generated per measured second
  BENCH_SERVER_CPU=0, BENCH_LOAD_CPU=1
  BENCH_NICE=0                  e.g. -10 (root): server and load take precedence over other work on the machine
  BENCH_ONLY=a,b                run only these of: client_credentials fixed_rate refresh introspection
                                jwks flow_login flow_sso login (fixed_rate needs client_credentials)
  BENCH_REPEAT=1                runs of each scenario; the table shows the median one (by its target's figure)
  BENCH_PROFILE=scenario        after the runs, run that scenario again under py-spy (if installed)
  BENCH_PROFILE_CPU=1           profile only running threads, all of them (where the CPU goes)
  BENCH_APP_<VAR>=value         sets <VAR> for the server (e.g. BENCH_APP_JWT_ALGORITHM=ES256)
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import appserver  # noqa: E402
import loadgen  # noqa: E402
import seed  # noqa: E402

LAB = ROOT / ".lab"
OUT_DIR = LAB / "bench"
VENV_BIN = Path(sys.executable).parent

# The variables gatehouse.config reads; none leaks in from the caller's environment.
APP_PREFIXES = (
    "ISSUER",
    "DATABASE_",
    "REDIS_",
    "JWT_",
    "OAUTH2_",
    "RATE_LIMIT_",
    "LOGIN_",
    "SESSION_",
    "ARGON2_",
    "LOG_",
    "METRICS_",
    "SERVER_",
    "WEB_CONCURRENCY",
    "CLIENT_CACHE_SECONDS",
    "PROMETHEUS_MULTIPROC_DIR",
)

SCENARIOS = [
    # key, label, target text
    ("client_credentials", "client_credentials token", "≥ 1,500/s"),
    ("fixed_rate", "client_credentials at 70% of peak (fixed rate)", "p99 < 25 ms"),
    ("refresh", "refresh (rotating, fresh token each)", "≥ 700/s"),
    ("introspection", "introspection (valid access token)", "≥ 3,000/s"),
    ("jwks", "JWKS", ""),
    ("flow_login", "authorization-code flow, with password login", ""),
    ("flow_sso", "authorization-code flow, already signed in", ""),
    ("login", "password login (POST /login)", "within 15% of argon2"),
]


def setting(name: str, default, kind=int):
    raw = os.environ.get(name, "")
    return kind(raw) if raw else default


# Scenarios whose target is read against what the core allows at the time
# (argon2 for logins, RSA signing for tokens), measured right around each run.
JUDGED_AGAINST_BASELINE = {"client_credentials", "refresh", "introspection", "login"}
BRACKET_SECONDS = 1.0


def mean_baseline(before: dict, after: dict) -> dict:
    """The two baselines' per-call costs averaged (the rates recomputed from them)."""
    merged = dict(after)
    for name, value in after.items():
        if isinstance(value, dict) and "cpu_ms" in value:
            cpu_ms = (before[name]["cpu_ms"] + value["cpu_ms"]) / 2
            wall_ms = (before[name]["wall_ms"] + value["wall_ms"]) / 2
            merged[name] = {**value, "cpu_ms": cpu_ms, "wall_ms": wall_ms, "per_second": 1000 / wall_ms}
    return merged


def median_run(key: str, runs: list[dict], bench) -> dict:
    """Of repeated runs, the one with the median score (against its own baseline where judged)."""
    if len(runs) == 1:
        return runs[0]
    scored = sorted(runs, key=lambda r: score(key, r, bench))
    chosen = dict(scored[len(scored) // 2])
    chosen["repeats"] = [score(key, r, bench) for r in runs]
    return chosen


class Bench:
    def __init__(self):
        self.seconds = setting("BENCH_SECONDS", 10, float)
        self.warmup = setting("BENCH_WARMUP", 2, float)
        self.connections = setting("BENCH_CONNECTIONS", 16)
        self.login_connections = setting("BENCH_LOGIN_CONNECTIONS", 4)
        self.flow_concurrency = setting("BENCH_FLOW_CONCURRENCY", 4)
        self.rate_connections = setting("BENCH_RATE_CONNECTIONS", 32)
        self.rate_fraction = setting("BENCH_RATE_FRACTION", 0.7, float)
        self.pool_rate = setting("BENCH_REFRESH_POOL_RATE", 3000)
        self.server_cpu = setting("BENCH_SERVER_CPU", 0)
        self.load_cpu = setting("BENCH_LOAD_CPU", 1)
        # A negative niceness (root only) lets the server and the load win the
        # CPU from other work on a shared machine; MariaDB and Redis keep theirs.
        self.niceness = setting("BENCH_NICE", 0)
        self.nice = ["nice", "-n", str(self.niceness)] if self.niceness else []
        only = os.environ.get("BENCH_ONLY", "")
        self.only = {s.strip() for s in only.split(",") if s.strip()} or {key for key, _, _ in SCENARIOS}
        self.profile = os.environ.get("BENCH_PROFILE", "")
        self.repeat = max(1, setting("BENCH_REPEAT", 1))
        self.results: dict[str, dict] = {}
        self.rss_after: dict[str, float] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
        self.db_pid = appserver.pid_from_file(self._mysqld_pidfile())
        self.redis_pid = appserver.pid_from_file(os.environ.get("GATEHOUSE_TEST_REDIS_PIDFILE"))

    # Environment -------------------------------------------------------------
    @staticmethod
    def _mysqld_pidfile() -> str | None:
        redis_pidfile = os.environ.get("GATEHOUSE_TEST_REDIS_PIDFILE")
        return str(Path(redis_pidfile).parent / "run" / "mysqld.pid") if redis_pidfile else None

    @staticmethod
    def _redis_url() -> str:
        if os.environ.get("GATEHOUSE_BENCH_REDIS_URL"):
            return os.environ["GATEHOUSE_BENCH_REDIS_URL"]
        url = os.environ.get("GATEHOUSE_TEST_REDIS_URL", "")
        if not url:
            sys.exit("run.py: GATEHOUSE_TEST_REDIS_URL is not set; run `make bench` (it starts the services)")
        # Database 15: the tests flush database 0, and the benchmark must not touch their keys.
        return urlunsplit(urlsplit(url)._replace(path="/15"))

    def server_env(self) -> dict:
        database_url = os.environ.get("GATEHOUSE_BENCH_DATABASE_URL", "")
        if not database_url:
            sys.exit("run.py: GATEHOUSE_BENCH_DATABASE_URL is not set; run `make bench` (it starts the services)")
        env = {k: v for k, v in os.environ.items() if not k.startswith(APP_PREFIXES)}
        port = appserver.free_port()
        self.log_file = OUT_DIR / "gatehouse.log"
        env.update(
            ISSUER=f"http://127.0.0.1:{port}",
            SERVER_HOST="127.0.0.1",
            SERVER_PORT=str(port),
            METRICS_PORT=str(appserver.free_port()),
            WEB_CONCURRENCY="1",
            DATABASE_URL=database_url,
            REDIS_URL=self._redis_url(),
            JWT_KEYS_DIR=str(self.tmp / "keys"),
            SESSION_SECRET=secrets.token_urlsafe(48),
            PROMETHEUS_MULTIPROC_DIR=str(self.tmp / "metrics"),
            # High enough never to refuse a benchmark request; the limiter still
            # runs (one Redis INCR+EXPIRE per token request), as in production.
            RATE_LIMIT_TOKEN_PER_MINUTE="1000000000",
            RATE_LIMIT_LOGIN_PER_MINUTE="1000000000",
            # Production logging: JSON lines at INFO (one access line per
            # request, audit lines), written to a file as under systemd.
            LOG_FILE=str(self.log_file),
        )
        for key, value in os.environ.items():
            if key.startswith("BENCH_APP_"):
                env[key[len("BENCH_APP_") :]] = value
        return env

    # Measuring ---------------------------------------------------------------
    def snapshot(self) -> dict:
        return {
            "t": time.monotonic(),
            "worker": appserver.cpu_seconds(self.worker),
            "db": appserver.cpu_seconds(self.db_pid),
            "redis": appserver.cpu_seconds(self.redis_pid),
            "core": core_busy(self.server_cpu),
        }

    def usage(self, before: dict, after: dict, count: int) -> dict:
        elapsed = after["t"] - before["t"]
        worker = after["worker"] - before["worker"]
        result = {
            "worker_cpu_share": worker / elapsed,
            "per_worker_cpu_second": count / worker if worker else None,
            # Time the server's core spent on anything but the worker (MariaDB,
            # Redis, other people's work): the noise of this run.
            "core_other_share": max(0.0, (after["core"] - before["core"]) - worker) / elapsed,
        }
        for name in ("db", "redis"):
            if before[name] is not None and after[name] is not None and count:
                result[f"{name}_cpu_ms_per_request"] = (after[name] - before[name]) * 1000 / count
        return result

    def wrk(self, script: str, connections: int, seconds: float, extra_env: dict | None = None) -> dict:
        env = dict(
            os.environ, LUA_PATH=f"{HERE / 'lua'}/?.lua;;", BENCH_WRK_THREADS="1", **self.lua_env, **(extra_env or {})
        )
        command = [
            *self.nice,
            "taskset",
            "-c",
            str(self.load_cpu),
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(HERE / "lua" / script),
            self.server.url,
        ]
        before = self.snapshot()
        output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        after = self.snapshot()
        line = next((ln for ln in output.splitlines() if ln.startswith("BENCH_JSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no summary:\n{output}")
        result = json.loads(line[len("BENCH_JSON ") :])
        duration = result["duration_us"] / 1e6
        # `unexpected`: responses a script checks itself (login wants its 303), a superset of status errors.
        bad = max(result["status_errors"], result["unexpected"])
        errors = bad + sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
        good = result["requests"] - bad
        result.update(
            rate=good / duration,
            errors=errors,
            p50_ms=result["p50_us"] / 1000,
            p99_ms=result["p99_us"] / 1000,
            connections=connections,
            method=f"wrk -t1 -c{connections} -d{int(seconds)}s, {script}",
            **self.usage(before, after, good),
        )
        return result

    def loadgen(self, job: dict) -> dict:
        job = {"host": "127.0.0.1", "port": int(self.env["SERVER_PORT"]), **job}
        command = [*self.nice, "taskset", "-c", str(self.load_cpu), sys.executable, str(HERE / "loadgen.py")]
        before = self.snapshot()
        output = subprocess.run(command, input=json.dumps(job), capture_output=True, text=True, check=True).stdout
        after = self.snapshot()
        result = json.loads(output)
        count = result.get("ok") or result.get("flows") or 0
        result.update(self.usage(before, after, count))
        return result

    # Scenarios ---------------------------------------------------------------
    def run_client_credentials(self):
        return self.wrk("client_credentials.lua", self.connections, self.seconds)

    def run_fixed_rate(self):
        peak = self.results.get("client_credentials", {}).get("rate")
        if not peak:
            return {"skipped": "needs the client_credentials peak"}
        rate = peak * self.rate_fraction
        result = self.loadgen(
            {
                "kind": "fixed_rate",
                "rate": rate,
                "seconds": self.seconds,
                "connections": self.rate_connections,
                "method": "POST",
                "path": "/api/v2/oauth/token",
                "body": "grant_type=client_credentials",
                "headers": [
                    ["Authorization", "Basic " + self.lua_env["BENCH_CC_BASIC"]],
                    ["Content-Type", "application/x-www-form-urlencoded"],
                ],
            }
        )
        result.update(
            rate=result["achieved_rate"],
            p50_ms=result["latency"]["p50"] * 1000,
            p99_ms=result["latency"]["p99"] * 1000,
            errors=result["completed"] - result["ok"] + result["failures"],
            method=(
                f"loadgen.py fixed rate {rate:,.0f}/s ({self.rate_fraction:.0%} of {peak:,.0f}), "
                f"{self.rate_connections} connections, latency from the scheduled send"
            ),
        )
        return result

    def run_refresh(self):
        result = self.wrk("refresh.lua", self.connections, self.seconds, {"BENCH_POOL": str(self.refresh_pool)})
        if result["exhausted"]:
            result["invalid"] = f"the pool of {self.refresh_pool_size} tokens ran out; raise BENCH_REFRESH_POOL_RATE"
        return result

    def run_introspection(self):
        return self.wrk("introspect.lua", self.connections, self.seconds)

    def run_jwks(self):
        return self.wrk("jwks.lua", self.connections, self.seconds)

    def _flows(self, sso: bool):
        result = self.loadgen(
            {
                **self.flow_job,
                "kind": "flows",
                "seconds": self.seconds,
                "concurrency": self.flow_concurrency,
                "sso": sso,
            }
        )
        steps = "authorize → code → token" if sso else "authorize → login page → login → authorize → code → token"
        result.update(
            rate=result["flows_per_second"],
            p50_ms=(result["latency"]["p50"] or 0) * 1000,
            p99_ms=(result["latency"]["p99"] or 0) * 1000,
            errors=sum(result["errors"].values()),
            unit="flows/s",
            method=f"loadgen.py (Python asyncio driver), {self.flow_concurrency} browsers, {steps}",
        )
        return result

    def run_flow_login(self):
        return self._flows(sso=False)

    def run_flow_sso(self):
        return self._flows(sso=True)

    def run_login(self):
        result = self.wrk("login.lua", self.login_connections, self.seconds, {"BENCH_POOL": str(self.login_pool)})
        if result["exhausted"]:
            result["invalid"] = "the pool of login forms ran out"
        return result

    # Whole run ---------------------------------------------------------------
    def prepare(self):
        OUT_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.env = self.server_env()
        self.log_file.write_text("")
        (self.tmp / "metrics").mkdir()
        from gatehouse.settings import load_settings

        self.settings = load_settings(self.env)
        say("database: drop, migrate, key, clients, user")
        self.credentials = seed.prepare(self.env)
        say("baseline: argon2 and signing alone, on the server's core")
        self.baseline = self.measure_baseline()
        self.argon2 = self.baseline["argon2"]
        say(
            f"  argon2 verify {self.argon2['wall_ms']:.1f} ms ({self.argon2['cpu_ms']:.1f} ms CPU); "
            f"{self.baseline['algorithm']} sign {self.baseline['sign_raw']['per_second']:,.0f}/s"
        )
        import redis

        redis.Redis.from_url(self.env["REDIS_URL"]).flushdb()
        self.refresh_pool_size = int(self.seconds * self.pool_rate) + 1000
        self.make_pools(self.only)
        self.lua_env = {
            "BENCH_CC_BASIC": basic(seed.CC_CLIENT, self.credentials["cc_secret"]),
            "BENCH_WEB_BASIC": basic(seed.WEB_CLIENT, self.credentials["web_secret"]),
        }
        self.flow_job = {
            "host": "127.0.0.1",
            "port": int(self.env["SERVER_PORT"]),
            "cookie_name": self.settings.session_cookie_name,
            "client_id": seed.WEB_CLIENT,
            "client_secret": self.credentials["web_secret"],
            "redirect_uri": seed.REDIRECT_URI,
            "scope": seed.USER_SCOPE,
            "username": seed.USERNAME,
            "password": seed.PASSWORD,
        }

    def measure_baseline(self, seconds: float | None = None) -> dict:
        """baseline.py on the server's core (the server, if running, idle meanwhile)."""
        env = dict(self.env)
        if seconds:
            env["BENCH_BASELINE_SECONDS"] = str(seconds)
        done = subprocess.run(
            [*self.nice, "taskset", "-c", str(self.server_cpu), sys.executable, str(HERE / "baseline.py")],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"baseline.py failed:\n{done.stderr}")
        return json.loads(done.stdout)

    def make_pools(self, scenarios) -> None:
        """Fresh single-use credentials for the refresh and login runs (new files each time)."""
        self.pools_made = getattr(self, "pools_made", 0) + 1
        if "refresh" in scenarios:
            self.refresh_pool = self.tmp / f"refresh-{self.pools_made}.txt"
            say(f"refresh token pool: {self.refresh_pool_size}")
            seed.refresh_pool(self.env, self.credentials["user_id"], self.refresh_pool_size, self.refresh_pool)
        if "login" in scenarios:
            self.login_pool = self.tmp / f"login-{self.pools_made}.txt"
            seed.login_pool(self.env, int(self.seconds * 500) + 200, self.login_pool)

    def start(self):
        say(f"gunicorn on CPU {self.server_cpu}, load on CPU {self.load_cpu}")
        self.server = appserver.AppServer(
            self.env, self.server_cpu, str(VENV_BIN / "gunicorn"), OUT_DIR / "gunicorn.log", self.nice
        )
        self.server.start()
        self.worker = self.server.worker_pids()[0]
        primed = asyncio.run(loadgen.prime(self.flow_job))
        self.flow_job["session"] = primed["session"]
        self.lua_env["BENCH_ACCESS_TOKEN"] = primed["token"]["access_token"]
        say(f"warm-up ({self.warmup:g} s)")
        self.wrk("client_credentials.lua", self.connections, max(1, self.warmup))
        self.wrk("introspect.lua", self.connections, 1)
        self.wrk("jwks.lua", self.connections, 1)

    def run(self):
        for key, label, _ in SCENARIOS:
            if key not in self.only:
                continue
            runs = []
            for attempt in range(self.repeat):
                say(f"{label} ..." + (f" ({attempt + 1} of {self.repeat})" if self.repeat > 1 else ""))
                if attempt:
                    self.make_pools({key})  # single-use credentials
                before = self.measure_baseline(BRACKET_SECONDS) if key in JUDGED_AGAINST_BASELINE else None
                result = getattr(self, f"run_{key}")()
                if before is not None:
                    # What the core allowed just before and just after this run: a
                    # shared machine's speed drifts within minutes.
                    result["baseline"] = mean_baseline(before, self.measure_baseline(BRACKET_SECONDS))
                runs.append(result)
                if "rate" in result:
                    say(
                        f"  {result['rate']:,.0f} {result.get('unit', 'req/s')}, p50 {result['p50_ms']:.1f} ms, "
                        f"p99 {result['p99_ms']:.1f} ms, worker CPU {result['worker_cpu_share']:.0%}, "
                        f"errors {result['errors']}"
                    )
            self.results[key] = median_run(key, runs, self)
            self.rss_after[key] = appserver.memory(self.worker)["VmRSS"]
        self.memory = {"worker": appserver.memory(self.worker), "master": appserver.memory(self.server.master_pid)}
        if self.profile:
            self.run_profile()

    def run_profile(self):
        """The scenario again, under py-spy (sampling, --nonblocking), for where the time goes.

        A separate run, so the sampler's overhead never touches the figures above.
        """
        py_spy = VENV_BIN / "py-spy"
        if not py_spy.exists():
            say("BENCH_PROFILE: py-spy is not installed (.venv/bin/pip install py-spy); skipped")
            return
        raw = OUT_DIR / f"profile-{self.profile}.txt"
        self.make_pools({self.profile})
        say(f"profiling {self.profile} with py-spy -> {display_path(raw)} (collapsed stacks)")
        spy = subprocess.Popen(
            [
                str(py_spy),
                "record",
                "--pid",
                str(self.worker),
                "--duration",
                str(int(self.seconds) + 1),
                "--rate",
                "250",
                "--nonblocking",
                # --idle keeps the loop's waits on MariaDB/Redis (profile_summary.py's view);
                # without it, only threads on a CPU are sampled: where every thread's CPU goes.
                *([] if os.environ.get("BENCH_PROFILE_CPU") else ["--idle"]),
                "--format",
                "raw",
                "-o",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        result = getattr(self, f"run_{self.profile}")()
        spy.wait()
        if "rate" in result:
            say(f"  under the profiler: {result['rate']:,.0f} {result.get('unit', 'req/s')}")
        self.profile_file = raw

    def stop(self):
        if getattr(self, "server", None):
            self.server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def core_busy(cpu: int) -> float:
    """Seconds the core was busy (not idle or iowait) since boot."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as handle:
        for line in handle:
            if line.startswith(f"cpu{cpu} "):
                fields = [int(x) for x in line.split()[1:]]
                idle = fields[3] + fields[4]
                return (sum(fields[:8]) - idle) / ticks
    return 0.0


def basic(client_id: str, secret: str) -> str:
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Report ---------------------------------------------------------------------
def fmt_rate(value, unit="req/s") -> str:
    return f"{value:,.0f} {unit}" if value is not None else "—"


def verdict(ok: bool | None) -> str:
    return {True: "✅", False: "❌", None: ""}[ok]


# RSA-2048 signatures per second of the core issue 2's targets were set on.
QUIET_RSA_PER_SECOND = 3400
TARGETS = {"client_credentials": 1500, "refresh": 700, "introspection": 3000}


def login_ratios(result: dict, baseline: dict) -> tuple[float, float]:
    """Logins per worker CPU-second against argon2 verifications per CPU-second, and the same by wall clock."""
    argon2 = baseline["argon2"]
    return (result.get("per_worker_cpu_second") or 0) * argon2["cpu_ms"] / 1000, result["rate"] / argon2["per_second"]


def score(key: str, result: dict, bench) -> float:
    """The figure a target is judged on, comparable across repeated runs."""
    if "rate" not in result:
        return float("-inf")
    baseline = result.get("baseline", bench.baseline)
    if key == "login":
        return login_ratios(result, baseline)[0]
    if key in TARGETS and baseline["algorithm"] == "RS256":
        # The share of the target scaled to this core's RSA rate (1.0 meets it).
        scaled = TARGETS[key] * (1000 / baseline["sign_raw"]["cpu_ms"]) / QUIET_RSA_PER_SECOND
        return (result.get("per_worker_cpu_second") or result["rate"]) / scaled
    if key == "fixed_rate":
        return -result.get("p99_ms", 0)
    return result.get("rate", 0)


def judge(key: str, result: dict, bench: Bench) -> tuple[str, bool | None]:
    """(target text, met?) for one scenario."""
    baseline = result.get("baseline", bench.baseline)
    if "invalid" in result or result.get("errors"):
        return next(t for k, _, t in SCENARIOS if k == key), False
    if key in TARGETS:
        target = TARGETS[key]
        rsa = baseline["sign_raw"]
        if baseline["algorithm"] != "RS256" or result["rate"] >= target:
            return f"≥ {target:,}/s", result["rate"] >= target
        # The issue's targets assume a core that signs 3,400 RSA-2048 tokens a
        # second; this run's baseline measured what this core does. Scaling
        # each target by that ratio compares the server, not the hardware.
        here = 1000 / rsa["cpu_ms"]
        scaled = target * here / QUIET_RSA_PER_SECOND
        rate = result.get("per_worker_cpu_second") or result["rate"]
        return (
            f"≥ {target:,}/s at {QUIET_RSA_PER_SECOND:,} RSA signatures/s; this core signed {here:,.0f}/s, "
            f"so ≥ {scaled:,.0f}/s here: {rate / scaled:.0%} per CPU-second",
            rate >= scaled,
        )
    if key == "fixed_rate":
        return "p99 < 25 ms", result["p99_ms"] < 25
    if key == "login":
        # Cost against cost: the worker's CPU per login against argon2's CPU
        # per verification, both measured on the server's core. (Wall-clock
        # rates compare the same way on a quiet machine; the CPU figures hold
        # on a busy one too.)
        ratio, wall = login_ratios(result, baseline)
        return (
            f"≥ 85% of argon2 alone: {ratio:.0%} per CPU-second ({wall:.0%} wall-clock)",
            ratio >= 0.85,
        )
    return "", None


def report(bench: Bench) -> str:
    versions = package_versions(
        [
            "gunicorn",
            "uvicorn",
            "fastapi",
            "starlette",
            "authlib",
            "joserfc",
            "peewee",
            "pymysql",
            "redis",
            "cryptography",
            "argon2-cffi",
            "uvloop",
            "httptools",
        ]
    )
    settings = bench.settings
    overrides = [f"{k[len('BENCH_APP_') :]}={v}" for k, v in os.environ.items() if k.startswith("BENCH_APP_")]
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    lines = [
        "# Gatehouse benchmark",
        "",
        f"`make bench` at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, "
        f"{os.cpu_count()} CPUs ({cpu_model()}), load average before: {bench.loadavg_before}, "
        f"after: {bench.loadavg_after}.",
        f"Server: `taskset -c {bench.server_cpu} gunicorn -c python:gatehouse.entry.gunicorn_conf gatehouse.entry.asgi:app`, "
        f"WEB_CONCURRENCY=1 (uvicorn worker, uvloop + httptools), {settings.jwt_algorithm} keys, "
        f"MariaDB (PyMySQL) + Redis on loopback, rate limiter {'on (limits set out of reach)' if settings.rate_limit_enabled else 'OFF'}, "
        f"metrics {'on' if settings.metrics_enabled else 'OFF'}, {settings.log_format} access and audit logs at "
        f"{settings.log_level} to `{display_path(bench.log_file)}`"
        f"{'; overrides: ' + ', '.join(overrides) if overrides else ''}. "
        f"Load: wrk / loadgen.py on CPU {bench.load_cpu}; MariaDB and Redis are not pinned. "
        f"{bench.seconds:g} s per run after {bench.warmup:g} s of warm-up"
        f"{f'; server, load and baseline at niceness {bench.niceness} (BENCH_NICE)' if bench.niceness else ''}.",
        "",
        "| Scenario | Per core | p50 | p99 | Worker CPU | Per worker CPU-second | Other load on server core "
        "| DB + Redis CPU per op | Target | |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for key, label, _ in SCENARIOS:
        result = bench.results.get(key)
        if result is None or "rate" not in result:
            continue
        unit = result.get("unit", "req/s")
        target, ok = judge(key, result, bench)
        if result.get("repeats"):
            shown = ", ".join(
                f"{v:.0%}"
                if key == "login" or key in TARGETS
                else f"{-v:.1f} ms"
                if key == "fixed_rate"
                else f"{v:,.0f}"
                for v in sorted(result["repeats"])
            )
            target += f" (median of {len(result['repeats'])} runs: {shown})"
        db = result.get("db_cpu_ms_per_request")
        rd = result.get("redis_cpu_ms_per_request")
        dbredis = f"{db:.2f} + {rd:.2f} ms" if db is not None and rd is not None else "—"
        per_cpu = result.get("per_worker_cpu_second")
        note = ""
        if result.get("errors"):
            note = f" ({result['errors']} errors)"
        if result.get("invalid"):
            note = f" (invalid: {result['invalid']})"
        lines.append(
            f"| {label} | {fmt_rate(result['rate'], unit)}{note} | {result['p50_ms']:.1f} ms | "
            f"{result['p99_ms']:.1f} ms | {result['worker_cpu_share']:.0%} | "
            f"{fmt_rate(per_cpu, unit) if per_cpu else '—'} | {result['core_other_share']:.0%} | {dbredis} | "
            f"{target} | {verdict(ok)} |"
        )
    worker = bench.memory["worker"]
    lines.append(
        f"| worker memory after the runs | RSS {worker['VmRSS']:.0f} MiB (peak {worker['VmHWM']:.0f}, "
        f"PSS {worker.get('Pss', 0):.0f}) | | | | | | | < 120 MB | {verdict(worker['VmRSS'] * 1.048576 < 120)} |"
    )
    argon2, base = bench.argon2, bench.baseline
    rss_trail = ", ".join(f"{key} {value:.0f}" for key, value in bench.rss_after.items())
    lines += [
        "",
        "Targets read against the hardware (login against argon2, token rates against RSA signing) use a "
        f"baseline taken on CPU {bench.server_cpu} just before and just after each run (the mean of the two). "
        f"Baseline on CPU {bench.server_cpu} before all runs, server stopped (what the hardware allows at this moment): "
        f"argon2id (t={argon2['time_cost']}, m={argon2['memory_cost_kib']} KiB, p={argon2['parallelism']}) "
        f"{argon2['wall_ms']:.1f} ms per verification = {argon2['per_second']:.1f}/s "
        f"({argon2['cpu_ms']:.1f} ms of CPU = {1000 / argon2['cpu_ms']:.1f} per CPU-second); "
        f"{base['algorithm']} signature alone {base['sign_raw']['per_second']:,.0f}/s "
        f"({1000 / base['sign_raw']['cpu_ms']:,.0f} per CPU-second); a whole access token through TokenSigner "
        f"{base['access_token']['per_second']:,.0f}/s; verifying one {base['verify_token']['per_second']:,.0f}/s.",
        *(
            [
                f"Machine gauge: RSA-2048 signing ran at {1000 / base['sign_raw']['cpu_ms']:,.0f} per CPU-second, "
                f"against about {QUIET_RSA_PER_SECOND:,}/s on this machine when quiet (issue 2): each CPU-second here did "
                f"{QUIET_RSA_PER_SECOND / (1000 / base['sign_raw']['cpu_ms']):.1f}× less work than a quiet core's (a busy host "
                f"slows CPU time too: shared caches, sibling threads), so expect the CPU-second figures above to "
                f"sit below a quiet machine's by about that factor, and the wall-clock ones by more."
            ]
            if base["algorithm"] == "RS256"
            else []
        ),
        f"Worker RSS (MiB) after each run: {rss_trail}; gunicorn master RSS {bench.memory['master']['VmRSS']:.0f} MiB.",
        "",
        "Method:",
    ]
    for key, label, _ in SCENARIOS:
        result = bench.results.get(key)
        if result and "method" in result:
            lines.append(f"- {label}: {result['method']}.")
    fixed = bench.results.get("fixed_rate")
    if fixed and "send_lag" in fixed:
        lines.append(
            f"- The fixed-rate generator's own lateness (timer and scheduling, on an idle connection) was "
            f"{fixed['send_lag']['p99'] * 1000:.1f} ms at p99; it used {fixed['generator_cpu_share']:.0%} of its "
            f"core; p99 from the actual send: {fixed['service_latency']['p99'] * 1000:.1f} ms."
        )
    lines += [
        "- Per core = requests (or flows) per wall-clock second with one worker pinned to one core. "
        "Worker CPU = the share of that core the worker used; below 100% it waited for MariaDB/Redis "
        "(queries run synchronously on the event loop) or lost the core to other processes. "
        "Per worker CPU-second = requests per second of CPU the worker actually got, which other load "
        "on the machine does not skew. Other load on server core = the core's busy time not spent by the worker.",
        f"- Versions: Python {platform.python_version()}, {versions}.",
        f"- Command: `make bench` (BENCH_SECONDS={bench.seconds:g}).",
    ]
    return "\n".join(lines) + "\n"


def display_path(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def package_versions(names) -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in names:
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(parts)


def main() -> int:
    if shutil.which("wrk") is None:
        sys.exit("run.py: wrk is not installed (apt-get install wrk)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("run.py: needs two cores (server and load generator on different ones)")
    bench = Bench()
    # This process (the orchestrator, seeding, flows priming) stays off the server's core.
    os.sched_setaffinity(0, {bench.load_cpu})
    bench.loadavg_before = Path("/proc/loadavg").read_text().split()[0]
    try:
        bench.prepare()
        bench.start()
        bench.run()
    finally:
        bench.stop()
    bench.loadavg_after = Path("/proc/loadavg").read_text().split()[0]
    text = report(bench)
    print(text)
    (LAB / "bench.md").write_text(text)
    (LAB / "bench.json").write_text(
        json.dumps(
            {
                "results": bench.results,
                "baseline": bench.baseline,
                "memory": bench.memory,
                "rss_after": bench.rss_after,
            },
            indent=2,
            default=str,
        )
    )
    say(f"written to {display_path(LAB / 'bench.md')} and {display_path(LAB / 'bench.json')}")
    if getattr(bench, "profile_file", None):
        import profile_summary

        print(profile_summary.summarize(bench.profile_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
