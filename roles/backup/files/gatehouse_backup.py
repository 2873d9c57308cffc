#!/usr/bin/python3
"""gatehouse-backup: the backup host's one tool (installed by the backup role).

    gatehouse-backup full            a consistent dump of the app database, the auth
                                     servers' /etc/gatehouse and the streamed binlogs,
                                     into the restic repository, with a manifest
    gatehouse-backup stream          follow the primary's binary log (the stream unit)
    gatehouse-backup prune           apply the retention tiers; drop streamed binlogs
                                     no kept backup needs
    gatehouse-backup check           the repository's own check
    gatehouse-backup metrics         binlog stream lag, for node_exporter's textfile collector
    gatehouse-backup plan            which backup and which binlogs a restore would use (JSON)
    gatehouse-backup restore         load a backup (+ binlogs up to a time) into a server
    gatehouse-backup drill           restore the newest backup into a scratch server and
                                     compare it with the primary, table by table
    gatehouse-backup snapshots       the full backups in the repository (JSON)

Settings come from /etc/gatehouse-backup/config.json, which the role writes;
nothing here knows the inventory. Standard library only: it runs on the
distribution's python3. Times are UTC everywhere (mariadb-binlog reads
--stop-datetime in the process's time zone, so it runs with TZ=UTC).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = Path(os.environ.get("GATEHOUSE_BACKUP_CONFIG", "/etc/gatehouse-backup/config.json"))
DUMP_NAME = "database.sql"
POSITION_NAME = "position.json"
MANIFEST_NAME = "MANIFEST.sha256"
TAG = "gatehouse-full"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
BINLOG_NAME = re.compile(r"^(?P<base>.+)\.(?P<seq>[0-9]{6,})$")
# mariadb-binlog's per-transaction session settings. Dropped when replaying:
# the replayed transactions are written to the target's own binary log with
# its own GTIDs and server id (gtid_strict_mode refuses old sequence numbers,
# and a replica whose server id equals the old primary's would skip them).
SESSION_GTID_LINE = re.compile(
    rb"^/\*M!100001 SET @@session\.(gtid_domain_id|server_id|gtid_seq_no)=(\d+)\*//\*!\*/;\s*$"
)


class Refused(Exception):
    """An input or a state that stops the command before it changes anything."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def fmt(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text.strip().replace("T", " ", 1), TIME_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise Refused(f"'{text}' is not a time as YYYY-MM-DD HH:MM:SS (UTC)") from None


# --- configuration ---------------------------------------------------------


class Config:
    def __init__(self, path: Path):
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise Refused(f"{path} is missing: the backup role writes it (site.yml)") from None
        except (OSError, ValueError) as exc:
            raise Refused(f"{path}: {exc}") from None
        self.raw = raw
        self.database = raw["database"]
        self.primary = raw["primary"]  # {"name", "host", "port"}
        self.dump_defaults = raw["dump_defaults_file"]
        self.stream_defaults = raw["stream_defaults_file"]
        self.stream_server_id = int(raw["stream_server_id"])
        self.state = Path(raw["state_dir"])
        self.restic_env_file = Path(raw["restic_env_file"])
        self.restic_host = raw["restic_host"]
        self.retention = raw["retention"]
        self.textfile_dir = Path(raw["textfile_dir"]) if raw.get("textfile_dir") else None
        self.config_copies = Path(raw["config_copies_dir"])
        self.check_read_data_subset = raw.get("check_read_data_subset", "")
        self.drill = raw.get("drill", {})
        self._restic_env = None

    @property
    def staging(self) -> Path:
        return self.state / "staging" / "current"

    @property
    def binlogs(self) -> Path:
        return self.state / "binlogs"

    def restic_env(self) -> dict:
        """restic's environment, read from its file once per run."""
        if self._restic_env is not None:
            return self._restic_env
        env = dict(os.environ)
        for line in self.restic_env_file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                env[key.strip()] = value.strip()
        env.setdefault("RESTIC_CACHE_DIR", str(self.state / "restic-cache"))
        self._restic_env = env
        return env


# --- small helpers ---------------------------------------------------------


