"""`gatehouse backup`: a consistent copy of a SQLite site's live database, taken while it serves.

The copy is made with SQLite's online backup API, never by copying the file: the file alone
misses what is still in the -wal beside it, and a copy taken mid-write can be torn. It goes
into a temporary file in the output's directory (mode 0600 from its creation: it holds the
password digests and the client secrets' digests), is checked with `PRAGMA integrity_check`,
fsynced, and only then renamed to the output, so the output is either a whole, checked copy
or untouched. The copy is a single file in rollback-journal mode (no -wal beside it); the
server puts it back in WAL mode when it opens it.

A MariaDB/MySQL site is backed up by the Ansible `backup` role, not here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from gatehouse.errors import GatehouseError

# Pages copied per step, and the pause after each step, so a busy server keeps writing.
PAGES_PER_STEP = 256
STEP_SLEEP = 0.005
# Each write by another connection restarts a paged backup from its first page. After this
# many restarts the rest is copied in one step: one read transaction, which in WAL mode (the
# server's) does not hold writers up.
MAX_RESTARTS = 5
# How long the backup waits for a lock (the server's own busy_timeout is 10 s).
BUSY_TIMEOUT = 10.0

MYSQL_REFUSAL = (
    "backup is for SQLite sites; a MariaDB/MySQL site is backed up by the Ansible backup role "
    "(ansible-playbook playbooks/backup.yml)"
)


class BackupError(GatehouseError):
    """The backup was refused or failed; nothing was written to the output."""


@dataclass(frozen=True)
class Backup:
    path: str  # absolute
    size: int  # bytes
    schema: str | None  # the last migration applied in the copy; None without schema_migrations


class _Restarting(Exception):
    pass


def database_path(url: str) -> str:
    """The file a sqlite DATABASE_URL names, read as store.database.open_database reads it."""
    path = urlsplit(url).path
    if url.startswith("sqlite:////"):
        path = "/" + path.lstrip("/")
    elif url.startswith("sqlite:///"):
        path = path[1:]
    return path


def backup(database_url: str, output: str, force: bool = False) -> Backup:
    """Copy the SQLite database DATABASE_URL names to OUTPUT; raise BackupError, writing nothing, when refused."""
    scheme = database_url.split(":", 1)[0]
    if scheme != "sqlite":
        raise BackupError(MYSQL_REFUSAL)
    source = database_path(database_url)
    if source in ("", ":memory:"):
        raise BackupError("DATABASE_URL names an in-memory database: there is nothing on disk to back up")
    source = os.path.abspath(source)
    if not os.path.isfile(source):
        raise BackupError(f"no database at {source} (DATABASE_URL)")
    target = os.path.abspath(output)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise BackupError(f"the output's directory {directory} does not exist")
    if os.path.realpath(target) in {os.path.realpath(source + suffix) for suffix in ("", "-wal", "-shm", "-journal")}:
        raise BackupError(f"{target} is the live database (or one of its files); choose another output")
    if os.path.isdir(target):
        raise BackupError(f"{target} is a directory")
    if os.path.lexists(target) and not force:
        raise BackupError(f"{target} exists; --force replaces it")

    try:
        # mkstemp: O_CREAT|O_EXCL, mode 0600, so the copy is never readable by others, not even briefly.
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    except OSError as error:
        raise BackupError(f"cannot write in {directory}: {error.strerror}") from None
    os.close(handle)
    done = False
    try:
        _copy(source, temporary)
        schema = _check(temporary)
        _fsync(temporary)
        _publish(temporary, target, force)
        done = True
        _fsync(directory)
        return Backup(target, os.stat(target).st_size, schema)
    except sqlite3.Error as error:
        raise BackupError(f"backup of {source} failed: {error}") from None
    except OSError as error:
        raise BackupError(f"backup to {target} failed: {error.strerror or error}") from None
    finally:
        if not done:
            for leftover in (temporary, temporary + "-journal", temporary + "-wal", temporary + "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)


def _copy(source: str, temporary: str) -> None:
    # mode=rw: never create a database where DATABASE_URL points at nothing.
    live = sqlite3.connect(f"file:{quote(source)}?mode=rw", uri=True, timeout=BUSY_TIMEOUT)
    copy = sqlite3.connect(temporary, timeout=BUSY_TIMEOUT)
    try:
        seen = {"remaining": None, "restarts": 0}

        def step(status, remaining, total):
            if seen["remaining"] is not None and remaining > seen["remaining"]:
                seen["restarts"] += 1
                if seen["restarts"] > MAX_RESTARTS:
                    raise _Restarting
            seen["remaining"] = remaining
            time.sleep(STEP_SLEEP)

        try:
            live.backup(copy, pages=PAGES_PER_STEP, progress=step)
        except _Restarting:
            live.backup(copy, pages=-1)
        # The copy carries the live file's WAL flag; one file, without a -wal beside it, is the backup.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        live.close()


def _check(temporary: str) -> str | None:
    """PRAGMA integrity_check on the copy as it is on disk; return its last migration."""
    copy = sqlite3.connect(f"file:{quote(temporary)}?mode=ro", uri=True)
    try:
        answer = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        if answer != ["ok"]:
            raise BackupError(f"the copy fails PRAGMA integrity_check: {'; '.join(answer[:3])}; nothing written")
        has_migrations = copy.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if not has_migrations:
            return None
        row = copy.execute("SELECT name FROM schema_migrations ORDER BY name DESC LIMIT 1").fetchone()
        return row[0] if row else None
    finally:
        copy.close()


def _fsync(path: str) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _publish(temporary: str, target: str, force: bool) -> None:
    """Rename the copy to the output in one step. Without --force a hard link, which fails if
    the output appeared meanwhile, so an output is never replaced unless asked."""
    if force:
        os.replace(temporary, target)
        return
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise BackupError(f"{target} exists; --force replaces it") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # A filesystem without hard links: check, then rename (a narrow race, as `mv -n` has).
        if os.path.lexists(target):
            raise BackupError(f"{target} exists; --force replaces it") from None
        os.rename(temporary, target)
        return
    os.unlink(temporary)