def run(cmd, *, env=None, input_bytes=None, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, input=input_bytes, capture_output=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace').strip()[-2000:]}")
    return proc


def sql(defaults_file: str, query: str, *, extra=(), database: str | None = None) -> list[list[str]]:
    """Rows of a query through the mariadb client (tab-separated, no headers)."""
    cmd = ["mariadb", f"--defaults-extra-file={defaults_file}", "--batch", "--skip-column-names", "--raw", *extra]
    if database:
        cmd.append(database)
    out = run(cmd, input_bytes=query.encode()).stdout.decode()
    return [line.split("\t") for line in out.splitlines()]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Metrics:
    """One .prom file per job in node_exporter's textfile directory, written whole."""

    def __init__(self, cfg: Config, job: str):
        self.cfg, self.job, self.lines = cfg, job, []

    def add(self, name: str, value, help_text: str, labels: str = "") -> None:
        self.lines.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{name}{labels} {value}\n")

    def write(self) -> None:
        if self.cfg.textfile_dir is None:
            return
        write_atomic(self.cfg.textfile_dir / f"gatehouse_backup_{self.job}.prom", "".join(self.lines))


def state_file(cfg: Config, name: str) -> Path:
    return cfg.state / "status" / f"{name}.json"


def load_state(cfg: Config, name: str) -> dict:
    try:
        return json.loads(state_file(cfg, name).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def save_state(cfg: Config, name: str, data: dict) -> None:
    write_atomic(state_file(cfg, name), json.dumps(data, indent=2, sort_keys=True) + "\n", 0o600)


# --- restic ----------------------------------------------------------------


def restic(cfg: Config, *args, check=True) -> subprocess.CompletedProcess:
    return run(["restic", *args], env=cfg.restic_env(), check=check)


def clear_stale_locks(cfg: Config) -> None:
    """A job killed mid-run (a reboot, the OOM killer) leaves its lock in the
    repository, and restic 0.14 then refuses every later job. `restic unlock`
    removes only locks whose process is gone or that are older than 30 minutes."""
    restic(cfg, "unlock", check=False)


def snapshots(cfg: Config) -> list[dict]:
    """Full backups, oldest first, each with its recorded position."""
    out = restic(cfg, "snapshots", "--json", "--tag", TAG, "--host", cfg.restic_host).stdout
    found = []
    for snap in json.loads(out or b"[]") or []:
        position = {}
        for tag in snap.get("tags") or []:
            if tag.startswith("position="):
                position = json.loads(bytes.fromhex(tag.split("=", 1)[1]).decode())
        if not position:
            continue
        found.append({"id": snap["short_id"], "full_id": snap["id"], "time": snap["time"], **position})
    found.sort(key=lambda s: s["consistent_at"])
    return found


# --- binlog sources --------------------------------------------------------
# Each primary the stream has followed has a directory of its own under
# binlogs/ (a new primary's mysql-bin.000001 must not overwrite the old
# one's); source.json says which server and since when.


def source_dir(cfg: Config, name: str) -> Path:
    return cfg.binlogs / re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def sources(cfg: Config) -> list[dict]:
    found = []
    if cfg.binlogs.is_dir():
        for entry in cfg.binlogs.iterdir():
            meta = entry / "source.json"
            if meta.is_file():
                data = json.loads(meta.read_text())
                data["dir"] = entry
                data["files"] = binlog_files(entry)
                found.append(data)
    found.sort(key=lambda s: s["first_seen"])
    return found


def binlog_files(directory: Path) -> list[Path]:
    files = [p for p in directory.iterdir() if BINLOG_NAME.match(p.name)]
    return sorted(files, key=lambda p: int(BINLOG_NAME.match(p.name)["seq"]))


def files_contiguous(files: list[Path]) -> str | None:
    """The name of the first missing file in a run of binlog files, if any."""
    seqs = [int(BINLOG_NAME.match(p.name)["seq"]) for p in files]
    for previous, current in zip(seqs, seqs[1:]):
        if current != previous + 1:
            base = BINLOG_NAME.match(files[0].name)["base"]
            return f"{base}.{previous + 1:06d}"
    return None


# --- full backup -----------------------------------------------------------


def read_dump_position(dump: Path) -> dict:
    """The binlog file, offset and GTID mariadb-dump recorded, and that it finished."""
    with dump.open("rb") as handle:
        head = handle.read(1 << 16).decode(errors="replace")
        handle.seek(max(0, dump.stat().st_size - (1 << 16)))
        tail = handle.read().decode(errors="replace")
    file_pos = re.search(r"^-- CHANGE MASTER TO MASTER_LOG_FILE='([^']+)', MASTER_LOG_POS=(\d+);", head, re.M)
    gtid = re.search(r"^-- SET GLOBAL gtid_slave_pos='([-0-9,]*)';", tail, re.M)
    if "-- Dump completed" not in tail:
        raise RuntimeError("the dump is incomplete: mariadb-dump wrote no 'Dump completed' line")
    if not file_pos or gtid is None:
        raise RuntimeError("the dump records no binlog position: is binary logging on at the primary?")
    return {"binlog_file": file_pos[1], "binlog_pos": int(file_pos[2]), "gtid": gtid[1]}


def cmd_full(cfg: Config, args) -> dict:
    metrics = Metrics(cfg, "full")
    started = time.monotonic()
    previous = load_state(cfg, "full")
    try:
        result = full_backup(cfg)
    except Exception:
        previous["last_failure"] = time.time()
        save_state(cfg, "full", previous)
        full_metrics(metrics, previous, ok=False)
        raise
    result["duration_seconds"] = round(time.monotonic() - started, 1)
    state = {**result, "last_success": time.time(), "last_failure": previous.get("last_failure", 0)}
    save_state(cfg, "full", state)
    full_metrics(metrics, state, ok=True)
    return result


def full_metrics(metrics: Metrics, state: dict, ok: bool) -> None:
    metrics.add("gatehouse_backup_last_run_success", 1 if ok else 0, "1 when the last full backup succeeded")
    metrics.add("gatehouse_backup_last_success_timestamp_seconds", state.get("last_success", 0),
                "When the last full backup succeeded (unix time)")
    metrics.add("gatehouse_backup_last_failure_timestamp_seconds", state.get("last_failure", 0),
                "When a full backup last failed (unix time)")
    metrics.add("gatehouse_backup_last_size_bytes", state.get("size_bytes", 0),
                "Size of the last full backup's files before deduplication")
    metrics.add("gatehouse_backup_last_duration_seconds", state.get("duration_seconds", 0),
                "How long the last full backup took")
    metrics.write()


def full_backup(cfg: Config) -> dict:
    clear_stale_locks(cfg)
    stage = cfg.staging
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True, mode=0o700)
    dump = stage / DUMP_NAME
    # --single-transaction with --master-data: MariaDB reads the binlog
    # position of the transaction's snapshot (Binlog_snapshot_*), so no
    # FLUSH TABLES WITH READ LOCK: the app is never blocked.
    cmd = [
        "mariadb-dump", f"--defaults-extra-file={cfg.dump_defaults}",
        "--single-transaction", "--master-data=2", "--gtid", "--quick",
        "--routines", "--events", "--triggers", "--hex-blob",
        "--databases", cfg.database, f"--result-file={dump}",
    ]
    try:
        old_umask = os.umask(0o077)
        try:
            run(cmd)
        finally:
            os.umask(old_umask)
        return store_staged(cfg, stage, dump)
    finally:
        # In the repository now, or the backup failed: the staging copy is
        # plain text and is not kept either way.
        dump.unlink(missing_ok=True)


def store_staged(cfg: Config, stage: Path, dump: Path) -> dict:
    """The dump's position, the config copies and the manifest, into the repository."""
    # The first whole second after the dump's snapshot: every transaction in
    # the dump was logged before it, so a restore "until T" (which replays
    # only events logged before T) may start from this backup when
    # consistent_at <= T. The dump's start, rounded down, would let a restore
    # until that second bring back rows logged in it.
    consistent_at = utcnow() + dt.timedelta(seconds=1)
    position = read_dump_position(dump)
    position.update(consistent_at=fmt(consistent_at), source=cfg.primary["name"], database=cfg.database)
    (stage / POSITION_NAME).write_text(json.dumps(position, indent=2, sort_keys=True) + "\n")
    if cfg.config_copies.is_dir():
        shutil.copytree(cfg.config_copies, stage / "config", symlinks=False)
    manifest, size = [], 0
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        size += path.stat().st_size
        manifest.append(f"{sha256_file(path)}  {path.relative_to(stage)}\n")
    (stage / MANIFEST_NAME).write_text("".join(manifest))
    # The position also goes into a tag, so planning a restore reads no data.
    tag = "position=" + json.dumps(position, sort_keys=True, separators=(",", ":")).encode().hex()
    paths = [str(stage)] + ([str(cfg.binlogs)] if cfg.binlogs.is_dir() else [])
    out = restic(cfg, "backup", "--json", "--host", cfg.restic_host, "--tag", TAG, "--tag", tag, *paths).stdout
    summary = [json.loads(line) for line in out.decode().splitlines() if '"summary"' in line]
    if not summary:
        raise RuntimeError("restic reported no snapshot")
    return {
        "snapshot": summary[-1]["snapshot_id"][:8],
        "size_bytes": size,
        "added_bytes": summary[-1].get("data_added", 0),
        "repository": cfg.restic_env().get("RESTIC_REPOSITORY", ""),
        **position,
    }


# --- binlog stream ---------------------------------------------------------


def cmd_stream(cfg: Config, args) -> dict:
    """Exec mariadb-binlog, resuming from the newest local file of this primary."""
    directory = source_dir(cfg, cfg.primary["name"])
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    meta = directory / "source.json"
    if not meta.exists():
        write_atomic(meta, json.dumps({**cfg.primary, "first_seen": fmt(utcnow())}) + "\n", 0o600)
    local = binlog_files(directory)
    if local:
        # The newest file may be cut short: fetch it again, whole.
        start = local[-1].name
    else:
        start = first_needed_binlog(cfg)
    os.chdir(directory)
    argv = [
        "mariadb-binlog", f"--defaults-extra-file={cfg.stream_defaults}",
        "--read-from-remote-server", "--raw", "--stop-never",
        f"--stop-never-slave-server-id={cfg.stream_server_id}",
        f"--result-file={directory}/", start,
    ]
    print(f"streaming {cfg.primary['name']} ({cfg.primary['host']}:{cfg.primary['port']}) from {start}", flush=True)
    os.execvp(argv[0], argv)


def first_needed_binlog(cfg: Config) -> str:
    """A new stream starts where the newest backup of this primary starts, or
    at the oldest binlog the primary still has."""
    on_primary = [row[0] for row in sql(cfg.dump_defaults, "SHOW BINARY LOGS")]
    if not on_primary:
        raise Refused(f"{cfg.primary['name']} has no binary logs: is log_bin on?")
    try:
        mine = [s for s in snapshots(cfg) if s.get("source") == cfg.primary["name"]]
    except Exception:  # no repository yet: the oldest file will do
        mine = []
    if mine and mine[-1]["binlog_file"] in on_primary:
        return mine[-1]["binlog_file"]
    return on_primary[0]


def cmd_metrics(cfg: Config, args) -> dict:
    """How far the local copy of the primary's binlogs is behind."""
    metrics = Metrics(cfg, "stream")
    state = load_state(cfg, "stream")
    now = time.time()
    try:
        on_primary = {row[0]: int(row[1]) for row in sql(cfg.dump_defaults, "SHOW BINARY LOGS")}
        directory = source_dir(cfg, cfg.primary["name"])
        local = {p.name: p.stat().st_size for p in binlog_files(directory)} if directory.is_dir() else {}
        behind = sum(size - local.get(name, 0) for name, size in on_primary.items()
                     if local and name >= min(local) and size > local.get(name, 0))
        if not local:
            behind = sum(on_primary.values())
        up = 1
    except Exception as exc:
        print(f"cannot read the primary's binary logs: {exc}", file=sys.stderr)
        behind, up = None, 0
    if behind == 0:
        state["caught_up_at"] = now
    save_state(cfg, "stream", state)
    lag = 0 if behind == 0 else now - state.get("caught_up_at", now)
    metrics.add("gatehouse_binlog_stream_primary_reachable", up, "1 when the primary answered SHOW BINARY LOGS")
    metrics.add("gatehouse_binlog_stream_behind_bytes", behind if behind is not None else -1,
                "Bytes of the primary's binary logs not yet copied (-1: unknown)")
    metrics.add("gatehouse_binlog_stream_lag_seconds", round(lag, 1),
                "Seconds since the local copy last held every byte the primary had logged")
    metrics.write()
    return {"behind_bytes": behind, "lag_seconds": round(lag, 1), "primary_reachable": bool(up)}


# --- retention and checks ----------------------------------------------------


def cmd_prune(cfg: Config, args) -> dict:
    clear_stale_locks(cfg)
    keep = []
    for tier in ("hourly", "daily", "weekly", "monthly", "yearly"):
        value = cfg.retention.get(tier)
        if value not in (None, "", 0):
            keep += [f"--keep-{tier}", str(value)]
    if cfg.retention.get("within"):
        keep += ["--keep-within", str(cfg.retention["within"])]
    if not keep:
        raise Refused("no retention tier is set: refusing to forget every backup")
    # Grouped by host alone: the first backup of a site has no binlogs
    # directory yet, so its paths differ from the later ones'.
    restic(cfg, "forget", "--host", cfg.restic_host, "--tag", TAG, "--group-by", "host", *keep, "--prune")
    kept = snapshots(cfg)
    return {"kept": len(kept), "binlog_files_removed": prune_binlogs(cfg, kept)}


def prune_binlogs(cfg: Config, kept: list[dict]) -> list[str]:
    """Streamed binlogs older than the oldest kept backup serve no restore."""
    if not kept:
        return []
    oldest = kept[0]
    removed = []
    for src in sources(cfg):
        current = src["name"] == cfg.primary["name"]
        if src["name"] == oldest.get("source"):
            cut = int(BINLOG_NAME.match(oldest["binlog_file"])["seq"])
            doomed = [p for p in src["files"] if int(BINLOG_NAME.match(p.name)["seq"]) < cut]
        elif not current and src["first_seen"] < oldest["consistent_at"] and src["files"]:
            # A former primary whose files all predate the oldest backup.
            newest = max(p.stat().st_mtime for p in src["files"])
            doomed = src["files"] if newest < parse_time(oldest["consistent_at"]).timestamp() else []
        else:
            doomed = []
        for path in doomed:
            path.unlink()
            removed.append(f"{src['dir'].name}/{path.name}")
    return removed


def cmd_check(cfg: Config, args) -> dict:
    metrics = Metrics(cfg, "check")
    extra = [f"--read-data-subset={cfg.check_read_data_subset}"] if cfg.check_read_data_subset else []
    clear_stale_locks(cfg)
    proc = restic(cfg, "check", *extra, check=False)
    ok = proc.returncode == 0
    state = load_state(cfg, "check")
    state["last_run"] = time.time()
    if ok:
        state["last_success"] = time.time()
    save_state(cfg, "check", state)
    metrics.add("gatehouse_backup_check_last_run_success", int(ok), "1 when the last repository check passed")
    metrics.add("gatehouse_backup_check_last_success_timestamp_seconds", state.get("last_success", 0),
                "When the repository check last passed (unix time)")
    metrics.write()
    if not ok:
        raise RuntimeError(f"restic check failed: {proc.stderr.decode(errors='replace').strip()[-2000:]}")
    return {"check": "ok"}


# --- planning a restore ------------------------------------------------------


def plan(cfg: Config, snapshot: str | None, until: dt.datetime | None, stop_at: dict | None = None) -> dict:
    """Choose the backup and the binlog files for a restore, or refuse."""
    kept = snapshots(cfg)
    if not kept:
        raise Refused("the repository holds no full backup: run playbooks/backup.yml first")
    now = utcnow()
    if until is not None and until > now:
        raise Refused(f"{fmt(until)} is in the future (it is {fmt(now)} UTC)")
    if snapshot and snapshot != "latest":
        chosen = [s for s in kept if s["id"] == snapshot or s["full_id"].startswith(snapshot)]
        if not chosen:
            raise Refused(f"no full backup '{snapshot}' in the repository (have: {', '.join(s['id'] for s in kept)})")
        base = chosen[0]
        if until is not None and parse_time(base["consistent_at"]) > until:
            raise Refused(f"backup {base['id']} was taken at {base['consistent_at']}, after {fmt(until)}")
    elif until is not None:
        earlier = [s for s in kept if parse_time(s["consistent_at"]) <= until]
        if not earlier:
            raise Refused(
                f"{fmt(until)} is outside the retention window: the oldest backup is from "
                f"{kept[0]['consistent_at']} UTC"
            )
        base = earlier[-1]
    else:
        base = kept[-1]
    result = {"snapshot": base["id"], "consistent_at": base["consistent_at"], "gtid": base["gtid"],
              "until": fmt(until) if until else None, "binlogs": []}
    if until is None and stop_at is None:
        return result
    result["binlogs"] = binlogs_after(cfg, base, until, stop_at)
    return result


def binlogs_after(cfg: Config, base: dict, until: dt.datetime | None, stop_at: dict | None) -> list[dict]:
    """The streamed files from the backup's position on, per source, checked
    for gaps and for coverage up to `until`."""
    chain, started = [], False
    for src in sources(cfg):
        if chain and until is not None and until <= last_write(chain[-1]["files"]):
            # The next primary took over after `until`: none of its binlogs
            # are needed, and they may not reach back to the GTID where the
            # replay stops (its own binlogs expire), which fails the restore.
            break
        files = src["files"]
        if not started:
            if src["name"] != base.get("source"):
                continue
            names = [p.name for p in files]
            if base["binlog_file"] not in names:
                raise Refused(
                    f"no binlog coverage: {base['binlog_file']} of {src['name']} (where backup "
                    f"{base['id']} ends) is not among the streamed files"
                )
            files = files[names.index(base["binlog_file"]):]
            started = True
        missing = files_contiguous(files)
        if missing:
            raise Refused(f"no binlog coverage: {missing} of {src['name']} is missing from the streamed files")
        if files:
            part = {"source": src["name"], "files": [str(p) for p in files]}
            if not chain:
                part["start_position"] = int(base["binlog_pos"])
            chain.append(part)
    if not started:
        raise Refused(f"no binlog coverage: nothing was streamed from {base.get('source')}, where the backup was taken")
    if until is not None:
        newest = max(Path(f).stat().st_mtime for part in chain for f in part["files"])
        covered = dt.datetime.fromtimestamp(newest, dt.timezone.utc).replace(microsecond=0)
        caught_up = load_state(cfg, "stream").get("caught_up_at", 0)
        if caught_up:
            covered = max(covered, dt.datetime.fromtimestamp(caught_up, dt.timezone.utc).replace(microsecond=0))
        if until > covered:
            raise Refused(f"no binlog coverage: the streamed binlogs reach {fmt(covered)} UTC, before {fmt(until)}")
    if stop_at is not None:
        last = chain[-1]
        names = [Path(f).name for f in last["files"]]
        if last["source"] != cfg.primary["name"] or stop_at["file"] not in names:
            raise Refused(f"the stream has not reached {stop_at['file']} of {cfg.primary['name']}")
        last["files"] = last["files"][: names.index(stop_at["file"]) + 1]
        last["stop_position"] = stop_at["pos"]
    return chain


def last_write(files: list[str]) -> dt.datetime:
    """When the stream last wrote to any of these files."""
    return dt.datetime.fromtimestamp(max(Path(f).stat().st_mtime for f in files), dt.timezone.utc)


def cmd_plan(cfg: Config, args) -> dict:
    until = parse_time(args.until) if args.until else None
    return plan(cfg, args.snapshot, until)


# --- restoring -----------------------------------------------------------------


def fetch_backup(cfg: Config, snapshot_id: str, into: Path) -> Path:
    """The backup's files from the repository, checked against its manifest."""
    restic(cfg, "restore", snapshot_id, "--target", str(into), "--include", str(cfg.staging))
    stage = into / cfg.staging.relative_to("/")
    manifest = (stage / MANIFEST_NAME).read_text().splitlines()
    for line in manifest:
        digest, name = line.split("  ", 1)
        if sha256_file(stage / name) != digest:
            raise RuntimeError(f"backup {snapshot_id}: {name} does not match its manifest")
    return stage


def replay(cfg: Config, chain: list[dict], start_gtid: str, until: dt.datetime | None, client: list[str]) -> int:
    """Apply the binlogs after start_gtid (exclusive) through the client; the
    number of transactions applied."""
    applied = 0
    gtid = start_gtid
    for part in chain:
        cmd = ["mariadb-binlog", f"--database={cfg.database}"]
        # The backup's own source starts at the dump's file offset: a GTID
        # start would fail ("never reached expected GTID state") when no
        # transaction follows the backup yet. A later source (after a
        # failover) starts after the last GTID applied so far.
        if part.get("start_position") is not None:
            cmd.append(f"--start-position={part['start_position']}")
        elif gtid:
            cmd.append(f"--start-position={gtid}")
        if until is not None:
            cmd.append(f"--stop-datetime={fmt(until)}")
        if part.get("stop_position") is not None:
            cmd.append(f"--stop-position={part['stop_position']}")
        cmd += part["files"]
        reader = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TZ": "UTC"})
        writer = subprocess.Popen(client, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        domain = server = None
        cut_short = False
        try:
            for line in reader.stdout:
                match = SESSION_GTID_LINE.match(line)
                if match:
                    key, value = match[1].decode(), match[2].decode()
                    if key == "gtid_domain_id":
                        domain = value
                    elif key == "server_id":
                        server = value
                    else:
                        applied += 1
                        gtid = merge_gtid(gtid, f"{domain or 0}-{server or 0}-{value}")
                    continue
                writer.stdin.write(line)
        except BrokenPipeError:
            cut_short = True  # the client stopped at an error: its message is read below
        reader.stdout.close()  # a reader cut short exits (EPIPE) instead of blocking
        with contextlib.suppress(BrokenPipeError):
            writer.stdin.close()
        read_err, write_err = reader.stderr.read(), writer.stderr.read()
        if reader.wait() != 0 and not cut_short:
            raise RuntimeError(f"mariadb-binlog: {read_err.decode(errors='replace').strip()[-2000:]}")
        if writer.wait() != 0:
            raise RuntimeError(f"replaying the binlogs of {part['source']}: {write_err.decode(errors='replace').strip()[-2000:]}")
    return applied


def merge_gtid(state: str, gtid: str) -> str:
    """A GTID list with `gtid` as its domain's newest."""
    domains = dict(item.split("-", 1) for item in state.split(",") if item) if state else {}
    domain, rest = gtid.split("-", 1)
    domains[domain] = rest
    return ",".join(f"{d}-{r}" for d, r in sorted(domains.items(), key=lambda kv: int(kv[0])))


def restore_into(cfg: Config, the_plan: dict, client: list[str]) -> dict:
    """Drop the app database on the target, load the backup, replay the binlogs."""
    work = Path(tempfile.mkdtemp(prefix="restore-", dir=cfg.state))
    try:
        stage = fetch_backup(cfg, the_plan["snapshot"], work)
        with (stage / DUMP_NAME).open("rb") as dump:
            prologue = f"DROP DATABASE IF EXISTS `{cfg.database}`;\n".encode()
            loader = subprocess.Popen(client, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # A client that stops at an error closes the pipe: its message,
            # read below, says why ("Broken pipe" would not).
            with contextlib.suppress(BrokenPipeError):
                loader.stdin.write(prologue)
                shutil.copyfileobj(dump, loader.stdin, 1 << 20)
            with contextlib.suppress(BrokenPipeError):
                loader.stdin.close()
            err = loader.stderr.read()
            if loader.wait() != 0:
                raise RuntimeError(f"loading backup {the_plan['snapshot']}: {err.decode(errors='replace').strip()[-2000:]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    until = parse_time(the_plan["until"]) if the_plan.get("until") else None
    applied = replay(cfg, the_plan["binlogs"], the_plan["gtid"], until, client) if the_plan["binlogs"] else 0
    return {"snapshot": the_plan["snapshot"], "transactions_replayed": applied}


def cmd_restore(cfg: Config, args) -> dict:
    until = parse_time(args.until) if args.until else None
    the_plan = plan(cfg, args.snapshot, until)
    client = ["mariadb", f"--defaults-extra-file={args.target_defaults}", "--binary-mode"]
    result = restore_into(cfg, the_plan, client)
    position = sql(args.target_defaults, "SELECT @@gtid_binlog_pos")
    result["target_gtid_binlog_pos"] = position[0][0] if position else ""
    result["until"] = the_plan["until"]
    return result


# --- the drill -------------------------------------------------------------------


def table_checksums(defaults_file: str, database: str, consistent: bool = False) -> tuple[dict, dict | None]:
    """Row count and an order-independent checksum of every table.

    CHECKSUM TABLE reads the newest rows, outside any snapshot, so it cannot be
    pinned to a binlog position on a live primary. This computes the same kind
    of sum with a SELECT, inside one consistent snapshot whose binlog position
    MariaDB reports (Binlog_snapshot_file/position), on both servers alike.
    """
    tables = sql(defaults_file, (
        "SELECT table_name, GROUP_CONCAT(CONCAT('COALESCE(HEX(`', column_name, '`),''\\\\N'')')"
        " ORDER BY ordinal_position SEPARATOR ',') FROM information_schema.columns"
        f" WHERE table_schema = '{database}' GROUP BY table_name ORDER BY table_name"
    ), extra=["--init-command=SET SESSION group_concat_max_len = 1048576"])
    script = ["SET SESSION time_zone = '+00:00';"]
    if consistent:
        script.append("START TRANSACTION WITH CONSISTENT SNAPSHOT;")
        script.append("SHOW STATUS LIKE 'binlog_snapshot_%';")
    for name, columns in tables:
        script.append(
            f"SELECT '{name}', COUNT(*), COALESCE(SUM(CAST(CONV(LEFT(SHA2(CONCAT_WS('|', {columns}), 256), 15), 16, 10)"
            f" AS UNSIGNED)), 0) FROM `{database}`.`{name}`;"
        )
    if consistent:
        script.append("COMMIT;")
    rows = sql(defaults_file, "\n".join(script))
    position, sums = None, {}
    status = {r[0].lower(): r[1] for r in rows if len(r) == 2}
    if consistent:
        position = {"file": status["binlog_snapshot_file"], "pos": int(status["binlog_snapshot_position"])}
    for row in rows:
        if len(row) == 3:
            sums[row[0]] = {"rows": int(row[1]), "checksum": row[2]}
    return sums, position


def scratch_server(cfg: Config, work: Path) -> tuple[str, callable]:
    """A throwaway MariaDB in `work`, on a socket only, as a child of this
    process (so inside the drill unit's cgroup and its memory limit); its
    client defaults file and a function that stops it and removes `work`."""
    data = work / "data"
    socket_path = work / "mysqld.sock"
    data.mkdir(mode=0o700)
    for path in (work, data):
        shutil.chown(path, "mysql", "mysql")
    server = None

    def remove():
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(work, ignore_errors=True)

    try:
        run(["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={data}",
             "--auth-root-authentication-method=socket", "--skip-test-db"])
        server = subprocess.Popen(
            ["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={data}", f"--socket={socket_path}",
             "--skip-networking", "--skip-log-bin", f"--pid-file={work}/mysqld.pid",
             f"--innodb-buffer-pool-size={cfg.drill.get('buffer_pool', '128M')}",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci"],
            stdout=subprocess.DEVNULL, stderr=(work / "mysqld.err").open("wb"),
        )
        defaults = work / "client.cnf"
        defaults.write_text(f"[client]\nuser=root\nsocket={socket_path}\n")
        for _ in range(240):
            if server.poll() is not None:
                raise RuntimeError("the scratch MariaDB exited: " + (work / "mysqld.err").read_text()[-1500:])
            if run(["mariadb-admin", f"--defaults-extra-file={defaults}", "ping"], check=False).returncode == 0:
                return str(defaults), remove
            time.sleep(0.5)
        raise RuntimeError("the scratch MariaDB did not answer within 120 s")
    except BaseException:
        remove()
        raise


def cmd_drill(cfg: Config, args) -> dict:
    metrics = Metrics(cfg, "drill")
    state = load_state(cfg, "drill")
    state["last_run"] = time.time()
    try:
        result = drill(cfg, args)
        ok = not result["differences"]
    except Exception as exc:
        result, ok = {"error": str(exc)}, False
    state["last_result"] = int(ok)
    if ok:
        state["last_success"] = time.time()
    save_state(cfg, "drill", {**state, "details": result})
    metrics.add("gatehouse_restore_drill_last_run_timestamp_seconds", state["last_run"], "When the restore drill last ran")
    metrics.add("gatehouse_restore_drill_last_success", int(ok), "1 when the last restore drill matched the primary")
    metrics.add("gatehouse_restore_drill_last_success_timestamp_seconds", state.get("last_success", 0),
                "When a restore drill last matched the primary (unix time)")
    metrics.write()
    if not ok:
        raise RuntimeError("restore drill FAILED: " + json.dumps(result, sort_keys=True))
    return result


def drill(cfg: Config, args) -> dict:
    started = time.monotonic()
    # The primary's tables, in a snapshot whose binlog position the scratch
    # copy is then brought to exactly.
    primary_sums, position = table_checksums(cfg.dump_defaults, cfg.database, consistent=True)
    deadline = time.monotonic() + args.wait
    while True:
        directory = source_dir(cfg, cfg.primary["name"])
        local = directory / position["file"]
        if local.is_file() and local.stat().st_size >= position["pos"]:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the binlog stream did not reach {position['file']}:{position['pos']} in {args.wait} s")
        time.sleep(0.5)
    the_plan = plan(cfg, None, None, stop_at=position)
    work = Path(tempfile.mkdtemp(prefix="drill-", dir=cfg.drill.get("dir", cfg.state)))
    defaults, remove = scratch_server(cfg, work)
    try:
        client = ["mariadb", f"--defaults-extra-file={defaults}", "--binary-mode"]
        restored = restore_into(cfg, the_plan, client)
        if args.before_compare:
            sql(defaults, args.before_compare, database=cfg.database)
        scratch_sums, _ = table_checksums(defaults, cfg.database)
    finally:
        remove()
    differences = []
    for table in sorted(set(primary_sums) | set(scratch_sums)):
        if primary_sums.get(table) != scratch_sums.get(table):
            differences.append({"table": table, "primary": primary_sums.get(table), "restored": scratch_sums.get(table)})
    return {
        "snapshot": the_plan["snapshot"], "backup_taken": the_plan["consistent_at"],
        "position": f"{position['file']}:{position['pos']}", "tables": len(primary_sums),
        "rows": sum(t["rows"] for t in primary_sums.values()),
        "transactions_replayed": restored["transactions_replayed"],
        "seconds": round(time.monotonic() - started, 1), "differences": differences,
    }


def cmd_snapshots(cfg: Config, args) -> dict:
    return {"snapshots": snapshots(cfg)}


# --- entry point ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gatehouse-backup", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("full", help="take a full backup now").set_defaults(func=cmd_full)
    sub.add_parser("stream", help="follow the primary's binary log (runs until stopped)").set_defaults(func=cmd_stream)
    sub.add_parser("prune", help="apply the retention tiers").set_defaults(func=cmd_prune)
    sub.add_parser("check", help="check the repository").set_defaults(func=cmd_check)
    sub.add_parser("metrics", help="write the stream's lag for node_exporter").set_defaults(func=cmd_metrics)
    sub.add_parser("snapshots", help="list the full backups").set_defaults(func=cmd_snapshots)
    for name, func, text in (("plan", cmd_plan, "what a restore would use"), ("restore", cmd_restore, "restore")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--snapshot", default="latest", help="a backup's id (default: the newest before --until)")
        p.add_argument("--until", help="replay the binlogs up to this UTC time, YYYY-MM-DD HH:MM:SS")
        p.set_defaults(func=func)
        if name == "restore":
            p.add_argument("--target-defaults", required=True, help="client options file of the server to restore into")
    p = sub.add_parser("drill", help="restore into a scratch server and compare with the primary")
    p.add_argument("--wait", type=int, default=120, help="seconds to wait for the stream to reach the primary")
    p.add_argument("--before-compare", default="", help="SQL run on the restored copy before comparing "
                   "(to prove the drill can fail)")
    p.set_defaults(func=cmd_drill)
    return parser


# Commands that write the staging area or the repository, or need restic's
# exclusive lock: one at a time on a host. The hourly timer's backup and one
# an operator (or the maintenance play) starts in the same second would
# otherwise clear each other's staging copy, and a prune would find the
# repository locked.
EXCLUSIVE_COMMANDS = {"full", "prune", "check", "drill", "restore"}


@contextlib.contextmanager
def one_job_at_a_time(cfg: Config, command: str):
    """Hold the host's job lock (waiting for a running job to end) while
    `command` runs; the kernel lets go of it when the process ends, however."""
    if command not in EXCLUSIVE_COMMANDS:
        yield
        return
    cfg.state.mkdir(parents=True, exist_ok=True)
    with open(cfg.state / "job.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"gatehouse-backup {command}: another job is running; waiting for it to end", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = Config(CONFIG)
        with one_job_at_a_time(cfg, args.command):
            result = args.func(cfg, args)
    except Refused as exc:
        print(f"gatehouse-backup {args.command}: refused: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError, KeyError) as exc:
        print(f"gatehouse-backup {args.command}: failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
